"""perf cases for real on this kernel, through the agent.

Each expectation comes from an independent probe of this host (perf_event_open
of the hardware event, the PMU list, what `perf` itself says), never from a
fixed list: on a machine with a PMU the same tests demand a pass.
"""

from __future__ import annotations

import errno
import json
import os
import platform
import shutil
import subprocess
from pathlib import Path

import pytest
from agent_support import NEEDS_BPF, passed, run_family

from kmatrix.agent import libbpf as lb

ROOT = Path(__file__).resolve().parent.parent
FAMILY = "perf"
PMU_DIR = "/sys/bus/event_source/devices"

pytestmark = NEEDS_BPF


@pytest.fixture(scope="module")
def family_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    run = run_family(tmp_path_factory.mktemp(FAMILY), FAMILY, all_built=False)
    return run


def _hw_errno(config: int, **kw: object) -> int:
    """0 if this thread can open the hardware event, else the errno."""
    lib = lb.Libbpf()
    try:
        fd = lib.perf_event_open(lb.perf_attr(lb.PERF_TYPE_HARDWARE, config, **kw), 0, -1)
    except OSError as e:
        return e.errno
    os.close(fd)
    return 0


def _state(r: dict) -> str:
    return json.dumps(r, indent=1)


def test_all_compiled_and_ran(family_run: dict) -> None:
    assert {k: o.output for k, o in family_run["outcomes"].items() if not o.ok} == {}
    assert {"perf/cpu_clock", "perf/hw_cycles", "perf/arm_spe", "perf/user_access",
            "perf/lock_contention"} <= set(family_run["res"])


def test_cpu_clock_passes(family_run: dict) -> None:
    assert passed(family_run["res"]["perf/cpu_clock"])["samples"] > 0


def test_hw_cycles(family_run: dict) -> None:
    r = family_run["res"]["perf/hw_cycles"]
    err = _hw_errno(0, sample_period=1000000)
    if err in (errno.ENOENT, errno.EOPNOTSUPP, errno.ENODEV):
        assert r["state"] == "skip" and r["reason_class"] == "hardware-missing", _state(r)
        assert errno.errorcode[err] in r["reason"] and "cpu-cycles" in r["reason"]
    else:
        assert err == 0
        assert r["state"] == "pass", _state(r)
        assert r["details"]["samples"] > 0 and r["details"]["read_value"]["counter"] > 0


def test_user_access(family_run: dict) -> None:
    r = family_run["res"]["perf/user_access"]
    if platform.machine() not in ("x86_64", "aarch64"):
        assert r["state"] == "skip" and r["reason_class"] == "environment-blocks"
        return
    err = _hw_errno(0, disabled=True, exclude_kernel=True, exclude_hv=True)
    if err in (errno.ENOENT, errno.EOPNOTSUPP, errno.ENODEV):
        assert r["state"] == "skip" and r["reason_class"] == "hardware-missing", _state(r)
        assert errno.errorcode[err] in r["reason"] and "cpu-cycles" in r["reason"]
    else:
        assert r["state"] == "pass", _state(r)
        first, kernel, third = r["details"]["probe"]["reads"]
        assert first <= kernel <= third


def test_arm_spe(family_run: dict) -> None:
    r = family_run["res"]["perf/arm_spe"]
    if not any(p.startswith("arm_spe_") for p in os.listdir(PMU_DIR)):
        assert r["state"] == "skip" and r["reason_class"] == "hardware-missing", _state(r)
        assert "arm_spe_*" in r["reason"]
    else:
        assert r["state"] == "pass" or r["reason_class"] == "environment-blocks", _state(r)


def test_lock_contention(family_run: dict) -> None:
    r = family_run["res"]["perf/lock_contention"]
    perf = shutil.which("perf")
    if perf is None:
        assert r["state"] == "skip" and r["reason_class"] == "environment-blocks", _state(r)
        assert "not installed" in r["reason"]
        return
    helptext = subprocess.run([perf, "lock", "contention", "-h"], capture_output=True,
                              text=True, timeout=60)
    if "BUILD_BPF_SKEL" in helptext.stdout + helptext.stderr:
        assert r["state"] == "skip" and r["reason_class"] == "environment-blocks", _state(r)
        assert "BUILD_BPF_SKEL" in r["reason"] and "perf version" in r["reason"]
    else:
        assert r["state"] == "pass", _state(r)
        assert any(row["contended"] > 0 for row in r["details"]["rows"])


def test_kernel_lock_contention_read_by_bpf_passes(family_run: dict) -> None:
    """The kernel feature behind `perf lock contention -b`, without perf: tp_btf on
    lock:contention_begin/end (5.19+) sees this 6.18 host's mutex and rwsem waits."""
    waits = passed(family_run["res"]["perf/lock_contention_tp"])["waits"]
    assert waits["mutex"] >= 1 and waits["rwsem"] >= 1 and waits["wait_ns"] > 0, waits
