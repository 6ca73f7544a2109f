"""A connection to one target, and the one policy by which it is made and remade.

After kirk's split of a SUT from its communication channel: the ``Machine``
(kmatrix/machine.py) owns the target's life (boot, reboot, power-cycle), the
``Session`` owns the channel to it. Every path that connects -- the first
connection, a reconnect after a dropped connection, the connection after a
restart -- goes through ``Session.connect`` with a ``Backoff``: the same rule,
with the budget each path needs.

The rule: try, and after a failure wait 1 s, then twice as long each time, at
most 10 s, until the attempts or the deadline are spent. A refused host key or a
privilege error is never retried: waiting cannot change it.
"""

from __future__ import annotations

import dataclasses
import json
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Optional

from kmatrix.errors import HostKeyError, KmatrixError, TransportError
from kmatrix.inventory import Host
from kmatrix.progress import Progress


@dataclass(frozen=True)
class Backoff:
    """How often, and for how long, a connection is tried."""

    attempts: int = 1  # tries in all (>= 1)
    deadline: Optional[float] = None  # seconds from the first try; None: attempts only
    first: float = 1.0  # the wait after the first failure
    cap: float = 10.0  # no wait is longer

    def waits(self) -> Iterator[float]:
        """The wait before each retry: 1, 2, 4, 8, 10, 10 ... (attempts - 1 of them)."""
        wait = self.first
        for _ in range(max(self.attempts, 1) - 1):
            yield wait
            wait = min(wait * 2, self.cap)


# The budgets. A first connection is tried once: a wrong address or key must fail
# in seconds (a lab guest already waited for its SSH banner). A dropped connection
# gets `reconnect_attempts` tries. After a reboot or a reset_cmd the machine may take
# minutes to come back: tries until 600 s have passed.
FIRST = Backoff(attempts=1)
AFTER_RESTART = Backoff(attempts=1000, deadline=600.0)


def after_drop(attempts: int) -> Backoff:
    return Backoff(attempts=max(attempts, 1))


class Session:
    """The channel to one target: connect, reconnect, run and stream through it."""

    def __init__(self, host: Host, progress: Progress, stop: Optional[threading.Event] = None,
                 opener: Optional[Callable[[Host], Any]] = None,
                 sleep: Callable[[float], None] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.host = host  # where to connect: after Machine.start, the reachable address
        self.progress = progress
        self.stop = stop or threading.Event()
        if opener is None:
            from kmatrix.transport import open_transport

            opener = open_transport
        self._open = opener
        self._sleep = sleep
        self._clock = clock
        self.transport: Any = None
        self.reconnects = 0
        self._round_trips = 0  # of transports already closed

    def connect(self, policy: Backoff = FIRST, what: str = "connect") -> Any:
        """A connected transport, tried by `policy`; raises the last TransportError."""
        self.close()
        start = self._clock()
        waits = policy.waits()
        while True:
            try:
                transport = self._open(self.host)
                transport.connect()
                self.transport = transport
                return transport
            except HostKeyError:
                raise
            except TransportError as e:
                if getattr(e, "retryable", True) is False:
                    raise
                wait = next(waits, None)
                spent = self._clock() - start
                if (wait is None or self.stop.is_set()
                        or (policy.deadline is not None and spent + wait > policy.deadline)):
                    raise
                self.progress.host(self.host.name, f"{what} failed ({e}); again in {wait:.0f} s")
                self._sleep(wait)

    def reconnect(self, policy: Backoff) -> bool:
        """connect() after a drop: True when connected again."""
        try:
            self.connect(policy, what="reconnect")
        except TransportError:
            return False
        self.reconnects += 1
        return True

    def retarget(self, host: Host) -> None:
        """The machine came back somewhere else (a rebooted lab guest's new port)."""
        self.host = host

    def close(self) -> None:
        transport, self.transport = self.transport, None
        if transport is None:
            return
        self._round_trips += int(getattr(transport, "round_trips", 0) or 0)
        try:
            transport.close()
        except Exception:
            pass

    @property
    def round_trips(self) -> int:
        live = int(getattr(self.transport, "round_trips", 0) or 0) if self.transport else 0
        return self._round_trips + live

    def alive(self, timeout: float = 10.0) -> bool:
        try:
            return bool(self.transport is not None and self.transport.alive(timeout=timeout))
        except Exception:
            return False

    def run_script(self, src: bytes, args: list[str], what: str,
                   hint: str = "") -> dict[str, Any]:
        """Pipe a stdlib-only script to the target's Python; its last stdout line is a
        JSON object. Used for `kmatrix probe`'s preflight and capability probes."""
        res = self.transport.run([self.host.python, "-", *args], stdin=src, timeout=120)
        if res.returncode != 0:
            err = res.stderr.decode(errors="replace").strip().splitlines()
            raise KmatrixError(f"host {self.host.name}: {what} failed (exit {res.returncode}): "
                               f"{' '.join(err[-3:]) or 'no output'}{hint}")
        try:
            out = json.loads(res.stdout.decode(errors="replace").strip().splitlines()[-1])
        except (ValueError, IndexError):
            out = None
        if not isinstance(out, dict):
            raise KmatrixError(f"host {self.host.name}: {what} printed no JSON object")
        return out


def with_tofu(host: Host, trust_on_first_use: bool) -> Host:
    """The run's --trust-on-first-use flag applied to one host."""
    if trust_on_first_use and not host.trust_on_first_use:
        return dataclasses.replace(host, trust_on_first_use=True)
    return host
