"""End-to-end over a real OpenSSH sshd on 127.0.0.1 and real BPF loads on this kernel.

Nothing here is faked: `runners/run` bootstraps, connects with paramiko using a
strict known_hosts, builds against this kernel's BTF, uploads the agent, and the
agent loads, attaches and triggers every program.
"""

from __future__ import annotations

import json
import os
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from agent_support import TRUE_SKIPS
from sshd import start_sshd

pytestmark = [pytest.mark.sshd, pytest.mark.bpf,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root for sshd and BPF")]


def _ftrace_usable() -> bool:
    try:
        with open("/sys/kernel/tracing/available_filter_functions", "rb") as f:
            f.read(1)
        return True
    except OSError:
        return False


def _write_hosts(path: Path, port: int, key: str, known: str, name: str = "loop") -> None:
    path.write_text(
        "hosts:\n"
        f"  - name: {name}\n"
        "    arch: amd64\n"
        "    address: 127.0.0.1\n"
        f"    port: {port}\n"
        "    user: root\n"
        f"    identity_file: {key}\n"
        f"    known_hosts: {known}\n"
    )


def _run(repo: Path, tmp: Path, hosts: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, KMATRIX_CACHE=str(tmp / "cache"))
    return subprocess.run(
        [str(repo / "runners" / "run"), "--arch", "x86_64", "--hosts", str(hosts),
         "--output", str(tmp / "results"), "--run-id", "e2e", *extra],
        capture_output=True, text=True, env=env, timeout=900,
    )


def _junit_cases(path: Path) -> dict[str, ET.Element]:
    """Case id -> testcase; classname is kmatrix.<arch>.<host>.<family>, name <case>."""
    root = ET.parse(path).getroot()
    return {tc.get("classname", "").rsplit(".", 1)[-1] + "/" + tc.get("name", ""): tc
            for tc in root.iter("testcase")}


def test_run_over_real_sshd_gives_real_outcomes(tmp_path: Path, repo_root: Path) -> None:
    sshd = start_sshd(tmp_path / "sshd")
    try:
        hosts = tmp_path / "hosts.yaml"
        _write_hosts(hosts, sshd.port, str(sshd.user_key_path), str(sshd.known_hosts_path))
        proc = _run(repo_root, tmp_path, hosts)
        # Again, with the BTF now cached: the agent's one exec is the only round trip.
        again = _run(repo_root, tmp_path, hosts, "--run-id", "warm")
    finally:
        sshd.stop()
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert again.returncode == 0, again.stdout + again.stderr
    (warm,) = json.loads((tmp_path / "results" / "warm" / "results.json").read_text())["hosts"]
    assert warm["round_trips"] == 1, warm["round_trips"]
    assert warm["facts"]["cleanup"]["confirmed"] is True  # by the agent, before it exited
    assert 0 <= warm["facts"]["cleanup"]["agent_seconds"] < 30
    assert warm["facts"]["leftovers"] == []

    junit = tmp_path / "results" / "e2e" / "x86_64" / "junit.xml"
    cases = _junit_cases(junit)
    # No fail and no error anywhere: exit 0 above says so, and so must the JUnit.
    for tc in cases.values():
        assert tc.find("failure") is None and tc.find("error") is None, ET.tostring(tc)
    # Real outcomes: these pass on every kernel generation this host may run, unless
    # its build refuses them; then the skip names its class (never a bare skip).
    ran = []
    for cid in ("kfunc/task_acquire", "dynptr/from_mem", "dynptr/ringbuf",
                "xdp_frags/frags_test_run", "perf/cpu_clock"):
        skipped = cases[cid].find("skipped")
        if skipped is None:
            ran.append(cid)
        else:
            classes = tuple(f"[{c}]" for c in TRUE_SKIPS)
            assert (skipped.get("message") or "").startswith(classes), ET.tostring(cases[cid])
    assert ran, "none of the everyday cases passed over sshd"

    tramp = cases["trampoline/fentry_fexit"]
    if _ftrace_usable():
        assert tramp.find("skipped") is None and tramp.find("failure") is None
    else:
        skipped = tramp.find("skipped")
        assert skipped is not None, ET.tostring(tramp)
        assert "environment-blocks" in (skipped.get("message") or "")
        assert "ftrace" in (skipped.get("message") or "")

    spe = cases["perf/arm_spe"].find("skipped")
    assert spe is not None and "hardware-missing" in (spe.get("message") or "")

    data = json.loads((tmp_path / "results" / "e2e" / "results.json").read_text())
    (host,) = data["hosts"]
    assert host["complete"] and host["error"] is None
    assert host["kernel"] == os.uname().release
    assert host["properties"]["libbpf"].startswith("1.")
    by_id = {c["case"]: c for c in host["cases"]}
    assert by_id["kfunc/task_acquire"]["details"], "the check must report what the program saw"
    # A fixed number of round trips per host, whatever the number of cases: the
    # agent's one exec, and a fetch of the BTF, which this empty cache lacked.
    assert host["round_trips"] == 2, host["round_trips"]


def test_changed_host_key_is_refused(tmp_path: Path, repo_root: Path) -> None:
    sshd = start_sshd(tmp_path / "sshd")
    try:
        other = tmp_path / "other_key"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)],
                       check=True)
        pub = (tmp_path / "other_key.pub").read_text().split()
        known = tmp_path / "known_hosts"
        known.write_text(f"[127.0.0.1]:{sshd.port} {pub[0]} {pub[1]}\n")
        hosts = tmp_path / "hosts.yaml"
        _write_hosts(hosts, sshd.port, str(sshd.user_key_path), str(known))
        proc = _run(repo_root, tmp_path, hosts)
    finally:
        sshd.stop()
    assert proc.returncode == 2, proc.stdout + proc.stderr
    data = json.loads((tmp_path / "results" / "e2e" / "results.json").read_text())
    err = data["hosts"][0]["error"]
    assert err and "SHA256:" in err, err
    assert data["hosts"][0]["cases"] == []
