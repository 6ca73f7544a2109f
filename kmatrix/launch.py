"""The controller's half of the one exec per host (kmatrix/agent/launch.py is the
target's half and documents the protocol).

``Launch.start()`` execs the loader, sends the launcher source and the set-up
line, and returns the target's facts (the first line it prints). The runner then
builds the cases against those facts and calls ``send_bundle()``, or ``abort()``
when there is nothing to run; the agent's events follow on ``lines``.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import time
from collections.abc import Iterator
from typing import Any, Optional

from kmatrix.bundle import agent_source
from kmatrix.errors import KmatrixError
from kmatrix.transport.base import Stream, Transport

# Reads N bytes of source from stdin and runs them under a name that is not
# __main__, so preflight.py's own main() stays quiet. Short: it travels in argv.
LOADER = ('import sys;exec(compile(sys.stdin.buffer.read(int(sys.argv[1])),'
          '"kmatrix-launch","exec"),{"__name__":"kmatrix_launch"})')
FACTS_TIMEOUT = 120.0  # the preflight's bpftool calls and tracefs probe under TCG


@functools.lru_cache(maxsize=1)
def source() -> bytes:
    """preflight.py, then launch.py, which calls the preflight's collect()."""
    return agent_source("preflight.py", "launch.py")


def setup(restored: bool) -> dict[str, Any]:
    """The set-up line: the time and fresh entropy for a guest restored from a
    snapshot (its clock and RNG state are the snapshot's); nothing otherwise."""
    if not restored:
        return {}
    return {"clock": time.time(), "entropy": os.urandom(64).hex()}


class Launch:
    """One agent exec on a target: facts first, then the bundle, then the events."""

    def __init__(self, transport: Transport, python: str, label: str,
                 set_up: Optional[dict[str, Any]] = None) -> None:
        self.transport = transport
        self.python = python
        self.label = label
        self.set_up = set_up or {}
        self.stream: Optional[Stream] = None
        self.lines: Iterator[str] = iter(())
        self.facts: dict[str, Any] = {}

    def start(self, hint: str = "") -> dict[str, Any]:
        src = source()
        self.stream = self.transport.stream([self.python, "-c", LOADER, str(len(src))],
                                            idle_timeout=FACTS_TIMEOUT, stdin=True)
        self.lines = self.stream.lines()
        self.stream.send(src + json.dumps(self.set_up).encode() + b"\n")
        for line in self.lines:
            ev = _json(line)
            if ev.get("event") == "facts" and isinstance(ev.get("facts"), dict):
                self.facts = ev["facts"]
                return self.facts
        err = self.stream.stderr_tail.decode(errors="replace").strip().splitlines()
        raise KmatrixError(f"host {self.label}: preflight failed (exit {self.stream.returncode}): "
                           f"{' '.join(err[-3:]) or 'no output'}{hint}")

    def send_bundle(self, data: bytes) -> None:
        assert self.stream is not None
        head = {"bundle": len(data), "sha256": hashlib.sha256(data).hexdigest()}
        self.stream.send(json.dumps(head).encode() + b"\n")
        self.stream.send(data)  # not concatenated: one copy of a bundle per host is enough
        self.stream.end_input()

    def abort(self, why: str, wait: float = 30.0) -> bool:
        """Tell the launcher there is nothing to run; True once it removed its workdir."""
        if self.stream is None:
            return False
        try:
            self.stream.set_idle_timeout(wait)
            self.stream.send(json.dumps({"abort": why}).encode() + b"\n")
            self.stream.end_input()
            for line in self.lines:
                ev = _json(line)
                if ev.get("event") == "aborted":
                    return bool(ev.get("removed"))
            return False
        except KmatrixError:
            return False
        finally:
            self.close()

    def close(self) -> None:
        if self.stream is not None:
            self.stream.close()


def _json(line: str) -> dict[str, Any]:
    try:
        ev = json.loads(line)
    except ValueError:
        return {}
    return ev if isinstance(ev, dict) else {}
