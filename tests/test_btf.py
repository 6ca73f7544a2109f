"""agent/btf.py: FUNC names from raw BTF, synthetic blobs and the real kernel's."""

from __future__ import annotations

import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from kmatrix.agent import btf

VMLINUX = Path("/sys/kernel/btf/vmlinux")


def _blob(types: list[tuple[str, int, int, int, bytes]], endian: str = "<") -> bytes:
    """types: (name, kind, vlen, size_or_type, extra bytes)."""
    strs = b"\0"
    offs = {}
    body = b""
    for name, kind, vlen, size, extra in types:
        if name and name not in offs:
            offs[name] = len(strs)
            strs += name.encode() + b"\0"
        info = (kind << 24) | vlen
        body += struct.pack(endian + "III", offs.get(name, 0), info, size) + extra
    hdr = struct.pack(endian + "HBBIIIII", 0xEB9F, 1, 0, 24, 0, len(body), len(body), len(strs))
    return hdr + body + strs


def _sample(endian: str = "<") -> bytes:
    p = endian
    return _blob([
        ("int", 1, 0, 4, struct.pack(p + "I", 32)),                        # INT
        ("", 13, 2, 1, struct.pack(p + "IIII", 0, 1, 0, 1)),               # FUNC_PROTO, 2 params
        ("my_func", 12, 0, 2, b""),                                        # FUNC
        ("s", 4, 2, 8, struct.pack(p + "6I", 0, 1, 0, 0, 1, 32)),          # STRUCT, 2 members
        ("e", 6, 1, 4, struct.pack(p + "II", 0, 7)),                       # ENUM
        ("tag", 17, 0, 3, struct.pack(p + "i", -1)),                       # DECL_TAG
        ("", 3, 0, 0, struct.pack(p + "III", 1, 1, 4)),                    # ARRAY
        ("e64", 19, 1, 8, struct.pack(p + "III", 0, 1, 0)),                # ENUM64
        ("other_func", 12, 0, 2, b""),                                     # FUNC
        ("v", 14, 0, 1, struct.pack(p + "I", 1)),                          # VAR
        (".bss", 15, 1, 8, struct.pack(p + "III", 10, 0, 8)),              # DATASEC
    ], endian)


@pytest.mark.parametrize("endian", ["<", ">"])
def test_synthetic_blob(endian: str) -> None:
    assert btf.func_names(_sample(endian)) == {"my_func", "other_func"}


def _walk_ids(data: bytes) -> dict[str, int]:
    """func_ids the slow way, through the generic `_types` walk: the reference."""
    strs = btf._layout(data)[3]
    out: dict[str, int] = {}
    for tid, kind, name_off, _ref, _off in btf._types(data):
        if kind == btf.KIND_FUNC:
            out.setdefault(btf._cstr(strs, name_off), tid)
    return out


@pytest.mark.parametrize("endian", ["<", ">"])
def test_fast_func_ids_match_the_generic_walk(endian: str) -> None:
    blob = _sample(endian)
    assert btf.func_ids(blob) == _walk_ids(blob) == {"my_func": 3, "other_func": 9}
    # A duplicate name keeps its first id; a non-ASCII name decodes as before.
    dup = _blob([("f", 12, 0, 0, b""), ("\u00e9t\u00e9", 12, 1, 0, b""), ("f", 12, 0, 0, b"")],
                endian)
    assert btf.func_ids(dup) == _walk_ids(dup) == {"f": 1, "\u00e9t\u00e9": 2}
    assert list(btf.func_ids(dup)) == ["f", "\u00e9t\u00e9"]


def test_record_running_past_the_types_ends_the_walk() -> None:
    # A STRUCT claiming 1000 members: its members would swallow the FUNC after it.
    blob = _blob([("s", 4, 1000, 8, b""), ("f", 12, 0, 0, b"")])
    assert btf.func_ids(blob) == _walk_ids(blob) == {}


@pytest.mark.skipif(not VMLINUX.exists(), reason="no kernel BTF")
def test_real_vmlinux_fast_walk_matches_generic_walk() -> None:
    data = VMLINUX.read_bytes()
    fast = btf.func_ids(data)
    assert list(fast.items()) == list(_walk_ids(data).items())


def test_bad_magic_and_unknown_kind() -> None:
    with pytest.raises(btf.BTFError, match="magic"):
        btf.func_names(b"\x00" * 64)
    bad = _blob([("x", 31, 0, 0, b"")])
    with pytest.raises(btf.BTFError, match="unknown BTF kind 31"):
        btf.func_names(bad)
    with pytest.raises(btf.BTFError, match="short"):
        btf.func_names(b"\x9f\xeb")


def test_truncated_header_points_past_end() -> None:
    blob = _sample()
    with pytest.raises(btf.BTFError, match="past the end"):
        btf.func_names(blob[:-10])


@pytest.mark.skipif(not VMLINUX.exists(), reason="no kernel BTF")
def test_real_vmlinux_matches_bpftool() -> None:
    names = btf.vmlinux_func_names()
    assert "bpf_fentry_test1" in names or len(names) > 1000
    bpftool = shutil.which("bpftool") or shutil.which("bpftool", path="/usr/sbin:/sbin")
    if not bpftool:
        pytest.skip("no bpftool to cross-check")
    out = subprocess.run([bpftool, "btf", "dump", "file", str(VMLINUX)], capture_output=True,
                         text=True, check=True, timeout=300).stdout
    want = set(re.findall(r"^\[\d+\] FUNC '([^']*)'", out, re.M))
    assert names == want


@pytest.mark.parametrize("endian", ["<", ">"])
def test_parse_keeps_what_globals_need(endian: str) -> None:
    p = endian
    blob = _blob([
        ("int", 1, 0, 4, struct.pack(p + "I", (1 << 24) | 32)),            # 1 INT signed
        ("u8", 1, 0, 1, struct.pack(p + "I", 8)),                          # 2 INT unsigned
        ("s", 4 | (1 << 7), 2, 8,                                          # 3 STRUCT kflag
         struct.pack(p + "6I", 0, 1, 0, 0, 2, (3 << 24) | 32)),
        ("", 3, 0, 0, struct.pack(p + "III", 2, 1, 5)),                    # 4 ARRAY u8[5]
        ("t", 8, 0, 1, b""),                                               # 5 TYPEDEF -> int
        ("", 10, 0, 5, b""),                                               # 6 CONST -> t
        ("v", 14, 0, 6, struct.pack(p + "I", 1)),                          # 7 VAR
        ("e", 6 | (1 << 7), 1, 4, struct.pack(p + "Ii", 0, -3)),           # 8 ENUM signed
        ("", 13, 0, 1, b""),                                               # 9 FUNC_PROTO
        ("prog", 12, 0, 9, b""),                                           # 10 FUNC
        ("kmx:failure", 17, 0, 10, struct.pack(p + "i", -1)),              # 11 DECL_TAG
        ("kmx:msg:x", 17, 0, 10, struct.pack(p + "i", -1)),                # 12 DECL_TAG
        ("param", 17, 0, 10, struct.pack(p + "i", 0)),                     # 13 on a param
        (".bss", 15, 1, 0, struct.pack(p + "III", 7, 0, 4)),               # 14 DATASEC
    ], endian)
    types = btf.parse(blob)  # kind | 0x80 above lands in bit 31 of info: kflag
    assert types[0] is None and len(types) == 15
    assert types[1].extra[0] == btf.INT_SIGNED and types[2].extra == (0, 0, 8)
    assert types[3].kflag and types[3].items == [("", 1, 0, 0), ("", 2, 32, 3)]
    assert types[4].extra == (2, 1, 5) and types[7].extra == 1
    assert btf.resolve(types, 6) is types[1] and btf.resolve(types, 0) is None
    assert types[8].items == [("", -3)]
    assert types[14].items == [(7, 0, 4)]
    assert btf.decl_tags(types) == {"prog": ["kmx:failure", "kmx:msg:x"]}

