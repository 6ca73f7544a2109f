"""Faults in real QEMU lab guests: new taint, a kernel panic mid-run, and Ctrl-C.

Uses the default inventory's lab-x86_64-trixie host (image cached in the user's
cache, built on first use) with a small catalogue of one real case and test-only
checks.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.lab,
              pytest.mark.skipif(os.geteuid() != 0, reason="the lab builder needs root")]

ROOT = Path(__file__).resolve().parent.parent
HOST = "lab-x86_64-trixie"

PANIC_CASE = '''"""Test-only: panics the guest kernel through sysrq."""
CASE = {"description": "sysrq-c", "build": False, "timeout": 120}


def run(t):
    with open("/proc/sys/kernel/sysrq", "w") as f:
        f.write("1")
    with open("/proc/sysrq-trigger", "w") as f:
        f.write("c")
'''

TAINT_CASE = '''"""Test-only: sets the U taint bit (taint requested by user space)."""
CASE = {"description": "taints the guest kernel", "build": False, "timeout": 60}


def run(t):
    with open("/proc/sys/kernel/tainted", "w") as f:
        f.write("64")
'''

SLEEP_CASE = '''"""Test-only: sleeps."""
import time

CASE = {"description": "sleeps", "build": False, "timeout": 300}


def run(t):
    time.sleep(%d)
'''


def _cases(tmp: Path, extra: dict[str, str]) -> Path:
    d = tmp / "cases"
    (d / "dynptr").mkdir(parents=True)
    for suffix in (".bpf.c", ".py"):
        shutil.copy(ROOT / "bpf_cases" / "dynptr" / f"from_mem{suffix}", d / "dynptr")
    for rel, text in extra.items():
        (d / rel).parent.mkdir(parents=True, exist_ok=True)
        (d / rel).write_text(text)
    return d


def _argv(tmp: Path, cases: Path) -> list[str]:
    return [sys.executable, "-m", "kmatrix", "run", "--hosts", str(ROOT / "hosts.yaml"),
            "--host", HOST, "--cases-dir", str(cases), "--output", str(tmp / "out"),
            "--run-id", "f"]


def _results(tmp: Path) -> dict:
    return json.loads((tmp / "out" / "f" / "results.json").read_text())


def _qemus_for(tmp: Path) -> list[str]:
    """PIDs of QEMU processes whose serial log lives under this test's results."""
    out = []
    for p in Path("/proc").iterdir():
        if p.name.isdigit():
            try:
                cmd = (p / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            except OSError:
                continue
            if "qemu-system" in cmd and str(tmp) in cmd:
                out.append(p.name)
    return out


def test_panic_is_kernel_dead_with_console_then_guest_reboots_and_run_resumes(
        tmp_path: Path) -> None:
    cases = _cases(tmp_path, {"perf/zy_taint.py": TAINT_CASE, "perf/zz_panic.py": PANIC_CASE,
                              "perf/zzz_after.py": SLEEP_CASE % 0})
    proc = subprocess.run(_argv(tmp_path, cases), capture_output=True, text=True, timeout=1800,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    data = _results(tmp_path)
    (h,) = data["hosts"]
    got = {c["case"]: c for c in h["cases"]}
    dead = got["perf/zz_panic"]
    assert dead["state"] == "error" and "kernel-dead" in dead["reason"], (dead, proc.stderr)
    assert "Kernel panic" in dead["output"] or "sysrq" in dead["output"].lower(), dead
    # The guest was rebooted and the remaining case ran there; nothing ran twice.
    assert got["perf/zzz_after"]["state"] == "pass", got["perf/zzz_after"]
    assert got["dynptr/from_mem"]["state"] == "pass"
    assert len(h["cases"]) == 4
    # A check that "passes" but taints the kernel fails, naming the new taint bit.
    taint = got["perf/zy_taint"]
    assert taint["state"] == "fail" and "tainted" in taint["reason"] and "U (" in taint["reason"], \
        taint
    # A regression (the taint) outranks an infrastructure error in the exit code.
    assert proc.returncode == 1, proc.stderr
    # The serial console is kept with the results and shows the panic.
    logs = list((tmp_path / "out" / "f").rglob("*serial*.log")) + \
        list((tmp_path / "out" / "f").rglob("console*.log"))
    assert logs and any("Kernel panic" in p.read_text(errors="replace") for p in logs), logs
    assert _qemus_for(tmp_path) == []


def test_ctrl_c_stops_the_guest_and_writes_partial_results(tmp_path: Path) -> None:
    cases = _cases(tmp_path, {"perf/zz_sleep.py": SLEEP_CASE % 600})
    proc = subprocess.Popen(_argv(tmp_path, cases), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)))
    try:
        t0 = time.monotonic()
        while True:
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() - t0 < 1200, "the first case never finished"
            try:
                if any(h["cases"] for h in _results(tmp_path)["hosts"]):
                    break
            except (OSError, ValueError, KeyError):
                pass
            time.sleep(0.5)
        assert _qemus_for(tmp_path), "no guest running mid-run"
        time.sleep(2)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=180)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    data = _results(tmp_path)
    assert data["incomplete"] is True
    (h,) = data["hosts"]
    # The case that was running is recorded as interrupted, not dropped.
    assert [c["case"] for c in h["cases"]] == ["dynptr/from_mem", "perf/zz_sleep"]
    assert h["cases"][1]["state"] == "error" and \
        h["cases"][1]["reason"].startswith("interrupted:"), h["cases"][1]
    assert (tmp_path / "out" / "f" / "x86_64" / "junit.xml").is_file()
    assert _qemus_for(tmp_path) == [], "the guest outlived the controller"
