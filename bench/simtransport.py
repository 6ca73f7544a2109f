"""A simulated transport for scale benchmarks, plus a recorder that captures real runs.

``RecordingTransport`` wraps any real transport and writes a *trace*: one JSON
object per line (the preflight's stdout, each call's wall time, and every line
the agent printed with its arrival time relative to the agent's exec).
``SimTransport`` replays such a trace with injected latency and jitter per
round trip, so the real ``Run``/``HostRun`` code can drive a thousand
"hosts" on one machine: nothing on the target side runs, every wait is a
``time.sleep`` (which releases the GIL, like a socket wait does). Hosts reach
them through ``open_transport`` by name: ``transport: sim`` inside ``simulated()``,
``transport: record`` (a real SSH host, recorded) inside ``recording()``; both
names exist only in code that builds ``Host`` objects, never in hosts.yaml.

Trace format (JSON lines)::

    {"kind": "meta", "host": "loop", "arch": "x86_64"}
    {"kind": "facts", "elapsed": 0.51, "stdout": "...facts JSON..."}
    {"kind": "send", "size": 286488, "elapsed": 0.01}
    {"kind": "stream", "argv": [...], "elapsed": 1.16, "returncode": 0}
    {"kind": "line", "t": 0.93, "line": "{\\"event\\": \\"start\\", ...}"}

The agent's exec (kmatrix/launch.py) first prints the facts: they are stored in
full (the runner parses them per host, so their size is part of the controller's
memory cost), and the agent's lines are timed from the moment its bundle was
sent. Outputs of other commands are kept up to 64 KiB; bigger ones (the BTF)
keep only their size. Traces recorded before the one-exec launcher (a ``run``
of ``python3 -`` for the preflight, a ``put`` of the bundle) still load.
"""

from __future__ import annotations

import contextlib
import json
import random
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Optional

from kmatrix.errors import TransportError
from kmatrix.transport.base import Completed, Stream, Transport, check_argv

if TYPE_CHECKING:
    from kmatrix.inventory import Host

AGENT_EVENTS = ("start", "result")  # "first case event" for agent start-up figures
MAX_KEPT_STDOUT = 64 * 1024  # bigger outputs (the BTF blob) are kept as a size only


# ------------------------------------------------------------------ trace


@dataclass
class Trace:
    """What one real host run looked like from the controller's side."""

    host: str = ""
    arch: str = ""
    preflight_stdout: str = ""
    preflight_elapsed: float = 0.0
    put_elapsed: float = 0.0
    put_size: int = 0
    stream_elapsed: float = 0.0
    lines: list[tuple[float, str]] = field(default_factory=list)  # (seconds after exec, line)
    ops: list[dict[str, Any]] = field(default_factory=list)  # every recorded op, in order
    _template: Optional[tuple[bytes, bytes]] = field(default=None, repr=False, compare=False)
    _cases: Optional[list[Optional[str]]] = field(default=None, repr=False, compare=False)

    def preflight_template(self) -> tuple[bytes, bytes]:
        """The preflight's stdout split around its workdir value (computed once)."""
        if self._template is None:
            facts = json.loads(self.preflight_stdout.strip().splitlines()[-1])
            facts["workdir"] = "\0WORKDIR\0"
            head, _, tail = (json.dumps(facts) + "\n").partition('"\\u0000WORKDIR\\u0000"')
            self._template = ((head + '"').encode(), ('"' + tail).encode())
        return self._template

    def line_cases(self) -> list[Optional[str]]:
        """The case id each agent line is about (None for hello/done), computed once."""
        if self._cases is None or len(self._cases) != len(self.lines):
            out: list[Optional[str]] = []
            for _t, line in self.lines:
                try:
                    case = json.loads(line).get("case")
                except (ValueError, AttributeError):
                    case = None
                out.append(case if isinstance(case, str) else None)
            self._cases = out
        return self._cases

    @property
    def first_case_event(self) -> Optional[float]:
        """Seconds from the agent's exec to its first start/result line."""
        for t, line in self.lines:
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if isinstance(ev, dict) and ev.get("event") in AGENT_EVENTS:
                return t
        return None

    def results(self) -> list[dict[str, Any]]:
        out = []
        for _t, line in self.lines:
            try:
                ev = json.loads(line)
            except ValueError:
                continue
            if isinstance(ev, dict) and ev.get("event") == "result":
                out.append(ev)
        return out

    def dump(self, path: Path) -> None:
        rows: list[dict[str, Any]] = [{"kind": "meta", "host": self.host, "arch": self.arch}]
        rows.extend(self.ops)
        rows.extend({"kind": "line", "t": round(t, 6), "line": line} for t, line in self.lines)
        Path(path).write_text("".join(json.dumps(r, sort_keys=True) + "\n" for r in rows))

    @classmethod
    def load(cls, path: Path) -> Trace:
        tr = cls()
        for n, raw in enumerate(Path(path).read_text().splitlines(), 1):
            if not raw.strip():
                continue
            try:
                row = json.loads(raw)
            except ValueError as e:
                raise ValueError(f"{path}:{n}: not JSON: {e}") from None
            tr._absorb(row)
        return tr

    def _absorb(self, row: dict[str, Any]) -> None:
        kind = row.get("kind")
        if kind == "meta":
            self.host, self.arch = row.get("host", ""), row.get("arch", "")
            return
        if kind == "line":
            self.lines.append((float(row["t"]), str(row["line"])))
            return
        self.ops.append(row)
        if kind == "facts" or (kind == "run" and row.get("argv", [None, None])[1:2] == ["-"]):
            self.preflight_stdout = row.get("stdout", "")
            self.preflight_elapsed = float(row.get("elapsed", 0.0))
        elif kind in ("put", "send"):
            self.put_elapsed = float(row.get("elapsed", 0.0))
            self.put_size = int(row.get("size", 0))
        elif kind == "stream":
            self.stream_elapsed = float(row.get("elapsed", 0.0))


class _RecordingStream(Stream):
    def __init__(self, inner: Stream, owner: RecordingTransport, argv: list[str]) -> None:
        super().__init__()
        self._inner = inner
        self._owner = owner
        self._argv = argv
        self._t0 = time.monotonic()

    def lines(self) -> Iterator[str]:
        tr = self._owner.trace
        for line in self._inner.lines():
            if line.startswith('{"event": "facts"'):  # the launcher's first line
                facts = json.loads(line).get("facts")
                tr.preflight_stdout = json.dumps(facts) + "\n"
                tr.preflight_elapsed = time.monotonic() - self._t0
                tr.ops.append({"kind": "facts", "stdout": tr.preflight_stdout,
                               "elapsed": round(tr.preflight_elapsed, 6)})
            else:
                tr.lines.append((time.monotonic() - self._t0, line))
            yield line
        self.returncode = self._inner.returncode

    def send(self, data: bytes) -> None:
        t = time.monotonic()
        self._inner.send(data)
        self._owner.trace.ops.append({"kind": "send", "size": len(data),
                                      "elapsed": round(time.monotonic() - t, 6)})

    def end_input(self) -> None:
        self._inner.end_input()
        self._t0 = time.monotonic()  # the agent's lines are timed from its bundle

    @property
    def stderr_tail(self) -> bytes:
        return self._inner.stderr_tail

    def set_idle_timeout(self, seconds: float) -> None:
        self._inner.set_idle_timeout(seconds)

    def close(self) -> None:
        self._inner.close()
        if self.returncode is None:
            self.returncode = self._inner.returncode
        self._owner.trace.ops.append({"kind": "stream", "argv": self._argv,
                                      "elapsed": round(time.monotonic() - self._t0, 6),
                                      "returncode": self.returncode})
        self._owner.trace.stream_elapsed = time.monotonic() - self._t0


class RecordingTransport(Transport):
    """Delegates to a real transport and records a ``Trace`` of what happened."""

    def __init__(self, inner: Transport) -> None:
        super().__init__(inner.host)
        self.inner = inner
        self.trace = Trace(host=inner.host.name, arch=inner.host.arch)

    @property  # type: ignore[override]
    def round_trips(self) -> int:
        return self.inner.round_trips

    @round_trips.setter
    def round_trips(self, _v: int) -> None:
        pass  # the inner transport counts; base.__init__ assigns 0 here

    def connect(self) -> None:
        t = time.monotonic()
        self.inner.connect()
        self.trace.ops.append({"kind": "connect", "elapsed": round(time.monotonic() - t, 6)})

    def run(self, argv: list[str], *, timeout: float, stdin: Optional[bytes] = None) -> Completed:
        t = time.monotonic()
        res = self.inner.run(argv, timeout=timeout, stdin=stdin)
        el = time.monotonic() - t
        row: dict[str, Any] = {"kind": "run", "argv": list(argv), "elapsed": round(el, 6),
                               "returncode": res.returncode, "stdout_size": len(res.stdout)}
        if argv[1:2] == ["-"] or len(res.stdout) <= MAX_KEPT_STDOUT:
            row["stdout"] = res.stdout.decode("utf-8", errors="replace")
        if argv[1:2] == ["-"]:  # the preflight: its facts are what the runner keeps per host
            self.trace.preflight_stdout = row["stdout"]
            self.trace.preflight_elapsed = el
        self.trace.ops.append(row)
        return res

    def stream(self, argv: list[str], *, idle_timeout: float, stdin: bool = False) -> Stream:
        return _RecordingStream(self.inner.stream(argv, idle_timeout=idle_timeout, stdin=stdin),
                                self, list(argv))

    def put(self, local: Path, remote: str, mode: int = 0o600) -> None:
        t = time.monotonic()
        self.inner.put(local, remote, mode)
        el = time.monotonic() - t
        size = Path(local).stat().st_size
        self.trace.ops.append({"kind": "put", "size": size, "elapsed": round(el, 6)})
        self.trace.put_elapsed, self.trace.put_size = el, size

    def get(self, remote: str, local: Path) -> None:
        t = time.monotonic()
        self.inner.get(remote, local)
        self.trace.ops.append({"kind": "get", "elapsed": round(time.monotonic() - t, 6)})

    def alive(self, timeout: float = 5.0) -> bool:
        return self.inner.alive(timeout)

    def close(self) -> None:
        self.inner.close()


# ------------------------------------------------------------------ simulation


@dataclass
class SimModel:
    """How the simulated network and target behave.

    ``latency`` is the round-trip time added to every exec and SFTP op; ``jitter``
    is the half-width of a uniform random spread around it. The SSH handshake
    costs ``handshake_rtts`` round trips. Agent output is replayed with the
    recorded timing, stretched by ``time_scale``; ``bandwidth`` (bytes/s) adds
    transfer time to uploads. ``seed`` makes the jitter reproducible per host.
    """

    latency: float = 0.02
    jitter: float = 0.005
    handshake_rtts: int = 4
    bandwidth: float = 12.5e6  # 100 Mbit/s
    time_scale: float = 1.0
    seed: int = 1

    def delay(self, rng: random.Random, rtts: float = 1.0) -> float:
        j = rng.uniform(-self.jitter, self.jitter) if self.jitter > 0 else 0.0
        return max(0.0, self.latency * rtts + j)


class SimStream(Stream):
    """Replays the recorded agent lines with their recorded spacing (plus latency)."""

    def __init__(self, lines: list[tuple[float, str]], first_delay: float, scale: float,
                 stop: Callable[[], bool]) -> None:
        super().__init__()
        self._lines = lines
        self._first = first_delay
        self._scale = scale
        self._closed = False
        self._stop = stop

    def lines(self) -> Iterator[str]:
        t0 = time.monotonic()
        for t, line in self._lines:
            if self._closed or self._stop():
                return
            wait = t0 + self._first + t * self._scale - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            yield line
        self.returncode = 0

    def close(self) -> None:
        self._closed = True


class SimLaunchStream(Stream):
    """The agent's one exec (kmatrix/launch.py): the recorded facts with a workdir
    of this host's own, then, once the bundle came, the recorded agent lines of
    the cases its plan lists (those in resume_after left out)."""

    def __init__(self, owner: SimTransport, first_delay: float) -> None:
        super().__init__()
        self._owner = owner
        self._first = first_delay
        self._plan_doc: Optional[dict[str, Any]] = None
        self._want = 0  # bytes of bundle still to come after its header
        self._body: list[bytes] = []
        self._ended = False
        self._closed = False

    def send(self, data: bytes) -> None:
        bw = self._owner.model.bandwidth
        time.sleep(len(data) / bw if bw > 0 else 0.0)
        if not self._want and data.startswith(b'{"bundle"'):
            head, _, data = data.partition(b"\n")
            try:
                self._want = int(json.loads(head)["bundle"])
            except (ValueError, KeyError, TypeError):
                return
        if self._want and data:
            # Keep only the plan, as a real target keeps the bytes, not the controller.
            self._body.append(data[:self._want])
            self._want -= min(len(data), self._want)
            if not self._want:
                self._plan_doc = _plan_of(b"".join(self._body))
                self._body = []

    def end_input(self) -> None:
        self._ended = True

    def lines(self) -> Iterator[str]:
        owner, tr = self._owner, self._owner.trace
        time.sleep(self._first + tr.preflight_elapsed * owner.model.time_scale)
        head, tail = tr.preflight_template()
        workdir = f"/tmp/kmatrix.sim{uuid.uuid4().hex[:8]}".encode()
        yield '{"event": "facts", "facts": ' + (head + workdir + tail).decode().strip() + "}"
        plan = self._plan_doc if self._ended else None
        if plan is None:  # aborted, or the controller went away
            yield json.dumps({"event": "aborted", "removed": True})
            self.returncode = 0
            return
        wanted = {e.get("id") for e in plan.get("cases") or []}
        done = set(plan.get("resume_after") or [])
        lines = [(t, line) for (t, line), case in zip(tr.lines, tr.line_cases())
                 if case is None or (case in wanted and case not in done)]
        owner._journal.extend(x for _t, x in lines)
        yield from SimStream(lines, 0.0, owner.model.time_scale,
                             lambda: self._closed or owner._closed.is_set()).lines()
        self.returncode = 0

    def close(self) -> None:
        self._closed = True


def _plan_of(bundle: bytes) -> Optional[dict[str, Any]]:
    import io
    import zipfile

    try:
        with zipfile.ZipFile(io.BytesIO(bundle)) as z:
            plan = json.loads(z.read("plan.json"))
    except (ValueError, KeyError, zipfile.BadZipFile):
        return None
    return plan if isinstance(plan, dict) else None


class SimTransport(Transport):
    """A target that answers from a ``Trace`` after simulated network delays.

    It understands what the runner sends: the agent's one exec (``python3 -c
    LOADER``, see ``SimLaunchStream``), the preflight alone (``python3 -``, for
    ``kmatrix probe``), ``cat`` of the BTF or the journal, ``rm -rf`` of the
    workdir and ``true``.
    """

    def __init__(self, host: Host, trace: Trace, model: SimModel,
                 btf: Optional[bytes] = None) -> None:
        super().__init__(host)
        self.trace = trace
        self.model = model
        self.btf = btf
        # One RNG per host, seeded from the host name: runs are reproducible.
        self._rng = random.Random(f"{model.seed}:{host.name}")
        self._rng_lock = threading.Lock()
        self._connected = False
        self._closed = threading.Event()
        self._journal: list[str] = []

    def _wait(self, rtts: float = 1.0, extra: float = 0.0) -> None:
        with self._rng_lock:
            d = self.model.delay(self._rng, rtts)
        time.sleep(d + extra)

    def connect(self) -> None:
        self._wait(self.model.handshake_rtts)
        self._connected = True

    def _need(self) -> None:
        if not self._connected:
            raise TransportError(f"{self.host.label}: not connected")

    def run(self, argv: list[str], *, timeout: float, stdin: Optional[bytes] = None) -> Completed:
        argv = check_argv(argv)
        self._need()
        self._count()
        if argv[1:2] == ["-"]:
            # The preflight: recorded facts, with a workdir of this host's own.
            self._wait(1.0, self.trace.preflight_elapsed * self.model.time_scale)
            head, tail = self.trace.preflight_template()
            workdir = f"/tmp/kmatrix.sim{uuid.uuid4().hex[:8]}".encode()
            return Completed(0, head + workdir + tail, b"")
        if argv[0] == "cat" and argv[1:] == ["/sys/kernel/btf/vmlinux"]:
            self._wait(1.0, len(self.btf or b"") / self.model.bandwidth)
            if self.btf is None:
                return Completed(1, b"", b"cat: /sys/kernel/btf/vmlinux: not simulated\n")
            return Completed(0, self.btf, b"")
        if argv[0] == "cat" and argv[-1].endswith("/journal.jsonl"):
            self._wait()
            return Completed(0, "".join(x + "\n" for x in self._journal).encode(), b"")
        if argv[0] == "true":
            self._wait()
            return Completed(0, b"", b"")
        # Anything else (the clean-up): the recorded op with the same program.
        rec = self._recorded_run(argv[0])
        if rec is None:
            self._wait()
            return Completed(127, b"", f"{argv[0]}: not simulated\n".encode())
        self._wait(1.0, float(rec.get("elapsed", 0.0)) * self.model.time_scale)
        return Completed(int(rec.get("returncode", 0)), str(rec.get("stdout", "")).encode(), b"")

    def _recorded_run(self, prog: str) -> Optional[dict[str, Any]]:
        for op in self.trace.ops:
            if op.get("kind") == "run" and (op.get("argv") or [None])[0] == prog:
                return op
        return None

    def stream(self, argv: list[str], *, idle_timeout: float, stdin: bool = False) -> Stream:
        argv = check_argv(argv)
        self._need()
        self._count()
        with self._rng_lock:
            first = self.model.delay(self._rng, 0.5)  # one way: exec request reaches target
        if argv[1:2] == ["-c"] and stdin:
            return SimLaunchStream(self, first)
        # Anything else streamed (the journal follower): the recorded agent lines.
        return SimStream(list(self.trace.lines), first, self.model.time_scale,
                         self._closed.is_set)

    def put(self, local: Path, remote: str, mode: int = 0o600) -> None:
        self._need()
        self._count()
        size = Path(local).stat().st_size
        self._wait(1.0, size / self.model.bandwidth if self.model.bandwidth > 0 else 0.0)

    def get(self, remote: str, local: Path) -> None:
        self._need()
        self._count()
        self._wait()
        raise FileNotFoundError(f"{self.host.label}: no such remote file: {remote}")

    def alive(self, timeout: float = 5.0) -> bool:
        return self._connected and not self._closed.is_set()

    def close(self) -> None:
        self._connected = False
        self._closed.set()


# ------------------------------------------------------------------ wiring


@contextlib.contextmanager
def registered(name: str, factory: Callable[[Host], Transport]) -> Iterator[None]:
    """Hosts whose ``transport`` is ``name`` get ``factory(host)`` from ``open_transport``
    (reconnects included) while the context lasts."""
    from kmatrix.transport import register_transport

    register_transport(name, lambda host, **_kw: factory(host))
    try:
        yield
    finally:
        register_transport(name, None)


def simulated(trace: Trace, model: SimModel, btf: Optional[bytes] = None
              ) -> contextlib.AbstractContextManager[None]:
    """``transport: sim`` hosts replay ``trace`` under ``model``."""
    return registered("sim", lambda host: SimTransport(host, trace, model, btf))


def recording(traces: dict[str, Trace]) -> contextlib.AbstractContextManager[None]:
    """``transport: record`` hosts are real SSH hosts whose calls are recorded in
    ``traces`` (by host name; a reconnect replaces it: the last session counts)."""
    import dataclasses

    from kmatrix.transport.ssh import SSHTransport

    def factory(host: Host) -> Transport:
        rt = RecordingTransport(SSHTransport(dataclasses.replace(host, transport="ssh")))
        traces[host.name] = rt.trace
        return rt

    return registered("record", factory)
