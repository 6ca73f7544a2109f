"""Local transport: run on this machine with subprocess, same semantics as SSH.

No shell is involved (argv goes straight to execve). Each command runs in its own
session so a timeout can kill the whole process group. As over SSH, a command
that cannot be found is exit status 127 rather than an exception, and a command
killed by a signal reports -1.
"""

from __future__ import annotations

import os
import select
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, Optional

from kmatrix.errors import TransportError
from kmatrix.transport.base import (
    STDERR_TAIL,
    CommandTimeout,
    Completed,
    LineSplitter,
    Stream,
    Tail,
    Transport,
    check_argv,
)

if TYPE_CHECKING:
    from kmatrix.inventory import Host

_CHUNK = 65536


def _killpg(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _rc(code: int) -> int:
    return -1 if code < 0 else code


def _spawn_error(argv0: str, e: OSError) -> Completed:
    # What a remote shell would say: 127 not found, 126 not executable.
    code = 127 if isinstance(e, FileNotFoundError) else 126
    return Completed(code, b"", f"{argv0}: {e.strerror}\n".encode())


class LocalStream(Stream):
    def __init__(self, proc: subprocess.Popen[bytes], argv0: str, idle_timeout: float,
                 label: str) -> None:
        super().__init__()
        self._proc = proc
        self._argv0 = argv0
        self._idle = idle_timeout
        self._label = label
        assert proc.stderr is not None
        self._err_thread = threading.Thread(target=_pump, args=(proc.stderr, self._stderr),
                                            daemon=True)
        self._err_thread.start()

    def lines(self) -> Iterator[str]:
        out = self._proc.stdout
        assert out is not None
        fd = out.fileno()
        buf = bytearray()
        splitter = LineSplitter()
        self.touch()
        while True:
            left = self._idle - (time.monotonic() - self._last)
            if left <= 0:
                self.close()
                raise CommandTimeout(f"{self._label}: {self._argv0} printed nothing for "
                                     f"{self._idle:g}s")
            ready, _, _ = select.select([fd], [], [], left)
            if not ready:
                continue
            data = os.read(fd, _CHUNK)
            if not data:
                break
            self.touch()
            buf += data
            yield from splitter.split(buf)
        yield from splitter.rest(buf)
        try:
            code = self._proc.wait(timeout=min(self._idle, 30.0))
        except subprocess.TimeoutExpired:
            self.close()
            raise CommandTimeout(f"{self._label}: {self._argv0} closed its output but did not "
                                 "exit") from None
        self._err_thread.join(5.0)
        self.returncode = _rc(code)

    def send(self, data: bytes) -> None:
        stdin = self._proc.stdin
        if stdin is None:
            super().send(data)
            return
        try:
            stdin.write(data)
            stdin.flush()
        except (OSError, ValueError) as e:
            raise TransportError(f"{self._label}: writing to {self._argv0} failed: {e}") from None
        self.touch()

    def end_input(self) -> None:
        if self._proc.stdin is not None:
            try:
                self._proc.stdin.close()
            except OSError:
                pass  # the command already went away: lines() says how it ended

    def close(self) -> None:
        if self._proc.poll() is None:
            _killpg(self._proc)
            self._proc.wait()
        for f in (self._proc.stdin, self._proc.stdout, self._proc.stderr):
            if f is not None:
                try:
                    f.close()
                except OSError:
                    pass


def _pump(f: IO[bytes], tail: Tail) -> None:
    try:
        while True:
            data = f.read1(_CHUNK) if hasattr(f, "read1") else f.read(_CHUNK)
            if not data:
                return
            tail.add(data)
    except (OSError, ValueError):
        return  # closed under us by close()


class LocalTransport(Transport):
    def __init__(self, host: Host) -> None:
        super().__init__(host)
        self._open = False

    def connect(self) -> None:
        self._open = True

    def _check_open(self) -> None:
        if not self._open:
            raise TransportError(f"{self.host.label}: not connected")

    def run(self, argv: list[str], *, timeout: float, stdin: Optional[bytes] = None) -> Completed:
        argv = check_argv(argv)
        self._check_open()
        self._count()
        try:
            proc = subprocess.Popen(
                argv, stdin=subprocess.PIPE if stdin is not None else subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True,
            )
        except OSError as e:
            return _spawn_error(argv[0], e)
        try:
            out, err = proc.communicate(stdin, timeout=timeout)
        except subprocess.TimeoutExpired:
            _killpg(proc)
            proc.communicate()
            raise CommandTimeout(f"{self.host.label}: {argv[0]} did not finish within "
                                 f"{timeout:g}s") from None
        except BaseException:
            _killpg(proc)
            proc.wait()
            raise
        return Completed(_rc(proc.returncode), out, err[-STDERR_TAIL:])

    def stream(self, argv: list[str], *, idle_timeout: float, stdin: bool = False
               ) -> LocalStream:
        argv = check_argv(argv)
        self._check_open()
        self._count()
        try:
            proc = subprocess.Popen(argv, stdin=subprocess.PIPE if stdin else subprocess.DEVNULL,
                                    stdout=subprocess.PIPE,
                                    stderr=subprocess.PIPE, start_new_session=True)
        except OSError as e:
            raise TransportError(f"{self.host.label}: cannot start {argv[0]}: {e.strerror}") from None
        return LocalStream(proc, argv[0], idle_timeout, self.host.label)

    def put(self, local: Path, remote: str, mode: int = 0o600) -> None:
        self._check_open()
        self._count()
        with open(local, "rb") as src:
            try:
                fd = os.open(remote, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
                os.fchmod(fd, mode)  # the umask must not widen or narrow what was asked
                with os.fdopen(fd, "wb") as dst:
                    shutil.copyfileobj(src, dst, _CHUNK)
            except OSError as e:
                raise TransportError(f"{self.host.label}: cannot write {remote}: "
                                     f"{e.strerror}") from None

    def get(self, remote: str, local: Path) -> None:
        self._check_open()
        self._count()
        if not os.path.lexists(remote):
            raise FileNotFoundError(f"{self.host.label}: no such file: {remote}")
        try:
            shutil.copyfile(remote, local)
        except OSError as e:
            raise TransportError(f"{self.host.label}: cannot read {remote}: {e.strerror}") from None

    def alive(self, timeout: float = 5.0) -> bool:
        if not self._open:
            return False
        try:
            return self.run(["true"], timeout=timeout).returncode == 0
        except TransportError:
            return False

    def close(self) -> None:
        self._open = False
