"""The benches (bench/) in their --smoke size, so they keep working.

Benchmarks are not timed tests: nothing here asserts a time. Each smoke run must
finish, print its verdict block, and meet the targets that are structural rather
than timed (round trips that do not grow, a warm rebuild that compiles nothing).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sshd import sshd_available

ROOT = Path(__file__).resolve().parent.parent
ROOT_ONLY = pytest.mark.skipif(os.geteuid() != 0, reason="needs root for sshd and BPF")
NEEDS_SSHD = pytest.mark.skipif(not sshd_available(), reason="/usr/sbin/sshd is not installed")
NEEDS_CLANG = pytest.mark.skipif(
    not (shutil.which("clang") and shutil.which("bpftool", path="/usr/sbin:/usr/bin")),
    reason="clang and bpftool are needed to build BPF objects")


def bench(name: str, *args: str, timeout: float = 600) -> tuple[int, str, dict[str, str]]:
    """Run bench/NAME --smoke; (exit code, stdout, {target: MET|MISS|N/A})."""
    p = subprocess.run([sys.executable, str(ROOT / "bench" / name), "--smoke", *args],
                       capture_output=True, text=True, timeout=timeout, cwd=str(ROOT))
    out = p.stdout
    assert "verdict" in out, f"{name} printed no verdict:\n{out}\n{p.stderr[-3000:]}"
    verdicts = {m.group(2): m.group(1).strip()
                for m in re.finditer(r"^\s+\[(MET |MISS|N/A )\] ([^:]+):", out, re.M)}
    return p.returncode, out, verdicts


@ROOT_ONLY
@NEEDS_SSHD
@NEEDS_CLANG
@pytest.mark.sshd
@pytest.mark.bpf
def test_controller_overhead_smoke() -> None:
    rc, out, v = bench("controller_overhead.py")
    assert rc == 0, out
    assert v == {"round trips per host constant as cases grow": "MET",
                 "1 round trip per host on a warm run": "MET"}, out
    # two points, each with a ratio and a round-trip count; x2 runs twice the cases
    one = re.search(r"^x1\s+(\d+) cases .* ratio [\d.]+ +round trips \d+$", out, re.M)
    two = re.search(r"^x2\s+(\d+) cases .* ratio [\d.]+ +round trips \d+$", out, re.M)
    assert one and two and int(two.group(1)) == 2 * int(one.group(1)) > 0, out


@NEEDS_CLANG
@pytest.mark.skipif(not Path("/sys/kernel/btf/vmlinux").exists(), reason="no kernel BTF")
def test_build_cache_smoke() -> None:
    rc, out, v = bench("build_cache.py")
    assert rc in (0, 1), out  # 1: a target is missed (reported, not a crash)
    assert v["warm rebuild compiles nothing"] == "MET", out
    assert "every case compiles" not in v, out
    # hosts sharing a BTF and identical copies share one compile per (source, BTF) pair
    assert v["cold compiles == distinct (source, BTF) pairs"] == "MET", out
    m = re.search(r"(\d+) compiles \((\d+) by Builder.compiles\) for (\d+) pairs", out)
    assert m and m.group(1) == m.group(2) == m.group(3), out


@ROOT_ONLY
@NEEDS_SSHD
@NEEDS_CLANG
@pytest.mark.sshd
@pytest.mark.bpf
def test_sim_scale_smoke() -> None:
    rc, out, v = bench("sim_scale.py")
    assert rc == 0, out
    assert v == {"round trips per host identical across host counts": "MET",
                 "1 round trip per warm simulated host": "MET",
                 "real sshd hosts complete": "MET"}, out
    assert re.search(r"^n=\s+3\s+wall [\d.]+s", out, re.M), out
    assert "real sshd hosts on loopback" in out, out


@ROOT_ONLY
@NEEDS_SSHD
@NEEDS_CLANG
@pytest.mark.sshd
@pytest.mark.bpf
def test_agent_startup_smoke() -> None:
    rc, out, v = bench("agent_startup.py")
    assert rc == 0, out
    assert v == {"loopback sshd (x86_64) reaches a first case event": "MET"}, out
    # one exec: the launcher's facts, then the agent's lines after the bundle
    assert re.search(r"^loopback sshd .* 1 +- *$", out, re.M), out


def test_lab_warm_smoke() -> None:
    rc, out, v = bench("lab_warm.py", timeout=120)
    if rc == 2 and "image not built yet" in out:
        pytest.skip("lab images are not cached here: " + out.strip().splitlines()[-1])
    assert rc == 0, out
    assert v == {"every lab image is cached": "MET"}, out
