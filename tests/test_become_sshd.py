"""`become: sudo` against a real OpenSSH sshd on 127.0.0.1 and a real non-root account.

The module creates a throwaway account (useradd) with a sudoers.d rule, lets a
test key log in as it, and removes both afterwards; it needs root, useradd and
sudo, and is skipped otherwise. The `kmatrix run` CLI runs a small case subset
as root and then as that account with `become: sudo`: the verdicts must match.
A sudo that wants a password, and a non-root login without become, are one
host-level line each that names the fix, well within the connect timeout.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from loopback import copy_cases
from sshd import LoginUser, SshdInfo, can_make_users, make_user, sshd_available, start_sshd

from kmatrix.inventory import Host, load_hosts
from kmatrix.transport import PrivilegeError, open_transport
from kmatrix.transport.ssh import SSHTransport

pytestmark = [
    pytest.mark.sshd, pytest.mark.bpf,
    pytest.mark.skipif(not sshd_available(), reason="OpenSSH server is not installed"),
    pytest.mark.skipif(not can_make_users(), reason="needs root, useradd and sudo"),
]

ROOT = Path(__file__).resolve().parent.parent
# A small subset: a load+attach+trigger, a kfunc, a perf event, a hardware skip.
CASES = {"dynptr": ["from_mem"], "kfunc": ["task_acquire"], "perf": ["cpu_clock", "arm_spe"]}
NOPASSWD = "{u} ALL=(root) NOPASSWD: ALL"


@pytest.fixture(scope="module")
def account(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LoginUser, SshdInfo]]:
    """A non-root account with passwordless sudo, and an sshd that lets it in."""
    user = make_user()
    info = None
    try:
        user.set_sudo(NOPASSWD.format(u=user.name))
        info = start_sshd(tmp_path_factory.mktemp("become-sshd"), user=user.name)
        user.authorize(Path(str(info.user_key_path) + ".pub").read_text())
        yield user, info
    finally:
        if info is not None:
            info.stop()
        user.remove()
    assert not user.sudoers.exists()


@pytest.fixture
def sudo_rule(account: tuple[LoginUser, SshdInfo]) -> Iterator[LoginUser]:
    """Lets a test change the account's sudoers rule; the NOPASSWD rule comes back after."""
    user = account[0]
    yield user
    user.set_sudo(NOPASSWD.format(u=user.name))


@pytest.fixture(scope="module")
def root_sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshdInfo]:
    info = start_sshd(tmp_path_factory.mktemp("root-sshd"))
    yield info
    info.stop()


@pytest.fixture(scope="module")
def cases_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return copy_cases(tmp_path_factory.mktemp("cases"),
                      [f"{fam}/{n}" for fam, names in CASES.items() for n in names])


def host_for(info: SshdInfo, **kw: Any) -> Host:
    base: dict[str, Any] = dict(
        name="b", arch="x86_64", address=info.address, port=info.port, user=info.user,
        identity_file=str(info.user_key_path), known_hosts=str(info.known_hosts_path),
        connect_timeout=10.0, command_timeout=60.0)
    base.update(kw)
    return Host(**base)


def write_hosts(path: Path, info: SshdInfo, **fields: str) -> Path:
    lines = ["hosts:", "  - name: loop", "    arch: x86_64", f"    address: {info.address}",
             f"    port: {info.port}", f"    user: {info.user}",
             f"    identity_file: {info.user_key_path}",
             f"    known_hosts: {info.known_hosts_path}"]
    lines += [f"    {k}: {v}" for k, v in fields.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def kmatrix_run(hosts: Path, cases: Path, out: Path, run_id: str,
                cache: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "kmatrix", "run", "--hosts", str(hosts), "--cases-dir", str(cases),
         "--output", str(out), "--cache-dir", str(cache), "--run-id", run_id, "-q"],
        capture_output=True, text=True, timeout=300, cwd=str(out.parent),
        env=dict(os.environ, PYTHONPATH=str(ROOT)))


def verdicts(results: Path) -> tuple[dict[str, str], dict[str, Any]]:
    (host,) = json.loads(results.read_text())["hosts"]
    return {c["case"]: c["state"] for c in host["cases"]}, host


# -- the whole run ----------------------------------------------------------------------

def test_become_run_gives_the_same_verdicts_as_root(
        tmp_path: Path, account: tuple[LoginUser, SshdInfo], root_sshd: SshdInfo,
        cases_dir: Path) -> None:
    user, info = account
    cache = tmp_path / "cache"  # shared: the second run reuses the first one's objects
    root = kmatrix_run(write_hosts(tmp_path / "root.yaml", root_sshd), cases_dir,
                       tmp_path / "out", "root", cache)
    assert root.returncode == 0, root.stdout + root.stderr
    become = kmatrix_run(write_hosts(tmp_path / "become.yaml", info, become="sudo"), cases_dir,
                         tmp_path / "out", "become", cache)
    assert become.returncode == 0, become.stdout + become.stderr

    want, _ = verdicts(tmp_path / "out" / "root" / "results.json")
    got, host = verdicts(tmp_path / "out" / "become" / "results.json")
    assert got == want
    assert want["dynptr/from_mem"] == "pass"  # a real load as root happened, not all skips
    assert host["error"] is None and host["complete"]
    assert host["facts"]["leftovers"] == [], host["facts"]["leftovers"]
    # Still a fixed number of round trips: + the sudo check and the work dir hand-over.
    assert 0 < host["round_trips"] <= 10
    # It logged in as the account, not as root.
    assert f"Accepted publickey for {user.name} " in info.log()


def test_password_sudo_is_one_line_error_without_waiting(
        tmp_path: Path, account: tuple[LoginUser, SshdInfo], sudo_rule: LoginUser,
        cases_dir: Path) -> None:
    user, info = account
    sudo_rule.set_sudo(f"{user.name} ALL=(root) ALL")  # sudo would ask for a password
    hosts = write_hosts(tmp_path / "hosts.yaml", info, become="sudo", connect_timeout="20")
    t0 = time.monotonic()
    proc = kmatrix_run(hosts, cases_dir, tmp_path / "out", "pw", tmp_path / "cache")
    took = time.monotonic() - t0
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert took < 20, f"took {took:.1f}s: sudo must fail at once (-n), not wait or prompt"
    _, host = verdicts(tmp_path / "out" / "pw" / "results.json")
    err = host["error"]
    assert err and "\n" not in err, err
    assert "password" in err and f"{user.name} ALL=(root) NOPASSWD: ALL" in err, err
    assert "/etc/sudoers.d/kmatrix" in err, err
    assert host["cases"] == []


def test_no_become_non_root_is_one_line_error_naming_the_fix(
        tmp_path: Path, account: tuple[LoginUser, SshdInfo], cases_dir: Path) -> None:
    user, info = account
    proc = kmatrix_run(write_hosts(tmp_path / "hosts.yaml", info), cases_dir,
                       tmp_path / "out", "nobecome", tmp_path / "cache")
    assert proc.returncode == 2, proc.stdout + proc.stderr
    _, host = verdicts(tmp_path / "out" / "nobecome" / "results.json")
    err = host["error"]
    assert err and "\n" not in err, err
    assert "CAP_BPF" in err and "become: sudo" in err and user.name in err, err
    assert host["cases"] == [] and "Traceback" not in proc.stderr


# -- the transport ----------------------------------------------------------------------

def test_every_command_runs_through_sudo_as_root(account: tuple[LoginUser, SshdInfo]) -> None:
    user, info = account
    t = open_transport(host_for(info, become="sudo"))
    assert isinstance(t, SSHTransport)
    t.connect()
    try:
        assert t.run(["id", "-u"], timeout=30).stdout == b"0\n"
        assert t.run(["sh", "-c", 'echo "$SUDO_USER"'], timeout=30).stdout.decode().strip() \
            == user.name
        with t.stream(["id", "-un"], idle_timeout=30) as s:
            assert list(s.lines()) == ["root"]
        r = t.run(["python3", "-c", "import os, sys; print(os.geteuid(), sys.stdin.read())"],
                  timeout=30, stdin=b"fed")
        assert r.stdout == b"0 fed\n"  # stdin passes through sudo untouched
        assert t.alive()
        assert t.identity_properties() == {"login.user": user.name, "become": "sudo",
                                           "run.user": "root"}
    finally:
        t.close()


def test_work_directory_stays_private_and_root_reads_it(
        account: tuple[LoginUser, SshdInfo], tmp_path: Path) -> None:
    """The preflight (as root) makes the work dir; uploads go in by SFTP as the login
    user; the agent (as root) reads them. The dir is the login user's, 0700."""
    user, info = account
    t = open_transport(host_for(info, become="sudo"))
    t.connect()
    try:
        mk = t.run(["python3", "-c", "import os, tempfile; d = tempfile.mkdtemp(prefix="
                    "'kmatrix.'); os.chmod(d, 0o700); print(d)"], timeout=30)
        workdir = mk.stdout.decode().strip()
        assert mk.returncode == 0 and "/kmatrix." in workdir, mk
        local = tmp_path / "agent.pyz"
        local.write_bytes(b"print('agent ran as', __import__('os').geteuid())\n")
        t.put(local, f"{workdir}/agent.pyz", mode=0o600)
        st = os.stat(workdir)  # the same machine: look as root, directly
        assert (st.st_uid, st.st_mode & 0o7777) == (_uid(user.name), 0o700)
        f = os.stat(f"{workdir}/agent.pyz")
        assert (f.st_uid, f.st_mode & 0o777) == (_uid(user.name), 0o600)
        r = t.run(["python3", f"{workdir}/agent.pyz"], timeout=30)
        assert r.stdout == b"agent ran as 0\n"
        # A file root wrote there (the journal) comes back through sudo.
        t.run(["sh", "-c", 'echo journal > "$1/journal.jsonl"', "sh", workdir], timeout=30)
        t.get(f"{workdir}/journal.jsonl", tmp_path / "journal")
        assert (tmp_path / "journal").read_bytes() == b"journal\n"
        with pytest.raises(FileNotFoundError):
            t.get(f"{workdir}/missing", tmp_path / "missing")
        assert t.run(["rm", "-rf", "--", workdir], timeout=30).returncode == 0
    finally:
        t.close()
    assert not os.path.exists(workdir)


def _uid(name: str) -> int:
    import pwd

    return pwd.getpwnam(name).pw_uid


def test_argv_reaches_root_verbatim_through_sudo(account: tuple[LoginUser, SshdInfo],
                                                 tmp_path: Path) -> None:
    _, info = account
    m = f"/tmp/kmatrix-become-{uuid.uuid4().hex}-"
    args = [f"$(touch {m}1)", f"`touch {m}2`", f";touch {m}3", "a b", "'\"", "-n", "--"]
    t = open_transport(host_for(info, become="sudo"))
    t.connect()
    try:
        r = t.run(["python3", "-c", "import json, sys; print(json.dumps(sys.argv[1:]))", *args],
                  timeout=30)
        assert json.loads(r.stdout) == args
    finally:
        t.close()
    assert not list(Path("/tmp").glob(Path(m).name + "*"))


def test_sudo_error_at_transport_level(account: tuple[LoginUser, SshdInfo],
                                       sudo_rule: LoginUser) -> None:
    user, info = account
    sudo_rule.set_sudo(None)  # not in sudoers at all: sudo -n says it wants a password
    t = open_transport(host_for(info, become="sudo", connect_timeout=5.0))
    t0 = time.monotonic()
    with pytest.raises(PrivilegeError) as ei:
        t.connect()
    assert time.monotonic() - t0 < 5
    assert "NOPASSWD" in str(ei.value) and "\n" not in str(ei.value)
    assert not t.connected()  # nothing half-open is left behind


def test_checks_can_be_turned_off_for_non_bpf_use(account: tuple[LoginUser, SshdInfo]) -> None:
    user, info = account
    t = SSHTransport(host_for(info), check_privileges=False)
    t.connect()
    try:
        assert t.run(["id", "-un"], timeout=30).stdout.decode().strip() == user.name
        assert t.identity_properties()["become"] == "none"
    finally:
        t.close()


def test_root_login_needs_no_sudo(root_sshd: SshdInfo) -> None:
    # `become: sudo` from defaults on a root login: nothing to become, sudo not used.
    t = open_transport(host_for(root_sshd, become="sudo"))
    t.connect()
    try:
        assert t.become == ""
        assert t.run(["id", "-u"], timeout=30).stdout == b"0\n"
        assert t.identity_properties() == {"login.user": "root", "become": "none",
                                           "run.user": "root"}
    finally:
        t.close()


def test_become_loads_from_hosts_yaml_defaults(tmp_path: Path,
                                               account: tuple[LoginUser, SshdInfo]) -> None:
    user, info = account
    p = tmp_path / "hosts.yaml"
    p.write_text(f"""\
defaults:
  become: sudo
  user: {user.name}
  identity_file: {info.user_key_path}
  known_hosts: {info.known_hosts_path}
hosts:
  - name: a
    arch: x86_64
    address: 127.0.0.1
    port: {info.port}
""")
    (h,) = load_hosts(p)
    assert (h.become, h.user) == ("sudo", user.name)
    t = open_transport(h)
    t.connect()
    try:
        assert t.run(["id", "-u"], timeout=30).stdout == b"0\n"
    finally:
        t.close()
