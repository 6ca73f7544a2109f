"""Live progress for a run: one line per event, prefixed with the host.

On a TTY the line carries running counts; in CI logs it is plain text. Thread-safe,
because hosts run concurrently.
"""

from __future__ import annotations

import sys
import threading
import time
from collections import Counter
from typing import Optional, TextIO


class Progress:
    def __init__(self, stream: Optional[TextIO] = None, quiet: bool = False) -> None:
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self._lock = threading.Lock()
        self._counts: dict[str, Counter[str]] = {}
        self._t0 = time.monotonic()

    def host(self, host: str, message: str) -> None:
        self._emit(f"[{host}] {message}")

    def case(self, host: str, index: int, total: int, case_id: str, verdict: str, reason: str = "") -> None:
        with self._lock:
            c = self._counts.setdefault(host, Counter())
            c[verdict] += 1
            counts = " ".join(f"{k}={v}" for k, v in sorted(c.items()))
        tail = f" - {reason}" if reason and verdict != "pass" else ""
        self._emit(f"[{host}] case {index}/{total} {case_id}: {verdict.upper()}{tail}  ({counts})")

    def _emit(self, line: str) -> None:
        if self.quiet:
            return
        stamp = f"{time.monotonic() - self._t0:7.1f}s"
        with self._lock:
            print(f"{stamp} {line}", file=self.stream, flush=True)
