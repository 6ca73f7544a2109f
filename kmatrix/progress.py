"""Live progress for a run, one row per host.

On a terminal it is a table drawn by rich.live.Live: phase (boot, connect,
build, run...), case N/M, the case that just finished, pass/fail/skip/other
counts. Notable events (errors, failures, reconnects) print above the table
through Live's console so they stay in the scrollback. When the stream is not a
terminal (CI logs), with NO_COLOR or TERM=dumb, every event is one plain line
instead: ``  12.3s [host] message``. With -q nothing is printed.

The runner calls ``host(name, message)`` and ``case(...)``; the phase is read
from the message when the caller does not say it with ``phase(...)``.
Thread-safe, because hosts run concurrently.

Failure reasons and messages carry text from the target (kernel strings, verifier
and check output), so every line printed here and every table cell has its control
characters escaped (``\x1b``...): a target must not be able to drive the terminal.
"""

from __future__ import annotations

import atexit
import os
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Optional, TextIO

from kmatrix.errors import printable

# Message prefix -> phase, for callers that only send text.
_PHASES = (
    ("ERROR", "error"),
    ("connecting", "connect"),
    ("booting", "boot"),
    ("building image", "boot"),
    ("guest up", "boot"),
    ("kernel ", "preflight"),
    ("fetching /sys/kernel/btf", "btf"),
    ("building", "build"),
    ("uploading", "upload"),
    ("rerun", "rerun"),
    ("connection lost", "reconnect"),
    ("reconnect", "reconnect"),
)
_NOTABLE = ("ERROR", "connection lost", "reconnect", "left on the target", "reset_cmd",
            "rebooting", "following the journal")
_COUNTED = ("pass", "fail", "skip")
_STYLE = {"pass": "green", "fail": "bold red", "skip": "dim", "xfail": "yellow",
          "xpass": "magenta", "error": "bold magenta", "flaky": "cyan"}


def phase_of(message: str) -> Optional[str]:
    for prefix, phase in _PHASES:
        if message.startswith(prefix):
            return phase
    return None


@dataclass
class HostState:
    phase: str = "waiting"
    done: int = 0
    total: int = 0
    last_case: str = ""
    last_verdict: str = ""
    message: str = ""
    counts: Counter[str] = field(default_factory=Counter)
    started: float = field(default_factory=time.monotonic)


def want_live(stream: TextIO) -> bool:
    """A live table only on a real terminal that may be drawn on (not TERM=dumb, no
    NO_COLOR: https://no-color.org); KMATRIX_PROGRESS=plain|live overrides."""
    forced = os.environ.get("KMATRIX_PROGRESS", "").lower()
    if forced in ("plain", "live"):
        return forced == "live"
    if os.environ.get("TERM") == "dumb" or os.environ.get("NO_COLOR"):
        return False
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


class Progress:
    def __init__(self, stream: Optional[TextIO] = None, quiet: bool = False,
                 live: Optional[bool] = None) -> None:
        self.stream = stream or sys.stderr
        self.quiet = quiet
        self.live = (not quiet) and (want_live(self.stream) if live is None else live)
        self._lock = threading.RLock()
        self._hosts: dict[str, HostState] = {}
        self._t0 = time.monotonic()
        self._live: Any = None  # rich.live.Live, started with the first host row
        self._console: Any = None
        self._closed = False

    # -- events ---------------------------------------------------------------
    def host(self, host: str, message: str) -> None:
        with self._lock:
            st = self._state(host)
            phase = phase_of(message)
            if phase:
                st.phase = phase
            st.message = message
            if self.live:
                if host != "kmatrix" and any(message.startswith(p) or p in message
                                             for p in _NOTABLE):
                    self._print(f"[{host}] {message}")
                elif host == "kmatrix":
                    self._print(message)
                self._refresh()
                return
        self._emit(f"[{host}] {message}")

    def phase(self, host: str, phase: str, total: Optional[int] = None) -> None:
        """Explicit phase change (e.g. "run" with the number of cases)."""
        with self._lock:
            st = self._state(host)
            st.phase = phase
            if total is not None:
                st.total = total
            if self.live:
                self._refresh()
                return
        self._emit(f"[{host}] {phase}" + (f" ({total} case(s))" if total is not None else ""))

    def case(self, host: str, index: int, total: int, case_id: str, verdict: str,
             reason: str = "") -> None:
        with self._lock:
            st = self._state(host)
            st.counts[verdict] += 1
            st.done, st.total = index, total
            st.last_case, st.last_verdict = case_id, verdict
            st.phase = "done" if total and index >= total else "run"
            counts = " ".join(f"{k}={v}" for k, v in sorted(st.counts.items()))
            tail = f" - {reason}" if reason and verdict != "pass" else ""
            if self.live:
                if verdict in ("fail", "error"):
                    self._print(f"[{host}] {case_id}: {verdict.upper()}{tail}")
                self._refresh()
                return
        self._emit(f"[{host}] case {index}/{total} {case_id}: {verdict.upper()}{tail}  ({counts})")

    def snapshot(self) -> dict[str, HostState]:
        with self._lock:
            return {k: HostState(v.phase, v.done, v.total, v.last_case, v.last_verdict,
                                 v.message, Counter(v.counts), v.started)
                    for k, v in self._hosts.items()}

    def close(self) -> None:
        """Stop redrawing; the last table stays on screen with the cursor below it."""
        with self._lock:
            self._closed = True
            if self._live is not None:
                self._live.stop()  # also shows the cursor again
                atexit.unregister(self.close)
                self._live = None

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- output ---------------------------------------------------------------
    def _state(self, host: str) -> HostState:
        st = self._hosts.get(host)
        if st is None:
            st = self._hosts[host] = HostState()
        return st

    def _emit(self, line: str) -> None:
        if self.quiet:
            return
        stamp = f"{time.monotonic() - self._t0:7.1f}s"
        safe = printable(line, keep="\t")  # one event, one line: a target's \n is shown, not obeyed
        with self._lock:
            print(f"{stamp} {safe}", file=self.stream, flush=True)

    # rich.live.Live redraws the table in place; what is printed through its console
    # goes above the table. Nothing is drawn after close(), so whatever the caller
    # prints then is never overwritten.
    def _print(self, text: str) -> None:
        if self._closed:
            return
        from rich.text import Text

        stamp = f"{time.monotonic() - self._t0:7.1f}s "
        # Text, never markup, and escaped: the target's text is shown, not obeyed.
        self._rich_console().print(Text(printable(stamp + text, keep="\t")), soft_wrap=True)

    def _refresh(self) -> None:
        if self._closed or not [h for h in self._hosts if h != "kmatrix"]:
            return
        console = self._rich_console()
        console.width = self._width()
        if self._live is None:
            from rich.live import Live

            self._live = Live(self._table(), console=console, auto_refresh=False,
                              redirect_stdout=False, redirect_stderr=False)
            self._live.start()
            atexit.register(self.close)  # a caller that never closes still gets its cursor back
        else:
            self._live.update(self._table(), refresh=True)

    def _rich_console(self) -> Any:
        if self._console is None:
            from rich.console import Console

            self._console = Console(file=self.stream, force_terminal=True, width=self._width(),
                                    soft_wrap=False)
        return self._console

    def _width(self) -> int:
        try:
            return max(60, os.get_terminal_size(self.stream.fileno()).columns - 1)
        except (AttributeError, OSError, ValueError):
            return 119

    def _table(self) -> Any:
        from rich.table import Table
        from rich.text import Text

        t = Table(title=f"kmatrix  {time.monotonic() - self._t0:.0f}s", title_justify="left",
                  expand=False)
        for col in ("host", "phase", "cases", "pass", "fail", "skip", "other", "last"):
            t.add_column(col, no_wrap=col != "last",
                         justify="right" if col in _COUNTED + ("other", "cases") else "left")
        for name, st in self._hosts.items():
            if name == "kmatrix":
                continue
            other = sum(v for k, v in st.counts.items() if k not in _COUNTED)
            cases = f"{st.done}/{st.total}" if st.total else "-"
            # Cells are Text (never console markup) and escaped: rich passes ESC through.
            last = (Text(f"{printable(st.last_case)} ", style="")
                    + Text(printable(st.last_verdict), style=_STYLE.get(st.last_verdict, ""))
                    if st.last_case and st.phase in ("run", "done", "rerun")
                    else Text(printable(st.message)))
            phase_style = {"error": "bold red", "done": "green"}.get(st.phase, "cyan")
            t.add_row(Text(printable(name)), Text(printable(st.phase), style=phase_style), cases,
                      Text(str(st.counts["pass"]), style="green"),
                      Text(str(st.counts["fail"]), style="red" if st.counts["fail"] else ""),
                      str(st.counts["skip"]), str(other), last)
        return t
