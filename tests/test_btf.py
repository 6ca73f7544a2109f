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
