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


def _construct_mapping(loader: _Loader, node: yaml.MappingNode) -> PosDict:
    d = PosDict()
    d.line = node.start_mark.line + 1
    d.lines = {}
    loader.flatten_mapping(node)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        try:
            hash(key)
        except TypeError:
            raise InputError(
                getattr(loader, "_kmatrix_file", "<yaml>"), key_node.start_mark.line + 1,
                "key", "a mapping key must be a plain value",
            ) from None
        if key in d:
            raise InputError(
                getattr(loader, "_kmatrix_file", "<yaml>"), key_node.start_mark.line + 1,
                str(key), "duplicate key",
            )
        d[key] = loader.construct_object(value_node, deep=True)
        d.lines[key] = key_node.start_mark.line + 1
    return d


def _construct_sequence(loader: _Loader, node: yaml.SequenceNode) -> PosList:
    lst = PosList(loader.construct_object(child, deep=True) for child in node.value)
    lst.line = node.start_mark.line + 1
    lst.lines = [child.start_mark.line + 1 for child in node.value]
    return lst


_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
_Loader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_SEQUENCE_TAG, _construct_sequence)


def loads(text: str, file: str = "<yaml>") -> Any:
    """Parse YAML text; syntax errors become InputError with the line."""
    loader = _Loader(text)
    loader._kmatrix_file = file  # type: ignore[attr-defined]
    try:
        return loader.get_single_data()
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line: Optional[int] = mark.line + 1 if mark else None
        raise InputError(file, line, "yaml", f"syntax error: {e.problem or e}") from None
    except yaml.YAMLError as e:
        raise InputError(file, None, "yaml", f"syntax error: {e}") from None
    except ValueError as e:  # PyYAML raises bare ValueError for e.g. 2025-02-30
        raise InputError(file, None, "yaml", f"bad value: {e}") from None
    finally:
        loader.dispose()


def load(path: Path | str) -> Any:
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(str(p), None, "file", "no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(str(p), None, "file", f"cannot read: {e}") from None
    return loads(text, str(p))
