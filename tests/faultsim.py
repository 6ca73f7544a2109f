"""A simulated target with injected faults, for unit tests of the runner's
orchestration through Machine and Session: no root, no sshd, no BPF.

``FakeTarget`` plays the target's side of the one exec (kmatrix/launch.py): it
prints facts, reads the bundle's plan and answers with the agent's events for
the cases the plan lists (those in ``resume_after`` left out), writing each to a
journal as the real agent does. Faults, by the number of results already sent:

- ``drop_after=N``: the connection drops; the agent goes on and finishes (its
  journal has every result), and the follower replays it after a reconnect;
- ``die_after=N``: the kernel dies while case N+1 runs (after its start event):
  the connection drops, nothing answers until ``reset_cmd`` touches the reset
  file; the case that ran never gets a result;
- ``refuse_connects=K``: the next K connection attempts are refused.

Hosts reach it through ``open_transport`` as ``transport: faultsim`` while
``simulated_targets()`` is active.
"""

from __future__ import annotations

import contextlib
import io
import json
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Optional

from kmatrix.errors import TransportError
from kmatrix.inventory import Host
from kmatrix.transport import register_transport
from kmatrix.transport.base import Completed, Stream, Transport, check_argv


class FakeTarget:
    """One machine's state across connections, reboots and launches."""

    def __init__(self, reset_file: Path, drop_after: Optional[int] = None,
                 die_after: Optional[int] = None, refuse_connects: int = 0) -> None:
        self.reset_file = reset_file
        self.drop_after = drop_after
        self.die_after = die_after
        self.refuse_connects = refuse_connects
        self.up = True
        self.boots = 1
        self.connects = 0
        self.plans: list[dict[str, Any]] = []  # every plan a launch received
        self.journal: list[str] = []
        self.workdir = ""
        self.lock = threading.Lock()

    def connect(self) -> None:
        with self.lock:
            if not self.up and self.reset_file.exists():
                self.reset_file.unlink()  # reset_cmd ran: the machine boots again
                self.up, self.boots = True, self.boots + 1
            if not self.up:
                raise TransportError("connection timed out (the kernel is gone)")
            if self.refuse_connects > 0:
                self.refuse_connects -= 1
                raise TransportError("connection refused")
            self.connects += 1

    def facts(self) -> dict[str, Any]:
        self.workdir = f"/tmp/kmatrix.fault{len(self.plans)}"
        return {"uname": {"machine": "x86_64", "release": "6.1.0-fault"},
                "os_release": {"PRETTY_NAME": "Simulated"}, "btf": {"present": True},
                "libbpf": "1.1.2", "workdir": self.workdir, "inventory": {}}

    def events(self, plan: dict[str, Any]) -> Iterator[tuple[str, Optional[str]]]:
        """(line, fault) pairs: the agent's output for this plan; a fault ends it."""
        done = set(plan.get("resume_after") or [])
        yield json.dumps({"event": "hello", "pid": 4242}), None
        sent = 0
        for entry in plan.get("cases") or []:
            cid = entry.get("id")
            if cid in done:
                continue
            start = json.dumps({"event": "start", "case": cid})
            self.journal.append(start)
            yield start, None
            if self.die_after is not None and sent == self.die_after:
                self.die_after = None
                self.up = False
                yield "", "die"
                return
            result = json.dumps({"event": "result", "case": cid, "state": "pass",
                                 "duration": 0.01, "details": {"boot": self.boots}})
            self.journal.append(result)
            sent += 1
            if self.drop_after is not None and sent == self.drop_after:
                self.drop_after = None
                # The agent finishes on its own; only the connection went away.
                self._finish(plan, done, entry)
                yield result, "drop"
                return
            yield result, None
        yield json.dumps({"event": "cleanup", "after": {}, "removed": True}), None
        yield json.dumps({"event": "done"}), None

    def _finish(self, plan: dict[str, Any], done: set[str], upto: dict[str, Any]) -> None:
        rest = (plan.get("cases") or [])[(plan.get("cases") or []).index(upto) + 1:]
        for entry in rest:
            if entry.get("id") not in done:
                self.journal.append(json.dumps({"event": "start", "case": entry["id"]}))
                self.journal.append(json.dumps({
                    "event": "result", "case": entry["id"], "state": "pass",
                    "duration": 0.01, "details": {"boot": self.boots, "after_drop": True}}))


class _LaunchStream(Stream):
    def __init__(self, target: FakeTarget, stdin: bool) -> None:
        super().__init__()
        self.target = target
        self._stdin = stdin
        self._buf = b""
        self._want: Optional[int] = None
        self._plan: Optional[dict[str, Any]] = None
        self._closed = False
        self._sends = 0

    def send(self, data: bytes) -> None:
        if not self._stdin:
            super().send(data)  # refuses, as every transport's stream does
        self._sends += 1
        if self._sends == 1:
            return  # the launcher's source and set-up line
        self._buf += data
        if self._want is None and b"\n" in self._buf:
            head, _, rest = self._buf.partition(b"\n")
            self._want, self._buf = int(json.loads(head)["bundle"]), rest
        if self._want is not None and len(self._buf) >= self._want:
            with zipfile.ZipFile(io.BytesIO(self._buf[:self._want])) as z:
                self._plan = json.loads(z.read("plan.json"))

    def end_input(self) -> None:
        pass

    def set_idle_timeout(self, seconds: float) -> None:
        pass

    def lines(self) -> Iterator[str]:
        yield json.dumps({"event": "facts", "facts": self.target.facts()})
        if self._plan is None:
            yield json.dumps({"event": "aborted", "removed": True})
            self.returncode = 0
            return
        self.target.plans.append(self._plan)
        for line, fault in self.target.events(self._plan):
            if self._closed:
                return
            if fault is not None:
                if line:
                    yield line
                raise TransportError(f"connection lost ({fault})")
            yield line
        self.returncode = 0

    def close(self) -> None:
        self._closed = True


class _FollowStream(Stream):
    """kmatrix_agent.follow: the journal, then the agent's exit."""

    def __init__(self, target: FakeTarget) -> None:
        super().__init__()
        self.target = target

    def lines(self) -> Iterator[str]:
        yield from list(self.target.journal)
        yield json.dumps({"event": "done"})
        self.returncode = 0

    def set_idle_timeout(self, seconds: float) -> None:
        pass

    def close(self) -> None:
        pass


class FaultTransport(Transport):
    def __init__(self, host: Host, target: FakeTarget) -> None:
        super().__init__(host)
        self.target = target
        self.connected = False

    def connect(self) -> None:
        self.target.connect()
        self.connected = True

    def _need(self) -> None:
        if not (self.connected and self.target.up):
            raise TransportError("not connected")
        self._count()

    def run(self, argv: list[str], *, timeout: float, stdin: Optional[bytes] = None) -> Completed:
        argv = check_argv(argv)
        self._need()
        if argv[:2] == ["sh", "-c"] and "journal.jsonl" in argv[2]:
            # A restart kept /tmp: the old journal, then the workdir goes.
            return Completed(0, "".join(x + "\n" for x in self.target.journal).encode(), b"")
        return Completed(0, b"", b"")  # kill, rm -rf and the clean-up script

    def stream(self, argv: list[str], *, idle_timeout: float, stdin: bool = False) -> Stream:
        argv = check_argv(argv)
        self._need()
        if "kmatrix_agent.follow" in argv:
            return _FollowStream(self.target)
        return _LaunchStream(self.target, stdin)

    def put(self, local: Path, remote: str, mode: int = 0o600) -> None:
        self._need()

    def get(self, remote: str, local: Path) -> None:
        self._need()

    def alive(self, timeout: float = 5.0) -> bool:
        return self.connected and self.target.up

    def close(self) -> None:
        self.connected = False


@contextlib.contextmanager
def simulated_targets(targets: dict[str, FakeTarget]) -> Iterator[None]:
    """``transport: faultsim`` hosts reach ``targets[host.name]``."""
    register_transport("faultsim", lambda host, **_kw: FaultTransport(host, targets[host.name]))
    try:
        yield
    finally:
        register_transport("faultsim", None)
