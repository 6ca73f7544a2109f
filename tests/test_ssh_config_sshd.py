"""A host given only as an ssh_config alias with ProxyJump, run for real.

A throwaway non-root account with passwordless sudo logs in to a target sshd on
127.0.0.2, reached through a bastion sshd on 127.0.0.1; HostName, Port, User,
IdentityFile, UserKnownHostsFile and ProxyJump all come from an ssh_config, and
`become: sudo` from hosts.yaml's defaults. The `kmatrix run` CLI must give the
verdicts a plain root run gives. Needs root, useradd and sudo (else skipped).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from loopback import copy_cases
from sshd import LoginUser, SshdInfo, can_make_users, make_user, sshd_available, start_sshd

pytestmark = [
    pytest.mark.sshd, pytest.mark.bpf,
    pytest.mark.skipif(not sshd_available(), reason="OpenSSH server is not installed"),
    pytest.mark.skipif(not can_make_users(), reason="needs root, useradd and sudo"),
]

ROOT = Path(__file__).resolve().parent.parent
CASES = {"dynptr": ["from_mem"], "kfunc": ["task_acquire"], "perf": ["arm_spe"]}


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    user = make_user()
    started: list[SshdInfo] = []
    try:
        user.set_sudo(f"{user.name} ALL=(root) NOPASSWD: ALL")
        bastion = start_sshd(tmp_path_factory.mktemp("bastion"),
                             extra=["AllowTcpForwarding yes", "LogLevel DEBUG1"])
        started.append(bastion)
        target = start_sshd(tmp_path_factory.mktemp("target"), listen="127.0.0.2",
                            user=user.name)
        started.append(target)
        user.authorize(Path(str(target.user_key_path) + ".pub").read_text())
        yield {"user": user, "bastion": bastion, "target": target}
    finally:
        for s in started:
            s.stop()
        user.remove()


@pytest.fixture(scope="module")
def cases_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_cases(tmp_path_factory.mktemp("cases"),
                      [f"{fam}/{n}" for fam, names in CASES.items() for n in names])


def ssh_config(path: Path, user: LoginUser, bastion: SshdInfo, target: SshdInfo,
               bastion_known: Any = None) -> Path:
    path.write_text(f"""\
# what the machine's owner types `ssh kmx-target` with
Host kmx-target
    HostName 127.0.0.2
    Port {target.port}
    User {user.name}
    IdentityFile {target.user_key_path}
    UserKnownHostsFile {target.known_hosts_path}
    ProxyJump kmx-bastion

Host kmx-bastion
    HostName 127.0.0.1
    Port {bastion.port}
    User root
    IdentityFile {bastion.user_key_path}
    UserKnownHostsFile {bastion_known or bastion.known_hosts_path}
""")
    return path


def kmatrix_run(hosts: Path, cases: Path, tmp: Path, run_id: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kmatrix", "run", "--hosts", str(hosts), "--cases-dir", str(cases),
         "--output", str(tmp / "out"), "--cache-dir", str(tmp / "cache"), "--run-id", run_id,
         "-q"], capture_output=True, text=True, timeout=300, cwd=str(tmp),
        env=dict(os.environ, PYTHONPATH=str(ROOT)))


def host_result(tmp: Path, run_id: str) -> dict[str, Any]:
    (host,) = json.loads((tmp / "out" / run_id / "results.json").read_text())["hosts"]
    return host


def test_alias_with_proxyjump_and_become_runs_like_root(
        tmp_path: Path, lab: dict[str, Any], cases_dir: Path) -> None:
    user, bastion, target = lab["user"], lab["bastion"], lab["target"]
    ssh_config(tmp_path / "ssh_config", user, bastion, target)
    hosts = tmp_path / "hosts.yaml"
    hosts.write_text("defaults:\n  become: sudo\n  ssh_config: ssh_config\n"
                     "hosts:\n  - name: lab3\n    arch: x86_64\n    ssh_host: kmx-target\n")
    proc = kmatrix_run(hosts, cases_dir, tmp_path, "alias")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    got = host_result(tmp_path, "alias")
    assert got["error"] is None and got["complete"], got["error"]

    # The same cases as plain root, on the same kernel (the bastion is a root sshd too).
    root = tmp_path / "root.yaml"
    root.write_text(f"hosts:\n  - name: lab3\n    arch: x86_64\n    address: 127.0.0.1\n"
                    f"    port: {bastion.port}\n    identity_file: {bastion.user_key_path}\n"
                    f"    known_hosts: {bastion.known_hosts_path}\n")
    proc = kmatrix_run(root, cases_dir, tmp_path, "root")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    want = host_result(tmp_path, "root")
    assert {c["case"]: c["state"] for c in got["cases"]} == \
        {c["case"]: c["state"] for c in want["cases"]}
    assert {c["case"]: c["state"] for c in got["cases"]}["dynptr/from_mem"] == "pass"
    # It went as the account, through the bastion's direct-tcpip channel.
    assert f"Accepted publickey for {user.name} " in target.log()
    assert f"target 127.0.0.2 port {target.port}" in bastion.log()


def test_wrong_bastion_key_from_the_config_is_refused(
        tmp_path: Path, lab: dict[str, Any], cases_dir: Path) -> None:
    user, bastion, target = lab["user"], lab["bastion"], lab["target"]
    other = tmp_path / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(other)],
                   check=True, capture_output=True)
    kt, blob = (tmp_path / "other.pub").read_text().split()[:2]
    wrong = tmp_path / "wrong_known_hosts"
    wrong.write_text(f"[127.0.0.1]:{bastion.port} {kt} {blob}\n")
    ssh_config(tmp_path / "ssh_config", user, bastion, target, bastion_known=wrong)
    hosts = tmp_path / "hosts.yaml"
    hosts.write_text(f"hosts:\n  - name: lab3\n    arch: x86_64\n    ssh_host: kmx-target\n"
                     f"    ssh_config: {tmp_path / 'ssh_config'}\n    become: sudo\n")
    accepted = target.log().count("Accepted publickey")
    proc = kmatrix_run(hosts, cases_dir, tmp_path, "wrong")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    err = host_result(tmp_path, "wrong")["error"]
    assert err and "\n" not in err, err
    assert "jump host kmx-bastion" in err and "HOST KEY MISMATCH" in err, err
    assert target.log().count("Accepted publickey") == accepted
