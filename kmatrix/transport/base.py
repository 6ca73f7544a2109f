"""The Transport interface: run argv lists on a target, stream output, move files.

Every call has a timeout. Failures to reach or keep the target raise
``TransportError`` (``HostKeyError`` for host key problems); a command that runs
but exits non-zero is *not* an error here, it is a ``Completed`` with that code.
"""

from __future__ import annotations

import abc
import getpass
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Optional

from kmatrix.errors import TransportError

if TYPE_CHECKING:
    from kmatrix.inventory import Host

# stderr is kept only as a tail: it is for the error message, not for parsing.
STDERR_TAIL = 64 * 1024


class CommandTimeout(TransportError):
    """A command overran its timeout (run) or printed nothing for idle_timeout (stream)."""


class PrivilegeError(TransportError):
    """The login works, but its user cannot load BPF: not root and no ``become``, or a
    ``become: sudo`` whose sudo wants a password. One line that names the fix."""


@dataclass
class Completed:
    returncode: int  # -1 when the remote process died from a signal without a status
    stdout: bytes
    stderr: bytes  # the last STDERR_TAIL bytes

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    def text(self) -> str:
        return self.stdout.decode("utf-8", errors="replace")


class Tail:
    """A byte buffer that keeps only the last ``limit`` bytes."""

    def __init__(self, limit: int = STDERR_TAIL) -> None:
        self.limit = limit
        self._parts: list[bytes] = []
        self._size = 0
        self._lock = threading.Lock()

    def add(self, data: bytes) -> None:
        if not data:
            return
        with self._lock:
            self._parts.append(data)
            self._size += len(data)
            if self._size > 2 * self.limit:
                self._compact()

    def _compact(self) -> None:
        joined = b"".join(self._parts)[-self.limit:]
        self._parts = [joined]
        self._size = len(joined)

    def value(self) -> bytes:
        with self._lock:
            self._compact()
            return self._parts[0] if self._parts else b""


class Stream(abc.ABC):
    """A running command whose stdout is read line by line as it arrives.

    Iterate ``lines()`` (str, without the newline); afterwards ``returncode`` holds
    the exit code (None if the stream was closed early). ``lines()`` raises
    ``CommandTimeout`` after ``idle_timeout`` seconds without output and
    ``TransportError`` if the connection drops. Always ``close()`` (or use ``with``).
    """

    def __init__(self) -> None:
        self.returncode: Optional[int] = None
        self._stderr = Tail()
        self._idle = 3600.0
        self._last = time.monotonic()  # when the command last printed (or we last wrote)

    def set_idle_timeout(self, seconds: float) -> None:
        """Change the silence limit while the stream runs: the controller's watchdog
        follows the running case, whose own timeout decides how long is too long."""
        self._idle = float(seconds)

    def touch(self) -> None:
        """Restart the silence clock: the command was given something to work on."""
        self._last = time.monotonic()

    def send(self, data: bytes) -> None:
        """Write to the command's stdin (``stream(..., stdin=True)`` only). The
        silence clock restarts: the command answers what it was sent."""
        raise TransportError("this stream was opened without stdin")

    def end_input(self) -> None:  # noqa: B027 - a stream without stdin has nothing to close
        """Close the command's stdin (EOF)."""

    @property
    def stderr_tail(self) -> bytes:
        return self._stderr.value()

    @abc.abstractmethod
    def lines(self) -> Iterator[str]: ...

    @abc.abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Stream:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class Transport(abc.ABC):
    def __init__(self, host: Host) -> None:
        self.host = host
        self.round_trips = 0  # exec calls + SFTP ops so far
        self._count_lock = threading.Lock()
        # Who runs the commands, for results: the user that logged in, and how commands
        # become root ("sudo", or "" when they run as the login user).
        self.login_user = _local_user() if host.transport == "local" else host.user
        self.become = ""

    @property
    def run_user(self) -> str:
        """The user remote commands run as."""
        return "root" if self.become else self.login_user

    def identity_properties(self) -> dict[str, str]:
        """``login.user``, ``become`` (``sudo``/``none``) and ``run.user``, for results."""
        return {"login.user": self.login_user, "become": self.become or "none",
                "run.user": self.run_user}

    def _count(self) -> None:
        with self._count_lock:
            self.round_trips += 1

    @abc.abstractmethod
    def connect(self) -> None: ...

    @abc.abstractmethod
    def run(self, argv: list[str], *, timeout: float, stdin: Optional[bytes] = None) -> Completed:
        ...

    @abc.abstractmethod
    def stream(self, argv: list[str], *, idle_timeout: float, stdin: bool = False) -> Stream:
        """Start ``argv`` and read its stdout line by line. With ``stdin`` the
        command's stdin stays open for ``Stream.send`` (the agent's launcher reads
        its bundle there after printing the facts); without, it gets EOF at once."""

    @abc.abstractmethod
    def put(self, local: Path, remote: str, mode: int = 0o600) -> None: ...

    @abc.abstractmethod
    def get(self, remote: str, local: Path) -> None: ...

    @abc.abstractmethod
    def alive(self, timeout: float = 5.0) -> bool: ...

    @abc.abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> Transport:
        self.connect()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _local_user() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):  # no passwd entry for this uid (some containers)
        return str(os.getuid())


def check_argv(argv: list[str]) -> list[str]:
    """Refuse anything but a non-empty list of strings: never a shell string."""
    if isinstance(argv, (str, bytes)) or not isinstance(argv, (list, tuple)) or not argv:
        raise TypeError("argv must be a non-empty list of strings, not a shell string")
    for a in argv:
        if not isinstance(a, str):
            raise TypeError(f"argv items must be str, got {type(a).__name__}")
        if "\x00" in a:
            raise ValueError("argv items cannot contain NUL bytes")
    return list(argv)


MAX_STREAM_LINE = 4 << 20  # the launcher's facts line is ~60 KB; agent events <= 1 MiB
# Starts a line that was longer than MAX_STREAM_LINE: OVERSIZE + "<bytes> " + its head.
# NUL never starts a line of JSON, so no real line can look like it.
OVERSIZE = "\0kmatrix-oversize "


class LineSplitter:
    """Complete lines off a byte buffer, each bounded: past `limit` bytes a line's
    head is kept and the rest discarded as it arrives, so a 600 MB line costs
    `limit` bytes of memory, not its size, and comes out as one OVERSIZE line."""

    def __init__(self, limit: int = MAX_STREAM_LINE) -> None:
        self.limit = limit
        self._head: Optional[bytes] = None  # of the over-long line being discarded
        self._dropped = 0

    def split(self, buf: bytearray) -> Iterator[str]:
        """Pop complete lines off ``buf`` (in place) and yield them decoded."""
        while True:
            i = buf.find(b"\n")
            if i < 0:
                if self._head is None and len(buf) > self.limit:
                    self._head, self._dropped = bytes(buf[:self.limit]), len(buf) - self.limit
                    buf.clear()
                elif self._head is not None:
                    self._dropped += len(buf)
                    buf.clear()
                return
            if self._head is None and i > self.limit:
                self._head, self._dropped = bytes(buf[:self.limit]), i - self.limit
            elif self._head is not None:
                self._dropped += i
            if self._head is not None:
                del buf[: i + 1]
                yield self._oversize()
                continue
            line = bytes(buf[:i])
            del buf[: i + 1]
            if line.endswith(b"\r"):
                line = line[:-1]
            yield line.decode("utf-8", errors="replace")

    def rest(self, buf: bytearray) -> Iterator[str]:
        """What is left at EOF: an unterminated last line."""
        yield from self.split(buf)
        if self._head is not None:
            self._dropped += len(buf)
            yield self._oversize()
        elif buf:
            yield buf.decode("utf-8", errors="replace")
        buf.clear()

    def _oversize(self) -> str:
        head = self._head or b""
        size = len(head) + self._dropped
        self._head, self._dropped = None, 0
        return f"{OVERSIZE}{size} " + head.decode("utf-8", errors="replace")

