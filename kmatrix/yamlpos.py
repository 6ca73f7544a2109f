"""YAML loading that remembers line numbers, so errors can name FILE:LINE: FIELD.

Mappings load as ``PosDict`` and sequences as ``PosList``; both carry ``.line``
(1-based line of the node) and ``.lines`` (line of each key / item).
"""

from __future__ import annotations

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


class _Loader(yaml.SafeLoader):
    pass


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


def loads(text: str, file: str = "<yaml>") -> Any:
    """Parse YAML text; syntax errors become InputError with the line."""
    try:
        loader = _Loader(text)
    except yaml.YAMLError as e:  # e.g. a control character the reader refuses
        raise InputError(file, None, "yaml", f"unreadable: {_oneline(e)}") from None
    loader._kmatrix_file = file  # type: ignore[attr-defined]
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
    finally:
        loader.dispose()


def _oneline(e: object) -> str:
    return " ".join(str(e).split())


def load(path: Path | str) -> Any:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(str(p), None, "file", "no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(str(p), None, "file", f"cannot read: {e}") from None
    return loads(text, str(p))
