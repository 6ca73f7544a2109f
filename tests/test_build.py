"""build.py: vmlinux.h + clang (and zig) against this host's BTF, cache, per-case failures."""

from __future__ import annotations

import importlib.util
import shutil
import struct
from pathlib import Path

import pytest

from kmatrix.agent.compile import compile_argv
from kmatrix.build import Builder
from kmatrix.catalog import load_catalog
from kmatrix.errors import BuildError

ROOT = Path(__file__).resolve().parent.parent
BTF = Path("/sys/kernel/btf/vmlinux")
EM_BPF = 247

pytestmark = pytest.mark.skipif(
    not BTF.exists() or not shutil.which("clang"), reason="needs kernel BTF and clang")


def _sections(obj: bytes) -> dict[str, bytes]:
    assert obj[:4] == b"\x7fELF" and obj[4] == 2  # ELF64
    shoff, = struct.unpack_from("<Q", obj, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", obj, 0x3A)
    heads = [struct.unpack_from("<IIQQQQIIQQ", obj, shoff + i * shentsize) for i in range(shnum)]
    strtab = heads[shstrndx]
    names = obj[strtab[4]:strtab[4] + strtab[5]]
    out = {}
    for h in heads:
        name = names[h[0]:names.index(b"\0", h[0])].decode()
        out[name] = obj[h[4]:h[4] + h[5]]
    return out


def _machine(obj: Path) -> int:
    return struct.unpack_from("<H", obj.read_bytes(), 18)[0]


def _tmp_case(tmp: Path, family: str, name: str, src: str, case_extra: str = "") -> None:
    d = tmp / "bpf_cases" / family
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{name}.bpf.c").write_text(src)
    (d / f"{name}.py").write_text(
        'CASE = {"description": "t"' + case_extra + '}\n\n\ndef run(t):\n    t.load()\n')


PROG = """#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
__u64 res[2];
SEC("syscall")
int prog(void *ctx) { __s32 x = (__s32)res[1]; res[0] = (__s64)x + 3; return 0; }
char LICENSE[] SEC("license") = "GPL";
"""


def test_builds_every_real_case_and_caches(tmp_path: Path) -> None:
    cases = load_catalog(ROOT / "bpf_cases")
    b = Builder(tmp_path / "cache")
    out = b.build_host(cases, BTF, "x86_64")
    assert set(out) == {c.id for c in cases if c.build}
    for cid, o in out.items():
        assert o.ok, f"{cid}: {o.output}"
        assert _machine(o.obj_path) == EM_BPF and not o.cached
    headers = list((tmp_path / "cache" / "vmlinux").glob("*/vmlinux.h"))
    assert len(headers) == 1 and headers[0].stat().st_size > 100000
    again = Builder(tmp_path / "cache").build_host(cases, BTF, "x86_64")
    assert all(o.cached and o.obj_path == out[k].obj_path for k, o in again.items())


def test_compile_failure_is_per_case(tmp_path: Path) -> None:
    _tmp_case(tmp_path, "isa", "good", PROG)
    _tmp_case(tmp_path, "isa", "bad", PROG.replace("return 0; }", "return nope; }"))
    cases = load_catalog(tmp_path / "bpf_cases")
    out = Builder(tmp_path / "cache").build_host(cases, BTF, "x86_64")
    assert out["isa/good"].ok
    bad = out["isa/bad"]
    assert not bad.ok and bad.obj_path is None
    assert "use of undeclared identifier 'nope'" in bad.output
    assert bad.output.startswith("$ clang ") and "bad.bpf.c" in bad.output


def test_source_change_rebuilds(tmp_path: Path) -> None:
    _tmp_case(tmp_path, "isa", "c", PROG)
    b = Builder(tmp_path / "cache")
    first = b.build_host(load_catalog(tmp_path / "bpf_cases"), BTF, "x86_64")["isa/c"]
    _tmp_case(tmp_path, "isa", "c", PROG.replace("+ 3", "+ 5"))
    second = b.build_host(load_catalog(tmp_path / "bpf_cases"), BTF, "x86_64")["isa/c"]
    assert first.ok and second.ok and not second.cached
    assert first.obj_path != second.obj_path
    # Different arch macro, different object.
    third = b.build_host(load_catalog(tmp_path / "bpf_cases"), BTF, "aarch64")["isa/c"]
    assert third.ok and third.obj_path != second.obj_path


def test_missing_btf_is_a_host_error(tmp_path: Path) -> None:
    _tmp_case(tmp_path, "isa", "c", PROG)
    with pytest.raises(BuildError, match="cannot read BTF"):
        Builder(tmp_path / "cache").build_host(load_catalog(tmp_path / "bpf_cases"),
                                               tmp_path / "none", "x86_64")


def test_compile_argv() -> None:
    argv = compile_argv("clang", "a.bpf.c", "a.o", ["/h"], "aarch64", ["-DX"])
    assert argv[:3] == ["clang", "-target", "bpf"]
    assert "-D__TARGET_ARCH_arm64" in argv and "-DX" in argv and ["-I", "/h"] == argv[6:8]
    z = compile_argv("ziglang", "a.bpf.c", "a.o", [], "riscv64", python="py")
    assert z[:6] == ["py", "-m", "ziglang", "cc", "-target", "bpfel-freestanding-none"]
    assert "-mcpu=v4" in z and "-D__TARGET_ARCH_riscv" in z


@pytest.mark.skipif(importlib.util.find_spec("ziglang") is None, reason="ziglang not installed")
def test_ziglang_emits_cpu_v4(tmp_path: Path) -> None:
    _tmp_case(tmp_path, "isa", "v4", PROG, ', "compiler": "ziglang"')
    _tmp_case(tmp_path, "isa", "v3", PROG)
    out = Builder(tmp_path / "cache").build_host(load_catalog(tmp_path / "bpf_cases"), BTF,
                                                 "x86_64")

    def has_movsx(path: Path) -> bool:
        code = _sections(path.read_bytes())["syscall"]
        for i in range(0, len(code), 8):
            op, _regs, off = struct.unpack_from("<BBh", code, i)
            if op == 0xBF and off in (8, 16, 32):  # MOVSX: ALU64 MOV with a sign-extend width
                return True
        return False

    assert out["isa/v4"].ok, out["isa/v4"].output
    assert _machine(out["isa/v4"].obj_path) == EM_BPF
    assert has_movsx(out["isa/v4"].obj_path)
    assert out["isa/v3"].ok and not has_movsx(out["isa/v3"].obj_path)
