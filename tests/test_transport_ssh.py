"""The SSH transport against a real OpenSSH sshd on 127.0.0.1 (see tests/sshd.py)."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import socket
import stat
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kmatrix.errors import HostKeyError, TransportError
from kmatrix.inventory import Host
from kmatrix.transport import CommandTimeout, open_transport
from kmatrix.transport.ssh import SSHTransport, known_hosts_name

try:  # tests/ is a rootdir-less directory today; keep working if it becomes a package
    from sshd import SshdInfo, free_port, sshd_available, start_sshd
    from transport_contract import TransportContract
except ImportError:  # pragma: no cover
    from tests.sshd import SshdInfo, free_port, sshd_available, start_sshd
    from tests.transport_contract import TransportContract

pytestmark = [
    pytest.mark.sshd,
    pytest.mark.skipif(not sshd_available(), reason="OpenSSH server is not installed"),
]


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshdInfo]:
    info = start_sshd(tmp_path_factory.mktemp("sshd"))
    yield info
    info.stop()


@pytest.fixture
def own_sshd(tmp_path: Path) -> Iterator[SshdInfo]:
    """A private sshd for tests that kill or break it."""
    info = start_sshd(tmp_path)
    yield info
    info.stop()


def host_for(info: SshdInfo, **kw: Any) -> Host:
    base: dict[str, Any] = dict(
        name="t", arch="x86_64", address="127.0.0.1", port=info.port, user=info.user,
        identity_file=str(info.user_key_path), known_hosts=str(info.known_hosts_path),
        connect_timeout=10.0, command_timeout=60.0,
    )
    base.update(kw)
    return Host(**base)


@pytest.fixture
def conn(sshd: SshdInfo) -> Iterator[SSHTransport]:
    t = open_transport(host_for(sshd))
    assert isinstance(t, SSHTransport)
    t.connect()
    yield t
    t.close()


def no_hang(fn: Callable[[], Any], limit: float = 60.0) -> Any:
    """Run fn in a thread; fail (instead of hanging the suite) if it never returns."""
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["value"] = fn()
        except BaseException as e:  # noqa: BLE001 - handed back to the test
            box["error"] = e

    th = threading.Thread(target=target, daemon=True)
    th.start()
    th.join(limit)
    assert not th.is_alive(), f"call did not return within {limit}s"
    if "error" in box:
        raise box["error"]
    return box.get("value")


def keygen_pub(path: Path, kind: str = "ed25519") -> str:
    subprocess.run(["ssh-keygen", "-q", "-t", kind, "-N", "", "-f", str(path)], check=True,
                   capture_output=True)
    return Path(str(path) + ".pub").read_text().strip()


def ssh_fingerprint(pub_line: str, tmp: Path) -> str:
    f = tmp / f"fp-{uuid.uuid4().hex}.pub"
    f.write_text(pub_line + "\n")
    out = subprocess.run(["ssh-keygen", "-l", "-E", "sha256", "-f", str(f)], check=True,
                         capture_output=True, text=True).stdout
    return out.split()[1]  # "256 SHA256:xxx comment (ED25519)"


# -- commands ---------------------------------------------------------------------------

def test_run_returns_code_stdout_stderr(conn: SSHTransport) -> None:
    before = conn.round_trips
    r = conn.run(["sh", "-c", "echo out; echo err >&2; exit 7"], timeout=30)
    assert (r.returncode, r.stdout, r.stderr) == (7, b"out\n", b"err\n")
    assert conn.round_trips == before + 1


def test_run_feeds_stdin(conn: SSHTransport) -> None:
    data = os.urandom(3 * 1024 * 1024)
    r = conn.run(["sha256sum"], timeout=60, stdin=data)
    import hashlib

    assert r.returncode == 0
    assert r.stdout.split()[0].decode() == hashlib.sha256(data).hexdigest()


def test_run_python_script_on_stdin(conn: SSHTransport) -> None:
    r = conn.run(["python3", "-"], timeout=60, stdin=b"import json; print(json.dumps({'a': 1}))\n")
    assert r.returncode == 0 and json.loads(r.stdout) == {"a": 1}


def test_run_without_stdin_gets_eof(conn: SSHTransport) -> None:
    r = no_hang(lambda: conn.run(["cat"], timeout=30))
    assert r.returncode == 0 and r.stdout == b""


def test_stderr_is_kept_as_tail(conn: SSHTransport) -> None:
    script = "import sys; sys.stderr.write('a' * 300000 + 'END'); sys.stdout.write('x' * 200000)"
    r = conn.run(["python3", "-c", script], timeout=60)
    assert r.returncode == 0
    assert len(r.stdout) == 200000  # stdout is kept whole
    assert len(r.stderr) == 64 * 1024 and r.stderr.endswith(b"aEND")


def test_run_timeout_raises_and_connection_survives(conn: SSHTransport) -> None:
    with pytest.raises(CommandTimeout) as ei:
        no_hang(lambda: conn.run(["sleep", "60"], timeout=1))
    assert "within 1s" in str(ei.value)
    assert conn.alive()


def test_argv_must_be_a_list(conn: SSHTransport) -> None:
    with pytest.raises(TypeError):
        conn.run("echo hi", timeout=5)  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        conn.run([], timeout=5)


ECHO_ARGV = "import json, sys; print(json.dumps(sys.argv[1:]))"


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.text(alphabet=st.characters(blacklist_characters="\x00",
                                              blacklist_categories=("Cs",)), max_size=30),
                max_size=6))
def test_argv_arrives_verbatim(conn: SSHTransport, args: list[str]) -> None:
    r = conn.run(["python3", "-c", ECHO_ARGV, *args], timeout=30)
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    # The remote side decodes argv with the locale; compare after the same round trip.
    assert got == [a.encode("utf-8", "surrogateescape").decode("utf-8", "surrogateescape")
                   for a in args] or got == args


# -- shell injection --------------------------------------------------------------------

INJECTIONS = [
    "$(touch {m}1)",
    "`touch {m}2`",
    "; touch {m}3",
    "&& touch {m}4",
    "| touch {m}5",
    "'; touch {m}6; '",
    '"; touch {m}7; "',
    "\ntouch {m}8\n",
    "$(touch${{IFS}}{m}9)",
]


def _markers(tmp_path: Path) -> Path:
    d = Path("/tmp") / f"kmatrix-pwned-{uuid.uuid4().hex}"
    return d


def _none_exist(prefix: Path) -> None:
    left = [p for p in prefix.parent.glob(prefix.name + "*")]
    assert left == [], f"injected command ran: {left}"


def test_injection_in_argv(conn: SSHTransport, tmp_path: Path) -> None:
    m = _markers(tmp_path)
    args = [s.format(m=m) for s in INJECTIONS]
    r = conn.run(["python3", "-c", ECHO_ARGV, *args], timeout=30)
    assert r.returncode == 0
    assert json.loads(r.stdout) == args
    r = conn.run(["echo", *args], timeout=30)
    assert r.stdout.decode() == " ".join(args) + "\n"
    s = conn.stream(["printf", "%s\\n", *args], idle_timeout=30)
    with s:
        list(s.lines())
    assert s.returncode == 0
    _none_exist(m)


def test_injection_in_user_address_and_name(sshd: SshdInfo, tmp_path: Path) -> None:
    m = _markers(tmp_path)
    bad_user = host_for(sshd, user=f"root$(touch {m}u)`touch {m}v`;touch {m}w")
    with pytest.raises(TransportError):
        no_hang(lambda: open_transport(bad_user).connect())
    bad_addr = host_for(sshd, address=f"127.0.0.1;touch {m}a", connect_timeout=5.0)
    with pytest.raises(TransportError):
        no_hang(lambda: open_transport(bad_addr).connect())
    # The host's name only labels messages: connecting works and runs nothing.
    named = host_for(sshd, name=f"$(touch {m}n);`touch {m}b`")
    t = open_transport(named)
    t.connect()
    try:
        assert t.run(["true"], timeout=30).returncode == 0
    finally:
        t.close()
    _none_exist(m)


def test_injection_in_remote_paths(conn: SSHTransport, tmp_path: Path) -> None:
    m = _markers(tmp_path)
    local = tmp_path / "payload"
    local.write_bytes(b"payload\n")
    remote_dir = tmp_path / "remote"
    remote_dir.mkdir()
    n = m.name  # no '/' in a file name: relative markers land in a cwd, checked below
    weird = str(remote_dir / f"x$(touch {n}p);`touch {n}q`;touch {n}r '\"")
    conn.put(local, weird, mode=0o600)
    assert Path(weird).read_bytes() == b"payload\n"  # created under its literal name
    conn.get(weird, tmp_path / "back")
    assert (tmp_path / "back").read_bytes() == b"payload\n"
    r = conn.run(["cat", "--", weird], timeout=30)
    assert r.stdout == b"payload\n"
    r = conn.run(["ls", "-1", "--", str(remote_dir)], timeout=30)
    assert r.stdout.decode().splitlines() == [Path(weird).name]
    for cwd in (Path.home(), remote_dir, Path("/"), Path.cwd()):
        _none_exist(cwd / n)


# -- streaming ----------------------------------------------------------------------------

def test_stream_yields_lines_as_they_arrive(conn: SSHTransport, tmp_path: Path) -> None:
    flag = tmp_path / "go"
    # The second line only comes after the test has seen the first one: a buffered
    # stream would wait here until idle_timeout and fail.
    script = f"echo first; while [ ! -e {flag} ]; do sleep 0.05; done; echo second; echo e >&2; exit 3"
    s = conn.stream(["sh", "-c", script], idle_timeout=30)
    got: list[str] = []

    def consume() -> None:
        for line in s.lines():
            got.append(line)
            if line == "first":
                flag.touch()

    with s:
        no_hang(consume)
    assert got == ["first", "second"]
    assert s.returncode == 3
    assert s.stderr_tail == b"e\n"


def test_stream_last_line_without_newline_and_crlf(conn: SSHTransport) -> None:
    s = conn.stream(["printf", "a\\r\\nb\\nc"], idle_timeout=30)
    with s:
        assert list(s.lines()) == ["a", "b", "c"]
    assert s.returncode == 0


def test_stream_idle_timeout(conn: SSHTransport) -> None:
    s = conn.stream(["sh", "-c", "echo one; sleep 60"], idle_timeout=1)
    got: list[str] = []
    with s, pytest.raises(CommandTimeout):
        no_hang(lambda: got.extend(s.lines()))
    assert got == ["one"]
    assert conn.alive()


def test_stream_close_early(conn: SSHTransport) -> None:
    s = conn.stream(["sh", "-c", "while :; do echo y; sleep 0.01; done"], idle_timeout=30)
    for line in s.lines():
        assert line == "y"
        break
    s.close()
    assert s.returncode is None
    assert conn.alive()


# -- files ----------------------------------------------------------------------------------

@pytest.mark.parametrize("mode", [0o600, 0o700, 0o644])
def test_put_sets_mode(conn: SSHTransport, tmp_path: Path, mode: int) -> None:
    local = tmp_path / "f"
    local.write_bytes(os.urandom(300000))
    remote = tmp_path / f"r{mode:o}"
    before = conn.round_trips
    conn.put(local, str(remote), mode=mode)
    assert conn.round_trips == before + 1
    assert stat.S_IMODE(remote.stat().st_mode) == mode
    assert remote.read_bytes() == local.read_bytes()


def test_put_into_missing_dir_is_transport_error(conn: SSHTransport, tmp_path: Path) -> None:
    local = tmp_path / "f"
    local.write_text("x")
    with pytest.raises(TransportError):
        conn.put(local, str(tmp_path / "no" / "such" / "dir" / "f"))
    assert conn.alive()


def test_get_missing_is_file_not_found(conn: SSHTransport, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        conn.get(str(tmp_path / "absent"), tmp_path / "local")
    assert not (tmp_path / "local").exists()


# -- host keys ------------------------------------------------------------------------------

def test_strict_known_hosts_accepted(sshd: SshdInfo) -> None:
    t = open_transport(host_for(sshd))
    t.connect()
    assert t.alive()
    t.close()
    assert not t.alive()


def test_hashed_known_hosts_entry_accepted(sshd: SshdInfo, tmp_path: Path) -> None:
    kh = tmp_path / "known_hosts"
    kh.write_text(sshd.known_hosts_line())
    subprocess.run(["ssh-keygen", "-H", "-f", str(kh)], check=True, capture_output=True)
    assert "[127.0.0.1]" not in kh.read_text()
    t = open_transport(host_for(sshd, known_hosts=str(kh)))
    t.connect()
    assert t.alive()
    t.close()


def test_wrong_key_refused_with_both_fingerprints(sshd: SshdInfo, tmp_path: Path) -> None:
    other = keygen_pub(tmp_path / "other")
    kh = tmp_path / "known_hosts"
    kh.write_text(f"[127.0.0.1]:{sshd.port} {' '.join(other.split()[:2])}\n")
    for tofu in (False, True):  # a changed key is refused even with trust_on_first_use
        with pytest.raises(HostKeyError) as ei:
            open_transport(host_for(sshd, known_hosts=str(kh), trust_on_first_use=tofu)).connect()
        msg = str(ei.value)
        assert ssh_fingerprint(other, tmp_path) in msg  # expected
        assert ssh_fingerprint(sshd.host_key_pub, tmp_path) in msg  # offered
        assert "MISMATCH" in msg
    assert len(kh.read_text().splitlines()) == 1  # nothing recorded


def test_key_of_another_type_is_a_mismatch(sshd: SshdInfo, tmp_path: Path) -> None:
    rsa = keygen_pub(tmp_path / "rsa", "rsa")
    kh = tmp_path / "known_hosts"
    kh.write_text(f"[127.0.0.1]:{sshd.port} {' '.join(rsa.split()[:2])}\n")
    with pytest.raises(HostKeyError) as ei:
        open_transport(host_for(sshd, known_hosts=str(kh), trust_on_first_use=True)).connect()
    assert ssh_fingerprint(rsa, tmp_path) in str(ei.value)
    assert ssh_fingerprint(sshd.host_key_pub, tmp_path) in str(ei.value)
    assert len(kh.read_text().splitlines()) == 1


@pytest.mark.parametrize("state", ["missing", "empty", "other-port"])
def test_unknown_host_refused_by_default(sshd: SshdInfo, tmp_path: Path, state: str) -> None:
    kh = tmp_path / "known_hosts"
    if state == "empty":
        kh.write_text("")
    elif state == "other-port":
        # The right key, but recorded for another port: not this host.
        kt, blob = sshd.host_key_pub.split()[:2]
        kh.write_text(f"[127.0.0.1]:{sshd.port + 1} {kt} {blob}\n127.0.0.1 {kt} {blob}\n")
    with pytest.raises(HostKeyError) as ei:
        open_transport(host_for(sshd, known_hosts=str(kh))).connect()
    assert "not in" in str(ei.value) and "trust_on_first_use" in str(ei.value)
    assert ssh_fingerprint(sshd.host_key_pub, tmp_path) in str(ei.value)


def test_trust_on_first_use_records_then_strict_works(sshd: SshdInfo, tmp_path: Path,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    kh = tmp_path / "sub" / "known_hosts"
    caplog.set_level(logging.INFO, logger="kmatrix")
    t = open_transport(host_for(sshd, known_hosts=str(kh), trust_on_first_use=True))
    t.connect()
    t.close()
    fp = ssh_fingerprint(sshd.host_key_pub, tmp_path)
    assert any(fp in r.getMessage() for r in caplog.records)
    text = kh.read_text()
    kt, blob = sshd.host_key_pub.split()[:2]
    assert text == f"[127.0.0.1]:{sshd.port} {kt} {blob}\n"
    assert stat.S_IMODE(kh.stat().st_mode) == 0o600
    # OpenSSH agrees with what was written.
    out = subprocess.run(["ssh-keygen", "-F", known_hosts_name("127.0.0.1", sshd.port),
                          "-f", str(kh)], capture_output=True, text=True)
    assert out.returncode == 0 and blob in out.stdout
    strict = open_transport(host_for(sshd, known_hosts=str(kh), trust_on_first_use=False))
    strict.connect()
    assert strict.alive()
    strict.close()


def test_tofu_appends_without_losing_other_lines(sshd: SshdInfo, tmp_path: Path) -> None:
    ca = keygen_pub(tmp_path / "ca")
    kh = tmp_path / "known_hosts"
    keep = ("# a comment paramiko's writer would drop\n"
            "this line is garbage and must be skipped, not fatal\n"
            "bad.example.org ssh-ed25519 AAAA-not-base64\n"
            f"@cert-authority *.example.org {' '.join(ca.split()[:2])}")
    kh.write_text(keep)  # no trailing newline on purpose
    t = open_transport(host_for(sshd, known_hosts=str(kh), trust_on_first_use=True))
    t.connect()
    t.close()
    lines = kh.read_text().splitlines()
    assert lines[:4] == keep.splitlines()
    assert lines[4].startswith(f"[127.0.0.1]:{sshd.port} ssh-ed25519 ")
    assert len(lines) == 5


def test_revoked_key_refused(sshd: SshdInfo, tmp_path: Path) -> None:
    kt, blob = sshd.host_key_pub.split()[:2]
    kh = tmp_path / "known_hosts"
    kh.write_text(f"{sshd.known_hosts_line()}@revoked * {kt} {blob}\n")
    for tofu in (False, True):
        with pytest.raises(HostKeyError) as ei:
            open_transport(host_for(sshd, known_hosts=str(kh), trust_on_first_use=tofu)).connect()
        assert "@revoked" in str(ei.value)
    assert len(kh.read_text().splitlines()) == 2


def test_known_hosts_override(sshd: SshdInfo, tmp_path: Path) -> None:
    wrong = tmp_path / "wrong"
    wrong.write_text("")
    h = host_for(sshd, known_hosts=str(wrong))
    t = open_transport(h, known_hosts_override=sshd.known_hosts_path)
    t.connect()
    assert t.alive()
    t.close()


# -- failures -------------------------------------------------------------------------------

def test_connection_refused_is_transport_error(sshd: SshdInfo) -> None:
    h = host_for(sshd, port=free_port(), connect_timeout=3.0)
    with pytest.raises(TransportError) as ei:
        no_hang(lambda: open_transport(h).connect(), 30)
    assert not isinstance(ei.value, HostKeyError)


def test_silent_port_times_out_within_connect_timeout(sshd: SshdInfo) -> None:
    # A listener that completes the TCP handshake (backlog) but never says a word.
    with socket.socket() as srv:
        srv.bind(("127.0.0.1", 0))
        srv.listen(5)
        h = host_for(sshd, port=srv.getsockname()[1], connect_timeout=1.0)
        with pytest.raises(TransportError) as ei:
            no_hang(lambda: open_transport(h).connect(), 20)
    assert "within 1s" in str(ei.value) or "timed out" in str(ei.value)


def test_auth_failure_is_transport_error(sshd: SshdInfo, tmp_path: Path) -> None:
    stranger = tmp_path / "stranger"
    keygen_pub(stranger)
    with pytest.raises(TransportError) as ei:
        open_transport(host_for(sshd, identity_file=str(stranger))).connect()
    assert "authentication failed" in str(ei.value)


def test_password_env_unset(sshd: SshdInfo, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KMATRIX_TEST_PW", raising=False)
    with pytest.raises(TransportError) as ei:
        open_transport(host_for(sshd, password_env="KMATRIX_TEST_PW")).connect()
    assert "KMATRIX_TEST_PW" in str(ei.value)


def test_password_never_logged(sshd: SshdInfo, monkeypatch: pytest.MonkeyPatch,
                               caplog: pytest.LogCaptureFixture) -> None:
    secret = "s3cret-" + uuid.uuid4().hex
    monkeypatch.setenv("KMATRIX_TEST_PW", secret)
    monkeypatch.delenv("SSH_AUTH_SOCK", raising=False)
    caplog.set_level(logging.DEBUG)  # every logger, paramiko's included
    h = host_for(sshd, identity_file=None, password_env="KMATRIX_TEST_PW")
    with pytest.raises(TransportError) as ei:
        open_transport(h).connect()  # this sshd allows no passwords
    assert secret not in str(ei.value)
    assert caplog.records  # paramiko did log the attempt
    assert all(secret not in r.getMessage() for r in caplog.records)
    assert secret not in caplog.text


def test_killing_sshd_mid_stream_raises(own_sshd: SshdInfo) -> None:
    t = open_transport(host_for(own_sshd))
    t.connect()
    s = t.stream(["sh", "-c", "echo ready; sleep 300"], idle_timeout=120)
    got: list[str] = []

    def consume() -> None:
        for line in s.lines():
            got.append(line)
            if line == "ready":
                own_sshd.kill_connections()

    with s, pytest.raises(TransportError) as ei:
        no_hang(consume, 60)
    assert not isinstance(ei.value, CommandTimeout)  # noticed the drop, did not wait it out
    assert got == ["ready"]
    assert not t.alive()
    with pytest.raises(TransportError):
        t.run(["true"], timeout=10)
    # The listener is still up: a reconnect works.
    t.connect()
    assert t.alive()
    t.close()


def test_killing_sshd_mid_run_raises(own_sshd: SshdInfo) -> None:
    t = open_transport(host_for(own_sshd))
    t.connect()
    box: dict[str, Any] = {}

    def killer() -> None:
        # Kill once the remote command provably runs (its marker exists).
        marker = own_sshd.dir / "running"
        while not marker.exists():
            threading.Event().wait(0.05)
        own_sshd.kill_connections()
        box["killed"] = True

    k = threading.Thread(target=killer, daemon=True)
    k.start()
    with pytest.raises(TransportError) as ei:
        no_hang(lambda: t.run(["sh", "-c", f"touch {own_sshd.dir}/running; sleep 300"],
                              timeout=120), 60)
    assert not isinstance(ei.value, CommandTimeout)
    k.join(10)
    assert box.get("killed")
    t.close()


def test_host_dataclass_replace_keeps_working(sshd: SshdInfo) -> None:
    # The runner swaps address/port for lab guests with dataclasses.replace.
    h = dataclasses.replace(host_for(sshd), name="renamed")
    t = open_transport(h)
    t.connect()
    assert t.run(["echo", "ok"], timeout=30).stdout == b"ok\n"
    t.close()


class TestTransportContract(TransportContract):
    """The contract every transport keeps (tests/transport_contract.py)."""

    @pytest.fixture
    def transport(self, conn: Any) -> Any:
        return conn
