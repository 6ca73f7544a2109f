"""The local (subprocess) transport: same semantics as SSH, no shell anywhere."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Callable

import pytest

from kmatrix.errors import TransportError
from kmatrix.inventory import Host
from kmatrix.transport import CommandTimeout, open_transport
from kmatrix.transport.local import LocalTransport

try:  # tests/ is a rootdir-less directory today; keep working if it becomes a package
    from transport_contract import TransportContract
except ImportError:  # pragma: no cover
    from tests.transport_contract import TransportContract

pytestmark = pytest.mark.fast

PY = sys.executable
ECHO_ARGV = "import json, sys; print(json.dumps(sys.argv[1:]))"


@pytest.fixture
def local() -> Iterator[LocalTransport]:
    t = open_transport(Host(name="self", arch="x86_64", transport="local"))
    assert isinstance(t, LocalTransport)
    t.connect()
    yield t
    t.close()


def no_hang(fn: Callable[[], Any], limit: float = 60.0) -> Any:
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


def _pid_alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(") ")[1].split()[0] != "Z"
    except (FileNotFoundError, IndexError):
        return False


def test_run_code_stdout_stderr(local: LocalTransport) -> None:
    r = local.run(["sh", "-c", "echo out; echo err >&2; exit 5"], timeout=30)
    assert (r.returncode, r.stdout, r.stderr) == (5, b"out\n", b"err\n")
    assert local.round_trips == 1


def test_run_stdin(local: LocalTransport) -> None:
    data = os.urandom(2 * 1024 * 1024)
    r = local.run(["sha256sum"], timeout=60, stdin=data)
    assert r.stdout.split()[0].decode() == hashlib.sha256(data).hexdigest()


def test_run_without_stdin_gets_eof(local: LocalTransport) -> None:
    r = no_hang(lambda: local.run(["cat"], timeout=30))
    assert r.returncode == 0 and r.stdout == b""


def test_missing_command_is_127(local: LocalTransport) -> None:
    r = local.run(["/nonexistent/kmatrix-cmd"], timeout=30)
    assert r.returncode == 127 and b"kmatrix-cmd" in r.stderr


def test_signal_is_minus_one(local: LocalTransport) -> None:
    r = local.run(["sh", "-c", "kill -9 $$"], timeout=30)
    assert r.returncode == -1


def test_stderr_tail(local: LocalTransport) -> None:
    r = local.run([PY, "-c", "import sys; sys.stderr.write('a' * 300000 + 'END')"], timeout=60)
    assert len(r.stderr) == 64 * 1024 and r.stderr.endswith(b"aEND")


def test_timeout_kills_the_process_group(local: LocalTransport, tmp_path: Path) -> None:
    pidfile = tmp_path / "pid"
    with pytest.raises(CommandTimeout):
        no_hang(lambda: local.run(["sh", "-c", f"sleep 300 & echo $! > {pidfile}; wait"],
                                  timeout=1))
    pid = int(pidfile.read_text())
    # SIGKILL to the group is synchronous for delivery; reaping by init may lag a bit.
    for _ in range(100):
        if not _pid_alive(pid):
            break
        threading.Event().wait(0.05)
    assert not _pid_alive(pid), "the grandchild survived the timeout"


def test_argv_is_never_a_shell_string(local: LocalTransport, tmp_path: Path) -> None:
    with pytest.raises(TypeError):
        local.run("echo hi", timeout=5)  # type: ignore[arg-type]
    m = Path("/tmp") / f"kmatrix-pwned-{uuid.uuid4().hex}"
    args = [f"$(touch {m}1)", f"`touch {m}2`", f"; touch {m}3", f"| touch {m}4", "'\"", ""]
    r = local.run([PY, "-c", ECHO_ARGV, *args], timeout=30)
    assert json.loads(r.stdout) == args
    s = local.stream(["echo", *args], idle_timeout=30)
    with s:
        assert list(s.lines()) == [" ".join(args)]
    assert list(m.parent.glob(m.name + "*")) == []


def test_stream_lines_as_they_arrive(local: LocalTransport, tmp_path: Path) -> None:
    flag = tmp_path / "go"
    script = f"echo first; while [ ! -e {flag} ]; do sleep 0.05; done; echo second; echo e >&2; exit 4"
    s = local.stream(["sh", "-c", script], idle_timeout=30)
    got: list[str] = []

    def consume() -> None:
        for line in s.lines():
            got.append(line)
            if line == "first":
                flag.touch()

    with s:
        no_hang(consume)
    assert got == ["first", "second"]
    assert s.returncode == 4
    assert s.stderr_tail == b"e\n"


def test_stream_partial_last_line(local: LocalTransport) -> None:
    s = local.stream(["printf", "a\\r\\nb\\nc"], idle_timeout=30)
    with s:
        assert list(s.lines()) == ["a", "b", "c"]
    assert s.returncode == 0


def test_stream_idle_timeout(local: LocalTransport) -> None:
    s = local.stream(["sh", "-c", "echo one; sleep 300"], idle_timeout=1)
    got: list[str] = []
    with s, pytest.raises(CommandTimeout):
        no_hang(lambda: got.extend(s.lines()))
    assert got == ["one"]


def test_stream_close_kills(local: LocalTransport, tmp_path: Path) -> None:
    s = local.stream(["sh", "-c", "echo $$; sleep 300"], idle_timeout=30)
    pid = int(next(iter(s.lines())))
    s.close()
    assert not _pid_alive(pid)
    assert s.returncode is None


def test_stream_missing_command(local: LocalTransport) -> None:
    with pytest.raises(TransportError):
        local.stream(["/nonexistent/kmatrix-cmd"], idle_timeout=5)


@pytest.mark.parametrize("mode", [0o600, 0o755, 0o644])
def test_put_mode_ignores_umask(local: LocalTransport, tmp_path: Path, mode: int) -> None:
    src = tmp_path / "src"
    src.write_bytes(b"data" * 1000)
    dst = tmp_path / "dst"
    old = os.umask(0o077)
    try:
        local.put(src, str(dst), mode=mode)
    finally:
        os.umask(old)
    assert stat.S_IMODE(dst.stat().st_mode) == mode
    assert dst.read_bytes() == src.read_bytes()


def test_put_get_errors(local: LocalTransport, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.write_text("x")
    with pytest.raises(TransportError):
        local.put(src, str(tmp_path / "no" / "dir" / "f"))
    with pytest.raises(FileNotFoundError):
        local.get(str(tmp_path / "absent"), tmp_path / "out")
    local.get(str(src), tmp_path / "out")
    assert (tmp_path / "out").read_text() == "x"


def test_alive_and_closed(local: LocalTransport) -> None:
    assert local.alive()
    local.close()
    assert not local.alive()
    with pytest.raises(TransportError):
        local.run(["true"], timeout=5)


class TestTransportContract(TransportContract):
    """The contract every transport keeps (tests/transport_contract.py)."""

    @pytest.fixture
    def transport(self, local: Any) -> Any:
        return local
