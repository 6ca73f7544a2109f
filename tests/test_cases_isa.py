"""isa cases (cpu v4 via zig's clang, atomics), run for real on this host through the agent;
plus unit tests of the checks' instruction scanners and pre-v4 verifier matching."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from agent_support import BTF, passed, run_family

from kmatrix.agent import case as agent_case

ROOT = Path(__file__).resolve().parent.parent
ISA = ROOT / "bpf_cases" / "isa"

needs_bpf = [
    pytest.mark.bpf,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for BPF"),
    pytest.mark.skipif(not BTF.exists(), reason="needs kernel BTF"),
]


def _check(name: str) -> dict:
    ns: dict = {"__name__": "isa_" + name}
    exec(compile((ISA / f"{name}.py").read_text(), str(ISA / f"{name}.py"), "exec"), ns)
    return ns


def _have_zig() -> bool:
    p = subprocess.run([sys.executable, "-m", "ziglang", "version"], capture_output=True,
                       timeout=120)
    return p.returncode == 0


@pytest.fixture(scope="module")
def ires(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    if not _have_zig():
        pytest.skip("ziglang is not installed (pip install 'kmatrix[cpuv4]')")
    return run_family(tmp_path_factory.mktemp("isa"), "isa")["res"]


class TestIsaHere:
    pytestmark = needs_bpf

    def test_cpuv4_values(self, ires: dict) -> None:
        v = passed(ires["isa/cpuv4"])
        assert v["ldsx s8"] == v["movsx s8"] == -127
        assert v["ldsx s16"] == v["movsx s16"] == -28799
        assert v["bswap64"] == 0x818FAB8967452301 and v["gotol"] == 1
        assert v["sdiv64"] == -58823 and v["smod64"] == -4
        assert all(n > 0 for n in v["v4_insns"].values())

    def test_atomics_values(self, ires: dict) -> None:
        d = passed(ires["isa/atomics"])
        assert d["xchg64 new"] == "0xdeadbeefcafef00d"
        assert d["cmpxchg32 new"] == "0x9abcdef0"
        assert {"xchg/32", "cmpxchg/64", "fetch_xor/32", "add/64"} <= set(d["atomic_insns"])


# 6.1's verifier (resolve_pseudo_ldimm64, check_alu_op, do_check) on v4 encodings.
PRE_V4_LOGS = [
    "BPF_LDX uses reserved fields",
    "BPF_MOV uses reserved fields",
    "BPF_END uses reserved fields",
    "BPF_ALU uses reserved fields",
    "BPF_JA uses reserved fields",
    "unknown opcode d7",
]


@pytest.mark.parametrize("log", PRE_V4_LOGS)
def test_pre_v4_messages_are_recognised(log: str) -> None:
    m = _check("cpuv4")["PRE_V4"].search("0: (18) r6 = 0\n15: (91) ...\n" + log + "\nprocessed")
    assert m and m.group(0) == log


def test_ordinary_refusals_are_not_taken_for_pre_v4() -> None:
    pre = _check("cpuv4")["PRE_V4"]
    for log in ("R1 invalid mem access 'scalar'", "unreachable insn 55",
                "Unreleased reference id=2 alloc_insn=6"):
        assert pre.search(log) is None


def test_expected_values_follow_c_semantics() -> None:
    ns = _check("cpuv4")
    exp = ns["expected"]()
    # C truncates toward zero; Python's // floors: -1000003 / 17 and % -7.
    assert exp["sdiv64"] == ("sdiv64", -58823) and exp["smod64"] == ("smod64", -4)
    assert exp["ldsx8"][1] == -127 and exp["bswap16"][1] == 0x818F


@pytest.mark.skipif(shutil.which("clang") is None, reason="needs clang")
def test_object_insns_sees_atomics(tmp_path: Path) -> None:
    """CaseContext.object_insns on a real clang object; the atomics scanner names every op."""
    hdr = tmp_path / "inc"
    (hdr / "bpf").mkdir(parents=True)
    # Just the types bpf_helper_defs.h needs: no BTF dump for a compile-only test.
    (hdr / "vmlinux.h").write_text("".join(
        f"typedef {c} __{p}{n}; " for n, c in (("8", "char"), ("16", "short"), ("32", "int"),
                                                ("64", "long long"))
        for p, c in (("u", "unsigned " + c), ("s", "signed " + c))) +
        "typedef __u16 __be16; typedef __u32 __be32; typedef __u32 __wsum;\n")
    for h in ("bpf_helpers.h", "bpf_helper_defs.h"):
        (hdr / "bpf" / h).symlink_to(Path("/usr/include/bpf") / h)
    obj = tmp_path / "atomics.o"
    subprocess.run(["clang", "-target", "bpf", "-mcpu=v3", "-O2", "-g", "-I", str(hdr),
                    "-I", str(ROOT / "bpf_cases" / "include"), "-c", str(ISA / "atomics.bpf.c"), "-o", str(obj)], check=True,
                   timeout=300)
    t = agent_case.CaseContext("isa/atomics", {}, {}, str(tmp_path), obj_source=str(obj))
    insns = t.object_insns("raw_tp/sys_enter")
    assert insns and t.object_insns("no/such/section") is None
    seen = _check("atomics")["atomic_insns"](insns)
    for op in ("fetch_add", "fetch_and", "fetch_or", "fetch_xor", "xchg", "cmpxchg"):
        assert seen.get(op + "/64") and seen.get(op + "/32"), seen
    assert all(seen.get(op + "/64") for op in ("add", "and", "or", "xor")), seen
    # Same object as bytes (build: local ships bytes).
    t2 = agent_case.CaseContext("isa/atomics", {}, {}, str(tmp_path),
                                obj_source=obj.read_bytes())
    assert t2.object_insns("raw_tp/sys_enter") == insns
