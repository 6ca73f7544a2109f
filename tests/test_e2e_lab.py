"""End-to-end on the embedded QEMU lab: three arches, real guests, real SSH, real BPF.

CI starts cold, so this builds the images (cached for the rest of the run), boots
x86_64 (Debian 13, 6.12), aarch64 (Debian 12, 6.1), riscv64 (forky) and two x86_64
Debian 11 (5.10, openEuler 22.03's kernel line) guests concurrently and runs the
whole catalogue with the lab's expectations suite. One 5.10 guest uses the bundled
libbpf (the default), the other its own libbpf 0.3 (`libbpf: system`).
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

pytestmark = [pytest.mark.lab,
              pytest.mark.skipif(os.geteuid() != 0, reason="the lab builder needs root")]

LAB_HOSTS = """\
hosts:
  - name: x86-trixie
    arch: x86_64
    qemu: {suite: trixie}
  - name: arm64-bookworm
    arch: arm64
    qemu: {suite: bookworm}
  - name: riscv-forky
    arch: riscv
    qemu: {suite: forky}
  - name: x86-bullseye
    arch: x86_64
    qemu: {suite: bullseye}
  - name: x86-bullseye-syslib
    arch: x86_64
    libbpf: system
    qemu: {suite: bullseye}
"""


@pytest.fixture(scope="module")
def lab_run(tmp_path_factory: pytest.TempPathFactory, repo_root: Path) -> tuple[int, dict, str]:
    tmp = tmp_path_factory.mktemp("lab")
    hosts = tmp / "hosts.yaml"
    hosts.write_text(LAB_HOSTS)
    proc = subprocess.run(
        [str(repo_root / "runners" / "run"), "--hosts", str(hosts), "--suite", "lab-debian",
         "--output", str(tmp / "results"), "--run-id", "lab"],
        capture_output=True, text=True, timeout=2400,
    )
    data = json.loads((tmp / "results" / "lab" / "results.json").read_text())
    for arch in ("x86_64", "aarch64", "riscv64"):
        assert (tmp / "results" / "lab" / arch / "junit.xml").exists()
    return proc.returncode, data, proc.stdout + proc.stderr


def _host(data: dict, name: str) -> dict:
    (h,) = [h for h in data["hosts"] if h["name"] == name]
    assert h["error"] is None, h["error"]
    return h


def _case(host: dict, cid: str) -> dict:
    (c,) = [c for c in host["cases"] if c["case"] == cid]
    return c


def test_lab_run_is_green_with_the_lab_suite(lab_run: tuple[int, dict, str]) -> None:
    rc, data, out = lab_run
    assert rc == 0, out[-4000:]
    assert not data["incomplete"]


def test_x86_64_trixie_runs_trampolines_for_real(lab_run: tuple[int, dict, str]) -> None:
    h = _host(lab_run[1], "x86-trixie")
    assert h["kernel"].startswith("6.12"), h["kernel"]
    assert h["facts"]["ftrace"]["usable"] is True
    for cid in ("trampoline/fentry_fexit", "kfunc/task_acquire", "dynptr/from_mem",
                "dynptr/ringbuf", "xdp_frags/frags_test_run", "perf/cpu_clock",
                # the module kfunc runs here: the x86_64 image carries gcc/headers/pahole
                "kfunc/module_kfunc", "trampoline/module_fentry", "trampoline/fmod_ret",
                "trampoline/many_args", "trampoline/freplace", "isa/cpuv4", "isa/atomics",
                "dynptr/skb", "dynptr/xdp", "xdp_frags/veth_jumbo",
                "xdp_frags/frags_unaware_refused", "perf/lock_contention_tp"):
        assert _case(h, cid)["state"] == "pass", _case(h, cid)
    spe = _case(h, "perf/arm_spe")
    assert (spe["state"], spe["reason_class"]) == ("skip", "hardware-missing")


def test_aarch64_bookworm_shows_the_61_gaps(lab_run: tuple[int, dict, str]) -> None:
    h = _host(lab_run[1], "arm64-bookworm")
    assert h["kernel"].startswith("6.1."), h["kernel"]
    fentry = _case(h, "trampoline/fentry_fexit")
    # arm64 6.1 has no ftrace direct calls: the trampoline probe's attach fails with
    # -524 (ENOTSUPP), so the kernel lacks it; no expectation is involved.
    assert (fentry["state"], fentry["reason_class"]) == ("skip", "kernel-lacks"), fentry
    assert "trampoline probe" in fentry["reason"] and "-524" in fentry["reason"], fentry
    assert h["facts"]["probes"]["trampoline"]["state"] == "no"
    kf = _case(h, "kfunc/task_acquire")
    assert (kf["state"], kf["reason_class"]) == ("skip", "kernel-lacks"), kf
    assert "bpf_task_acquire" in kf["reason"]
    for cid in ("dynptr/from_mem", "xdp_frags/frags_test_run", "perf/cpu_clock"):
        assert _case(h, cid)["state"] == "pass", _case(h, cid)
    # cpu v4 arrived in 6.6: the 6.1 verifier's refusal is a kernel-lacks skip
    v4 = _case(h, "isa/cpuv4")
    assert (v4["state"], v4["reason_class"]) == ("skip", "kernel-lacks"), v4


def test_riscv64_forky_runs_kfuncs_and_trampolines(lab_run: tuple[int, dict, str]) -> None:
    h = _host(lab_run[1], "riscv-forky")
    assert h["arch"] == "riscv64"
    assert h["facts"]["bpf_jit_enable"] == 1
    # The whitepaper's riscv items: kfuncs, JIT trampolines (also with many
    # arguments), cpu v4 and atomics.
    for cid in ("kfunc/task_acquire", "kfunc/cpumask", "trampoline/fentry_fexit",
                "trampoline/fmod_ret", "trampoline/many_args", "isa/cpuv4", "isa/atomics",
                "dynptr/from_mem", "xdp_frags/frags_test_run", "perf/lock_contention_tp"):
        assert _case(h, cid)["state"] == "pass", _case(h, cid)


# What Linux 5.10 (Debian 11, openEuler 22.03's kernel line) lacks, probe by probe.
LACKS_510 = {"atomics", "cpu_v4", "dynptr", "get_func_arg", "kfunc_call", "xdp_frags"}


def test_x86_64_bullseye_510_verdicts_are_true(lab_run: tuple[int, dict, str]) -> None:
    h = _host(lab_run[1], "x86-bullseye")
    assert h["kernel"].startswith("5.10."), h["kernel"]
    # The target's own libbpf is 0.3; the agent ran on the bundled one.
    assert h["facts"]["libbpf"].startswith("0.3"), h["facts"]["libbpf"]
    assert (h["properties"]["libbpf.mode"], h["properties"]["libbpf"]) == ("bundled", "1.1.2")
    probes = h["facts"]["probes"]
    assert {n for n, p in probes.items() if p["state"] == "no"} >= LACKS_510, probes
    assert probes["trampoline"]["state"] == "yes", probes["trampoline"]
    passed = {c["case"] for c in h["cases"] if c["state"] == "pass"}
    assert passed >= {"trampoline/fentry_fexit", "trampoline/fmod_ret", "trampoline/freplace",
                      "perf/cpu_clock"}, passed
    for c in h["cases"]:
        assert c["state"] in ("pass", "skip"), c  # no fail, no error on 5.10
        if c["state"] == "skip":
            # not-applicable: the jit cases for arm64/riscv64
            assert c["reason_class"] in ("kernel-lacks", "hardware-missing",
                                         "not-applicable"), c
            assert len(c["reason"]) > 20, c
        if c["case"].split("/")[0] in ("dynptr", "kfunc", "isa", "xdp_frags"):
            assert c["reason_class"] == "kernel-lacks", c
    assert "invalid func unknown#197" in _case(h, "dynptr/from_mem")["reason"]
    assert "bpf_get_func_arg" in _case(h, "trampoline/many_args_mmap")["reason"]
    lc = _case(h, "perf/lock_contention_tp")  # lock:contention_begin arrived in 5.19
    assert (lc["state"], lc["reason_class"]) == ("skip", "kernel-lacks"), lc
    assert "contention_begin" in lc["reason"], lc


def test_x86_64_bullseye_system_libbpf_gives_precise_skips(
        lab_run: tuple[int, dict, str]) -> None:
    h = _host(lab_run[1], "x86-bullseye-syslib")
    assert h["properties"]["libbpf.mode"] == "system"
    for cid in ("perf/cpu_clock", "trampoline/fentry_fexit", "trampoline/freplace"):
        c = _case(h, cid)
        assert (c["state"], c["reason_class"]) == ("skip", "environment-blocks"), c
        assert "libbpf 0.3" in c["reason"] and "lacks bpf_object__next_" in c["reason"], c
    assert all(c["state"] == "skip" for c in h["cases"]), [c for c in h["cases"]
                                                           if c["state"] != "skip"]


def test_serial_console_is_kept_with_the_results(lab_run: tuple[int, dict, str],
                                                  tmp_path_factory: pytest.TempPathFactory) -> None:
    data = lab_run[1]
    for h in data["hosts"]:
        assert h["timings"].get("boot", 0) > 0, h["timings"]
