"""Session (the channel, one retry policy) and Machine (the target's life), with fake
transports and a fake reset command: no root, no network beyond loopback."""

from __future__ import annotations

import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from kmatrix.errors import HostKeyError, TransportError
from kmatrix.inventory import Host
from kmatrix.machine import PlainMachine, ResetMachine, machine_for
from kmatrix.progress import Progress
from kmatrix.session import AFTER_RESTART, FIRST, Backoff, Session, after_drop

pytestmark = pytest.mark.fast

HOST = Host(name="h", arch="x86_64", address="127.0.0.1")


class FakeTransport:
    def __init__(self, fail: BaseException | None, trips: int = 2) -> None:
        self.fail = fail
        self.round_trips = trips
        self.closed = False

    def connect(self) -> None:
        if self.fail is not None:
            raise self.fail

    def close(self) -> None:
        self.closed = True

    def alive(self, timeout: float = 5.0) -> bool:
        return not self.closed


def _session(failures: list[BaseException | None]) -> tuple[Session, list[float], list[Any]]:
    slept: list[float] = []
    opened: list[Any] = []
    now = [0.0]

    def sleep(seconds: float) -> None:  # a clock that moves only when we wait
        slept.append(seconds)
        now[0] += seconds

    def opener(host: Host) -> FakeTransport:
        t = FakeTransport(failures.pop(0) if failures else None)
        opened.append(t)
        return t

    return (Session(HOST, Progress(quiet=True), opener=opener, sleep=sleep,
                    clock=lambda: now[0]), slept, opened)


def test_backoff_doubles_up_to_ten_seconds() -> None:
    assert list(Backoff(attempts=7).waits()) == [1, 2, 4, 8, 10, 10]
    assert list(FIRST.waits()) == []
    assert list(after_drop(3).waits()) == [1, 2]


def test_a_first_connection_is_tried_once() -> None:
    s, slept, opened = _session([TransportError("refused")])
    with pytest.raises(TransportError, match="refused"):
        s.connect(FIRST)
    assert (slept, len(opened)) == ([], 1)


def test_a_reconnect_follows_the_policy_and_counts() -> None:
    s, slept, opened = _session([TransportError("a"), TransportError("b"), None])
    assert s.reconnect(after_drop(3)) is True
    assert slept == [1, 2] and len(opened) == 3 and s.reconnects == 1
    s2, slept2, _ = _session([TransportError("a")] * 5)
    assert s2.reconnect(after_drop(3)) is False and slept2 == [1, 2] and s2.reconnects == 0


def test_a_refused_host_key_is_never_retried() -> None:
    s, slept, opened = _session([HostKeyError("changed key")])
    with pytest.raises(HostKeyError):
        s.connect(AFTER_RESTART)
    assert (slept, len(opened)) == ([], 1)


def test_the_deadline_bounds_the_waits() -> None:
    s, slept, _ = _session([TransportError("down")] * 100)
    with pytest.raises(TransportError):
        s.connect(Backoff(attempts=100, deadline=20.0))
    # 1 + 2 + 4 + 8 = 15 s spent; another 10 s would pass the 20 s deadline.
    assert slept == [1, 2, 4, 8]


def test_a_stop_ends_the_retries() -> None:
    s, slept, _ = _session([TransportError("down")] * 10)
    s.stop.set()
    with pytest.raises(TransportError):
        s.connect(after_drop(5))
    assert slept == []


def test_round_trips_survive_reconnects() -> None:
    s, _, opened = _session([None, None])
    s.connect(FIRST)
    s.connect(FIRST)  # closes the first transport, keeps its count
    assert opened[0].closed and s.round_trips == 4
    s.close()
    assert s.round_trips == 4 and s.transport is None


def test_machine_kinds(tmp_path: Path) -> None:
    stop = threading.Event()
    say: list[str] = []
    plain = machine_for(HOST, say.append, cache_dir=tmp_path, host_dir=tmp_path, stop=stop)
    assert type(plain) is PlainMachine and plain.restart("x") is False
    assert plain.is_alive() is None and plain.start() is HOST and not plain.restored
    ok = Host(name="r", arch="x86_64", address="127.0.0.1",
              reset_cmd=[sys.executable, "-c", "pass"])
    bad = Host(name="r", arch="x86_64", address="127.0.0.1",
               reset_cmd=[sys.executable, "-c", "raise SystemExit(3)"])
    m = machine_for(ok, say.append, cache_dir=tmp_path, host_dir=tmp_path, stop=stop)
    assert isinstance(m, ResetMachine) and m.restart("kernel died") is True
    m = machine_for(bad, say.append, cache_dir=tmp_path, host_dir=tmp_path, stop=stop)
    assert m.restart("kernel died") is False
    assert any(line.startswith("reset_cmd failed") for line in say)
    assert m.where(bad) is bad
