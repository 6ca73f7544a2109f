"""The lab's qemu.cpu reaches the guest, and the jit cases tell a CPU without the
feature from a kernel without it: riscv64 forky booted with `rv64,zbb=false` and
aarch64 bookworm with `max,pauth=off` run only the jit family (one run, both guests
at once), and the Zbb and PAC cells become hardware-missing, never pass or fail.
The CPU model is part of the snapshot key, so these guests boot cold.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

pytestmark = [pytest.mark.lab,
              pytest.mark.skipif(os.geteuid() != 0, reason="the lab builder needs root")]

HOSTS = """\
hosts:
  - name: riscv-forky-nozbb
    arch: riscv64
    qemu: {suite: forky, cpu: "rv64,zbb=false"}
  - name: arm64-bookworm-nopauth
    arch: aarch64
    qemu: {suite: bookworm, cpu: "max,pauth=off"}
"""


@pytest.fixture(scope="module")
def cpu_run(tmp_path_factory: pytest.TempPathFactory, repo_root: Path) -> dict:
    tmp = tmp_path_factory.mktemp("jitcpu")
    (tmp / "hosts.yaml").write_text(HOSTS)
    proc = subprocess.run(
        [str(repo_root / "runners" / "run"), "--hosts", str(tmp / "hosts.yaml"), "-k", "jit",
         "--output", str(tmp / "results"), "--run-id", "cpu"],
        capture_output=True, text=True, timeout=2400,
    )
    path = tmp / "results" / "cpu" / "results.json"
    assert path.exists(), proc.stdout + proc.stderr
    return json.loads(path.read_text())


def _cases(data: dict, host: str) -> dict[str, dict]:
    (h,) = [h for h in data["hosts"] if h["name"] == host]
    assert h["error"] is None, h["error"]
    return {c["case"]: c for c in h["cases"]}


def test_riscv64_without_zbb_is_hardware_missing(cpu_run: dict) -> None:
    c = _cases(cpu_run, "riscv-forky-nozbb")["jit/riscv_zbb"]
    assert (c["state"], c["reason_class"]) == ("skip", "hardware-missing"), json.dumps(c, indent=1)
    assert "zbb" in c["reason"].lower()
    assert c["details"]["zbb_insns"] == []  # the JIT fell back to base instructions


def test_arm64_without_pauth_is_hardware_missing(cpu_run: dict) -> None:
    cases = _cases(cpu_run, "arm64-bookworm-nopauth")
    c = cases["jit/arm64_pac"]
    assert (c["state"], c["reason_class"]) == ("skip", "hardware-missing"), json.dumps(c, indent=1)
    assert "pointer authentication" in c["reason"]
    # the kernel still emits the hint-space instructions; they run as NOPs here
    assert [p.split(": ")[1] for p in c["details"]["pac_insns"]] == ["paciasp", "autiasp"]
    # the stack ldr/str optimisation does not depend on the CPU model
    assert cases["jit/arm64_stack_ldst"]["state"] == "pass", cases["jit/arm64_stack_ldst"]


def test_no_jit_cell_fails(cpu_run: dict) -> None:
    for h in cpu_run["hosts"]:
        for c in h["cases"]:
            assert c["state"] != "fail", (h["name"], c)
