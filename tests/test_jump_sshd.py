"""Jump hosts against real OpenSSH sshds: a bastion on 127.0.0.1, a target on 127.0.0.2.

The target is reached through the bastion's direct-tcpip channel; the test proves
it by finding the TCP connection the target saw (its $SSH_CONNECTION) among the
sockets of the bastion's sshd processes, and by the bastion's own debug log. Every
hop's host key is checked against that hop's known_hosts, and every hop's connect
is bounded by its connect_timeout.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sshd import SshdInfo, _descendants, sshd_available, start_sshd

from kmatrix.errors import HostKeyError, TransportError
from kmatrix.inventory import Host, load_hosts
from kmatrix.transport import open_transport

pytestmark = [
    pytest.mark.sshd,
    pytest.mark.skipif(not sshd_available(), reason="OpenSSH server is not installed"),
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for sshd"),
]

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def bastion(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshdInfo]:
    info = start_sshd(tmp_path_factory.mktemp("bastion"),
                      extra=["AllowTcpForwarding yes", "LogLevel DEBUG1"])
    yield info
    info.stop()


@pytest.fixture(scope="module")
def target(tmp_path_factory: pytest.TempPathFactory, bastion: SshdInfo) -> Iterator[SshdInfo]:
    info = start_sshd(tmp_path_factory.mktemp("target"), listen="127.0.0.2")
    # The bastion also takes the target's key (for a user@host:port jump, which logs
    # in with the target entry's key), and one known_hosts file then knows both.
    with open(bastion.dir / "authorized_keys", "a") as f:
        f.write(Path(str(info.user_key_path) + ".pub").read_text())
    yield info
    info.stop()


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts TCP connections and never says anything (on 127.0.0.2)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.bind(("127.0.0.2", 0))
    s.listen(8)
    yield int(s.getsockname()[1])
    s.close()


def hosts_yaml(path: Path, bastion: SshdInfo, target: SshdInfo, *, jump: str = "bastion",
               bastion_known: Any = None, target_known: Any = None,
               extra_jump_hosts: str = "", timeout: float = 10) -> Path:
    path.write_text(f"""\
hosts:
  - name: target
    arch: x86_64
    address: {target.address}
    port: {target.port}
    identity_file: {target.user_key_path}
    known_hosts: {target_known or target.known_hosts_path}
    connect_timeout: {timeout}
    jump: {jump}
jump_hosts:
  - name: bastion
    address: 127.0.0.1
    port: {bastion.port}
    identity_file: {bastion.user_key_path}
    known_hosts: {bastion_known or bastion.known_hosts_path}
    connect_timeout: {timeout}
{extra_jump_hosts}""")
    return path


def _socket_owner_pids(local: tuple[str, int], remote: tuple[str, int]) -> set[int]:
    """Pids holding the TCP socket local -> remote (from /proc/net/tcp and fd links)."""
    def hexaddr(a: tuple[str, int]) -> str:
        return f"{socket.inet_aton(a[0])[::-1].hex().upper()}:{a[1]:04X}"

    inode = ""
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        f = line.split()
        if f[1] == hexaddr(local) and f[2] == hexaddr(remote):
            inode = f[9]
    assert inode, f"no TCP socket {local} -> {remote}"
    pids = set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.readlink(f"/proc/{pid}/fd/{fd}") == f"socket:[{inode}]":
                    pids.add(int(pid))
        except OSError:
            continue
    return pids


def test_target_is_reached_through_the_bastion(tmp_path: Path, bastion: SshdInfo,
                                               target: SshdInfo) -> None:
    (h,) = load_hosts(hosts_yaml(tmp_path / "hosts.yaml", bastion, target))
    assert h.jump is not None and h.jump.name == "bastion"
    assert h.label == f"target (root@127.0.0.2:{target.port} via bastion)"
    t = open_transport(h)
    t.connect()
    try:
        conn = t.run(["sh", "-c", 'echo "$SSH_CONNECTION"'], timeout=30).stdout.decode().split()
        client = (conn[0], int(conn[1]))
        # The connection the target sees belongs to the bastion's sshd, not to us.
        owners = _socket_owner_pids(client, ("127.0.0.2", target.port))
        assert owners and owners <= set(_descendants(bastion.proc.pid)), owners
        assert os.getpid() not in owners
    finally:
        t.close()
    assert (f"server_request_direct_tcpip: originator 127.0.0.1 port 0, target 127.0.0.2 "
            f"port {target.port}") in bastion.log()


def test_kmatrix_run_through_the_bastion(tmp_path: Path, bastion: SshdInfo,
                                         target: SshdInfo) -> None:
    cases = tmp_path / "cases" / "dynptr"
    cases.mkdir(parents=True)
    for suffix in (".bpf.c", ".py"):
        shutil.copy(ROOT / "bpf_cases" / "dynptr" / f"from_mem{suffix}", cases)
    hosts = hosts_yaml(tmp_path / "hosts.yaml", bastion, target)
    proc = subprocess.run(
        [sys.executable, "-m", "kmatrix", "run", "--hosts", str(hosts), "--cases-dir",
         str(cases.parent), "--output", str(tmp_path / "out"), "--cache-dir",
         str(tmp_path / "cache"), "--run-id", "jump", "-q"],
        capture_output=True, text=True, timeout=300, cwd=str(tmp_path),
        env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    (host,) = json.loads((tmp_path / "out" / "jump" / "results.json").read_text())["hosts"]
    assert host["error"] is None
    assert [(c["case"], c["state"]) for c in host["cases"]] == [("dynptr/from_mem", "pass")]


def test_chain_of_jumps(tmp_path: Path, bastion: SshdInfo, target: SshdInfo) -> None:
    # b2 is reached through b1 (the same sshd twice), the target through b2.
    extra = f"""\
  - name: b2
    address: 127.0.0.1
    port: {bastion.port}
    identity_file: {bastion.user_key_path}
    known_hosts: {bastion.known_hosts_path}
    jump: bastion
"""
    (h,) = load_hosts(hosts_yaml(tmp_path / "hosts.yaml", bastion, target, jump="b2",
                                 extra_jump_hosts=extra))
    assert [j.name for j in h.jump.chain()] == ["bastion", "b2"]
    before = bastion.log().count("server_request_direct_tcpip")
    t = open_transport(h)
    t.connect()
    try:
        assert t.run(["echo", "deep"], timeout=30).stdout == b"deep\n"
    finally:
        t.close()
    new = [ln for ln in bastion.log().splitlines() if "server_request_direct_tcpip" in ln]
    assert len(new) - before == 2
    assert any(f"target 127.0.0.1 port {bastion.port}" in ln for ln in new[before:])
    assert any(f"target 127.0.0.2 port {target.port}" in ln for ln in new[before:])


def test_user_at_host_port_jump_logs_in_like_its_entry(tmp_path: Path, bastion: SshdInfo,
                                                       target: SshdInfo) -> None:
    both = tmp_path / "known_hosts"
    both.write_text(bastion.known_hosts_line() + target.known_hosts_line())
    (h,) = load_hosts(hosts_yaml(tmp_path / "hosts.yaml", bastion, target,
                                 jump=f"root@127.0.0.1:{bastion.port}", target_known=both))
    assert (h.jump.address, h.jump.port, h.jump.known_hosts) == ("127.0.0.1", bastion.port,
                                                                 str(both))
    t = open_transport(h)
    t.connect()
    try:
        assert t.run(["true"], timeout=30).returncode == 0
    finally:
        t.close()


def _other_key_line(tmp: Path, addr: str, port: int) -> Path:
    k = tmp / "other"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(k)], check=True,
                   capture_output=True)
    kt, blob = (tmp / "other.pub").read_text().split()[:2]
    p = tmp / f"known_hosts_{port}"
    p.write_text(f"[{addr}]:{port} {kt} {blob}\n")
    return p


def test_wrong_bastion_host_key_is_refused(tmp_path: Path, bastion: SshdInfo,
                                           target: SshdInfo) -> None:
    wrong = _other_key_line(tmp_path, "127.0.0.1", bastion.port)
    (h,) = load_hosts(hosts_yaml(tmp_path / "hosts.yaml", bastion, target,
                                 bastion_known=wrong))
    accepted = target.log().count("Accepted publickey")
    with pytest.raises(HostKeyError) as ei:
        open_transport(h).connect()
    msg = str(ei.value)
    assert "jump host bastion" in msg and "HOST KEY MISMATCH" in msg and str(wrong) in msg, msg
    assert "\n" not in msg
    assert target.log().count("Accepted publickey") == accepted  # never got that far


def test_unknown_bastion_host_key_is_refused(tmp_path: Path, bastion: SshdInfo,
                                             target: SshdInfo) -> None:
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    (h,) = load_hosts(hosts_yaml(tmp_path / "hosts.yaml", bastion, target,
                                 bastion_known=empty))
    with pytest.raises(HostKeyError) as ei:
        open_transport(h).connect()
    assert "jump host bastion" in str(ei.value) and "SHA256:" in str(ei.value)
    assert empty.read_text() == ""  # nothing recorded without trust_on_first_use


def test_target_key_is_checked_against_its_own_known_hosts(
        tmp_path: Path, bastion: SshdInfo, target: SshdInfo) -> None:
    # The bastion's known_hosts must not vouch for the target: the target's own file does.
    wrong = _other_key_line(tmp_path, "127.0.0.2", target.port)
    (h,) = load_hosts(hosts_yaml(tmp_path / "hosts.yaml", bastion, target, target_known=wrong))
    with pytest.raises(HostKeyError) as ei:
        open_transport(h).connect()
    msg = str(ei.value)
    assert "HOST KEY MISMATCH" in msg and "jump host" not in msg
    assert msg.startswith(f"target (root@127.0.0.2:{target.port} via bastion)"), msg
    also = tmp_path / "bastion_knows_target"
    also.write_text(bastion.known_hosts_line() + target.known_hosts_line())
    (h,) = load_hosts(hosts_yaml(tmp_path / "hosts.yaml", bastion, target, bastion_known=also,
                                 target_known=tmp_path / "none_here"))
    with pytest.raises(HostKeyError):
        open_transport(h).connect()


def test_bastion_that_forbids_forwarding(tmp_path: Path, target: SshdInfo) -> None:
    closed = start_sshd(tmp_path / "closed")  # AllowTcpForwarding no
    try:
        (h,) = load_hosts(hosts_yaml(tmp_path / "hosts.yaml", closed, target))
        with pytest.raises(TransportError) as ei:
            open_transport(h).connect()
    finally:
        closed.stop()
    msg = str(ei.value)
    assert f"jump host bastion could not connect to 127.0.0.2:{target.port}" in msg, msg
    assert "AllowTcpForwarding" in msg


def test_silent_target_behind_bastion_times_out_within_its_timeout(
        tmp_path: Path, bastion: SshdInfo, target: SshdInfo, silent_port: int) -> None:
    (h,) = load_hosts(hosts_yaml(tmp_path / "hosts.yaml", bastion, target, timeout=2))
    import dataclasses

    h = dataclasses.replace(h, port=silent_port)
    t0 = time.monotonic()
    with pytest.raises(TransportError) as ei:
        open_transport(h).connect()
    took = time.monotonic() - t0
    assert took < 10, took
    assert "within 2s" in str(ei.value) or "timed out" in str(ei.value), str(ei.value)


def test_silent_jump_host_times_out_within_its_timeout(
        tmp_path: Path, bastion: SshdInfo, target: SshdInfo, silent_port: int) -> None:
    p = hosts_yaml(tmp_path / "hosts.yaml", bastion, target, timeout=2)
    p.write_text(p.read_text().replace(f"address: 127.0.0.1\n    port: {bastion.port}",
                                       f"address: 127.0.0.2\n    port: {silent_port}"))
    (h,) = load_hosts(p)
    t0 = time.monotonic()
    with pytest.raises(TransportError) as ei:
        open_transport(h).connect()
    assert time.monotonic() - t0 < 10
    assert "jump host bastion" in str(ei.value), str(ei.value)


def test_bastion_dropping_mid_session_is_a_transport_error(
        tmp_path: Path, target: SshdInfo) -> None:
    own = start_sshd(tmp_path / "own", extra=["AllowTcpForwarding yes"])
    try:
        (h,) = load_hosts(hosts_yaml(tmp_path / "hosts.yaml", own, target))
        t = open_transport(h)
        t.connect()
        assert t.alive()
        own.kill_sessions()  # the bastion's link goes; the target's sshd is fine
        deadline = time.monotonic() + 30
        while t.alive() and time.monotonic() < deadline:
            time.sleep(0.2)
        assert not t.alive()
        with pytest.raises(TransportError):
            t.run(["true"], timeout=10)
        t.close()
    finally:
        own.stop()


def test_direct_host_has_no_hops(target: SshdInfo) -> None:
    h = Host(name="d", arch="x86_64", address="127.0.0.2", port=target.port,
             identity_file=str(target.user_key_path), known_hosts=str(target.known_hosts_path))
    t = open_transport(h)
    t.connect()
    try:
        assert t.run(["true"], timeout=30).returncode == 0
    finally:
        t.close()
