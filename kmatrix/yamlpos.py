"""YAML loading that remembers line numbers, so errors can name FILE:LINE: FIELD.

Mappings load as ``PosDict`` and sequences as ``PosList``; both carry ``.line``
(1-based line of the node) and ``.lines`` (line of each key / item).

Every YAML input (hosts.yaml, suites, health rules) is hostile until proven
otherwise, so loading is bounded (docs/reliability.md, "Bounded input"):

- ``MAX_BYTES``: a file larger than 1 MiB is refused after reading at most
  MAX_BYTES + 1 bytes, and only regular files are read (``/dev/zero``, a FIFO or a
  directory is refused before it is opened);
- ``MAX_DEPTH``: collections nested more than 64 deep are refused while composing,
  before the recursive constructors (and later validators) could hit RecursionError;
- ``MAX_ALIASES`` / ``MAX_ALIAS_EXPANSION``: an alias re-uses a whole subtree, so a
  few hundred bytes of anchors can stand for billions of nodes ("billion laughs").
  Alias uses are counted, and so is what they pull in (nodes plus scalar
  characters), while composing, before anything is expanded.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any, Optional

import yaml

from kmatrix.errors import InputError


class PosDict(dict):
    line: int = 0
    lines: dict[Any, int]

    def line_of(self, key: Any) -> int:
        return getattr(self, "lines", {}).get(key, self.line)


class PosList(list):
    line: int = 0
    lines: list[int]

    def line_of(self, index: int) -> int:
        ls = getattr(self, "lines", [])
        return ls[index] if 0 <= index < len(ls) else self.line


MAX_BYTES = 1 << 20  # 1 MiB: the biggest real inventory or suite is a few KiB
MAX_DEPTH = 64  # real files nest < 8 levels; Python's recursion limit is ~1000 frames
MAX_ALIASES = 10_000  # alias uses (`*name`, `<<: *name`) per document
MAX_ALIAS_EXPANSION = 1_000_000  # nodes + scalar characters pulled in by aliases


class _Loader(yaml.SafeLoader):
    """SafeLoader whose composer refuses deep nesting and alias bombs while it composes."""

    _kmatrix_file = "<yaml>"

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0
        self._alias_uses = 0
        self._alias_expansion = 0

    def _refuse(self, mark: Optional[yaml.Mark], message: str) -> InputError:
        return InputError(self._kmatrix_file, mark.line + 1 if mark else None, "yaml", message)

    def compose_node(self, parent: Optional[yaml.Node], index: Any) -> yaml.Node:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            target = self.anchors.get(event.anchor)
            if target is not None:  # an undefined alias is left to PyYAML's own error
                weight = _weight(target)
                if weight is None:
                    # It points at a node still open above it: a cycle that `<<` merges
                    # and the validators would follow forever.
                    raise self._refuse(event.start_mark,
                                       f"alias *{str(event.anchor)[:40]} refers to a node "
                                       "that contains it (recursive data is not allowed)")
                self._alias_uses += 1
                self._alias_expansion += weight
                if self._alias_uses > MAX_ALIASES:
                    raise self._refuse(event.start_mark,
                                       f"more than {MAX_ALIASES} alias uses (limit)")
                if self._alias_expansion > MAX_ALIAS_EXPANSION:
                    raise self._refuse(event.start_mark,
                                       f"aliases expand to more than {MAX_ALIAS_EXPANSION:,} "
                                       "nodes and characters (limit; an alias bomb?)")
            return super().compose_node(parent, index)
        self._depth += 1
        if self._depth > MAX_DEPTH:
            raise self._refuse(self.peek_event().start_mark,
                               f"nested more than {MAX_DEPTH} levels deep (limit)")
        try:
            node = super().compose_node(parent, index)
        finally:
            self._depth -= 1
        if isinstance(node, yaml.ScalarNode):
            weight = 1 + len(node.value)
        elif isinstance(node, yaml.SequenceNode):
            weight = 1 + sum(_weight(child) or 1 for child in node.value)
        else:
            weight = 1 + sum((_weight(k) or 1) + (_weight(v) or 1) for k, v in node.value)
        node._kmatrix_weight = weight  # type: ignore[attr-defined]
        return node


def _weight(node: yaml.Node) -> Optional[int]:
    """1 per node + the length of each scalar, aliased subtrees counted in full;
    None for a node still being composed (set when compose_node finishes it)."""
    return getattr(node, "_kmatrix_weight", None)


# Dates stay strings: the fields that want a date parse them with their own line
# numbers, and PyYAML would raise a bare ValueError for e.g. 2025-02-30.
_Loader.yaml_implicit_resolvers = {
    k: [(tag, rx) for tag, rx in v if tag != "tag:yaml.org,2002:timestamp"]
    for k, v in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> PosDict:
    d = PosDict()
    d.line = node.start_mark.line + 1
    d.lines = {}
    # Keys written in this mapping itself; keys pulled in by a `<<` merge may be
    # overridden by them, which YAML allows and is not a duplicate.
    own = [k for k, _ in node.value if k.tag != "tag:yaml.org,2002:merge"]
    loader.flatten_mapping(node)
    merged_count = len(node.value) - len(own)
    own_seen: set[Any] = set()
    for index, (key_node, value_node) in enumerate(node.value):
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            raise InputError(
                getattr(loader, "_kmatrix_file", "<yaml>"), key_node.start_mark.line + 1,
                "key", "a mapping key must be a plain value",
            ) from None
        if index >= merged_count:
            if key in own_seen:
                raise InputError(
                    getattr(loader, "_kmatrix_file", "<yaml>"), key_node.start_mark.line + 1,
                    _field(key), "duplicate key",
                )
            own_seen.add(key)
        d[key] = loader.construct_object(value_node, deep=True)
        d.lines[key] = key_node.start_mark.line + 1
    return d


def _field(key: Any) -> str:
    text = str(key)
    return text if text.isprintable() and len(text) < 80 else repr(text)[:80]


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> PosList:
    lst = PosList(loader.construct_object(child, deep=True) for child in node.value)
    lst.line = node.start_mark.line + 1
    lst.lines = [child.start_mark.line + 1 for child in node.value]
    return lst


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def loads(text: str, file: str = "<yaml>", limit: int = MAX_BYTES) -> Any:
    """Parse YAML text; syntax errors and exceeded limits become InputError with the line."""
    # Callers that read the file themselves (inventory.load_hosts) still get the size limit.
    if len(text) > limit:
        raise _too_big(file, limit)
    try:
        loader = _Loader(text)
    except yaml.reader.ReaderError as e:  # a control character: the reader checks it all
        line = text.count("\n", 0, max(0, e.position)) + 1
        raise InputError(file, line, "yaml", f"unacceptable character #x{e.character:04x} "
                         "(control characters are not allowed)") from None
    except yaml.YAMLError as e:
        raise InputError(file, None, "yaml", f"unreadable: {_oneline(e)}") from None
    loader._kmatrix_file = file
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line: Optional[int] = mark.line + 1 if mark else None
        raise InputError(file, line, "yaml", f"syntax error: {_oneline(e.problem or e)}") from None
    except yaml.YAMLError as e:
        raise InputError(file, None, "yaml", f"syntax error: {_oneline(e)}") from None
    except ValueError as e:  # defensive: a constructor refusing a value
        raise InputError(file, None, "yaml", f"bad value: {_oneline(e)}") from None
    except RecursionError:  # defensive: MAX_DEPTH should refuse first
        raise InputError(file, None, "yaml", f"nested more than {MAX_DEPTH} levels deep") from None
    finally:
        loader.dispose()


def _oneline(e: object) -> str:
    return " ".join(str(e).split())


def _too_big(file: str, limit: int) -> InputError:
    return InputError(file, None, "file", f"larger than {_size(limit)} (limit for YAML input)")


def _size(n: int) -> str:
    return f"{n >> 20} MiB" if n >= 1 << 20 and n % (1 << 20) == 0 else f"{n} bytes"


_KINDS = ((stat.S_ISDIR, "a directory"), (stat.S_ISCHR, "a character device"),
          (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO"),
          (stat.S_ISSOCK, "a socket"))


def check_file(path: Path | str, limit: int = MAX_BYTES) -> None:
    """Refuse, without opening it, a path that is missing, not a regular file, or
    bigger than ``limit``: for callers that then read the file themselves."""
    p = Path(path)
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise InputError(str(p), None, "file", "no such file") from None
    except OSError as e:
        raise InputError(str(p), None, "file", f"cannot read: {e.strerror or e}") from None
    _check_stat(str(p), st, limit)


def _check_stat(file: str, st: os.stat_result, limit: int) -> None:
    if not stat.S_ISREG(st.st_mode):
        # /dev/zero never ends and a FIFO may never open: only plain files are read.
        kind = next((name for test, name in _KINDS if test(st.st_mode)), "not a plain file")
        raise InputError(file, None, "file", f"not a regular file ({kind}); give a YAML file")
    if st.st_size > limit:
        raise _too_big(file, limit)


def read_text(path: Path | str, limit: int = MAX_BYTES) -> str:
    """The file's text, read with at most ``limit + 1`` bytes in memory."""
    p = Path(path)
    check_file(p, limit)  # before open(): opening a FIFO would block
    try:
        with open(p, "rb") as f:
            _check_stat(str(p), os.fstat(f.fileno()), limit)  # swapped since check_file?
            data = f.read(limit + 1)  # a file that grew since stat() is still bounded
    except OSError as e:
        raise InputError(str(p), None, "file", f"cannot read: {e.strerror or e}") from None
    if len(data) > limit:
        raise _too_big(str(p), limit)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(str(p), None, "file", f"cannot read: {e}") from None


def load(path: Path | str, limit: int = MAX_BYTES) -> Any:
    p = Path(path)
    return loads(read_text(p, limit), str(p), limit)
