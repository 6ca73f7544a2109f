"""Run the selected cases on every selected host, hosts concurrently.

Per host, in a fixed number of round trips whatever the number of cases:
boot (lab hosts only) → connect → ONE exec (kmatrix/launch.py): the launcher
prints the facts (and makes a 0700 workdir), the controller fetches the BTF if
it has not cached it (a second exec, cold runs only), builds, and sends the
agent bundle down the same exec's stdin; the agent streams its JSON lines and
cleans up before it exits. A controller-side clean-up exec runs only when the
agent could not. A dropped connection is retried with backoff and the agent's
journal on the target tells what already finished, so nothing finished is lost
or run twice; a re-launched agent gets a new plan whose resume_after says what
already ran.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import hashlib
import json
import shutil
import threading
import time
import traceback
import uuid
from concurrent.futures import ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional

from kmatrix import __version__, results
from kmatrix.catalog import Case
from kmatrix.cleanup import RunTrace, clean_target
from kmatrix.errors import KmatrixError, TransportError
from kmatrix.expectations import os_tags
from kmatrix.hostrecord import HostRecord
from kmatrix.inventory import Host
from kmatrix.machine import check_facts, check_machine, machine_for
from kmatrix.progress import Progress
from kmatrix.results import CaseResult, HostResult, RunResult, as_text, is_number
from kmatrix.session import AFTER_RESTART, FIRST, Session, after_drop, with_tofu
from kmatrix.suite import Suite
from kmatrix.transport.base import OVERSIZE, CommandTimeout

MAX_EVENT_LINE = 1 << 20  # a hostile or broken agent cannot make us buffer more per line


@dataclass
class RunOptions:
    out_dir: Path
    cache_dir: Path
    run_id: str = ""
    pattern: Optional[list[str]] = None  # -k: substrings or globs over case ids (union)
    shard: Optional[tuple[int, int]] = None  # (i, n), 1-based
    rerun_failures: int = 0
    trust_on_first_use: bool = False
    reconnect_attempts: int = 3
    watchdog_grace: float = 60.0  # silence past the longest case timeout before probing the host
    health_rules: Any = None  # kmatrix.detectors.HealthRules; None = the shipped defaults
    stop: threading.Event = field(default_factory=threading.Event)


def new_run_id() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def _matches(case_id: str, pattern: str) -> bool:
    if any(ch in pattern for ch in "*?["):
        return fnmatch.fnmatchcase(case_id, pattern)
    return pattern in case_id


def select_cases(cases: list[Case], suite: Suite, pattern: Optional[str | list[str]],
                 shard: Optional[tuple[int, int]]) -> list[Case]:
    """Suite selection, then -k, then the shard: deterministic for a given catalogue.
    Several -k patterns select the union, as several --host do."""
    wanted = set(suite.selected([c.id for c in cases]))
    chosen = [c for c in cases if c.id in wanted]
    patterns = [pattern] if isinstance(pattern, str) else list(pattern or [])
    if patterns:
        chosen = [c for c in chosen if any(_matches(c.id, p) for p in patterns)]
    chosen.sort(key=lambda c: c.id)
    if shard:
        i, n = shard
        # Hash, not position, so adding a case moves only that case between shards.
        chosen = [c for c in chosen
                  if int(hashlib.sha256(c.id.encode()).hexdigest(), 16) % n == i - 1]
    return chosen


def env_tags(host: Host, facts: dict[str, Any]) -> list[str]:
    tags = set(host.tags or [])
    if host.qemu is not None:
        tags.update({"lab", "tcg"})
    tags.update(os_tags(facts.get("os_release") or {}))
    ftrace = facts.get("ftrace") or {}
    if not ftrace.get("usable", True):
        tags.add("ftrace-blocked")
    if facts.get("bpf_jit_enable") == 0:
        tags.add("jit-off")
    return sorted(tags)


def host_properties(facts: dict[str, Any], compiler: str) -> dict[str, str]:
    uname = facts.get("uname") or {}
    osr = facts.get("os_release") or {}
    return {
        "kernel.release": str(uname.get("release", "")),
        "os.release": str(osr.get("PRETTY_NAME", "")),
        "arch": str(uname.get("machine", "")),
        "compiler": compiler,
        "libbpf": str(facts.get("libbpf") or ""),
        "python": str(facts.get("python") or ""),
        "bpf_jit_enable": str(facts.get("bpf_jit_enable")),
        "ftrace.usable": str((facts.get("ftrace") or {}).get("usable")),
    }


class HostRun:
    """Everything that happens to one host during a run."""

    def __init__(self, host: Host, cases: list[Case], suite: Suite, opts: RunOptions,
                 progress: Progress, on_update: Any,
                 warn: Optional[Callable[[str], None]] = None) -> None:
        self.host = host
        self.cases = cases
        self._watch = 0.0  # the silence limit in force while streaming the agent
        self.suite = suite
        self.opts = opts
        self.progress = progress
        self.on_update = on_update  # called with no args whenever results change
        self.warn = warn or RunResult(run_id="").warn  # the run's warnings channel
        self.rec = HostRecord(host, cases, suite, progress, on_update, self.warn,
                              opts.health_rules)
        self.result = self.rec.result
        self.host_dir = opts.out_dir / host.arch / "hosts" / _safe(host.name)
        self.machine = machine_for(host, lambda m: self.progress.host(host.name, m),
                                   cache_dir=opts.cache_dir, host_dir=self.host_dir,
                                   stop=opts.stop, health_rules=opts.health_rules)
        self.session: Optional[Session] = None
        self.trace = RunTrace()  # what the run did on the target, for clean-up
        self._started_at = 0.0  # monotonic time of the running case's start event
        self._outcomes: dict[str, Any] = {}  # case id -> BuildOutcome (build: local)
        self._stream: Any = None
        self._current: Optional[str] = None  # case the agent said it started
        self._by_id: dict[str, Case] = {}
        self._wanted: list[str] = []
        self._launch: Any = None  # kmatrix.launch.Launch waiting for its bundle
        self._objects: dict[str, Path] = {}  # case id -> object built for this host
        self.recoveries = 0
        self.finished = False  # run() returned: self.result no longer changes

    # -- phases ---------------------------------------------------------------
    def run(self) -> HostResult:
        t0 = time.monotonic()
        try:
            self._run()
            self.result.complete = not self.opts.stop.is_set()
        except KmatrixError as e:
            self.result.error = str(e)
            self.progress.host(self.host.name, f"ERROR: {e}")
        except Exception as e:  # a bug must not take the other hosts down
            self.result.error = f"internal error: {type(e).__name__}: {e}"
            self.progress.host(self.host.name, f"ERROR: {self.result.error}")
            try:  # the traceback is for us, kept beside the results, not in them
                (self.host_dir / "internal-error.txt").write_text(traceback.format_exc())
            except OSError:
                pass
        finally:
            self.teardown()
            self.result.timings["total"] = round(time.monotonic() - t0, 3)
            self.finished = True
            self.on_update()
        return self.result

    def _phase(self, name: str, t0: float) -> None:
        self.result.timings[name] = round(time.monotonic() - t0, 3)

    @property
    def transport(self) -> Any:
        return self.session.transport if self.session is not None else None

    def open_session(self) -> dict[str, Any]:
        """Start the machine (boot a lab guest), connect, and gather the facts by
        starting the agent's one exec (the launcher waits for its bundle)."""
        host = self.host
        self.host_dir.mkdir(parents=True, exist_ok=True)
        t = time.monotonic()
        host = self.machine.start()
        if self.machine.kind == "lab":
            self._phase("boot", t)
            # How the guest came up, for results: a restored VM snapshot or a cold boot.
            self.result.properties["lab.boot"] = "snapshot" if self.machine.restored else "cold"
        t = time.monotonic()
        host = with_tofu(host, self.opts.trust_on_first_use)
        self.progress.host(host.name, f"connecting to {host.label}")
        self.session = Session(host, self.progress, self.opts.stop)
        self.session.connect(FIRST)
        self._phase("connect", t)

        t = time.monotonic()
        facts = self._start_launch()
        self._phase("preflight", t)
        self.result.facts = facts
        self.result.kernel = (facts.get("uname") or {}).get("release", "")
        self.result.os_release = (facts.get("os_release") or {}).get("PRETTY_NAME", "")
        self.result.env_tags = env_tags(host, facts)
        check_machine(host, facts)
        self.progress.host(host.name, f"kernel {self.result.kernel}, "
                           f"{self.result.os_release}, libbpf {facts.get('libbpf')}, "
                           f"tags {','.join(self.result.env_tags) or '-'}")
        return facts

    def _run(self) -> None:
        host = self.host
        facts = self.open_session()
        to_run = self.rec.skip_by_expectations(self.cases)
        if not to_run:
            self._abort_launch("every selected case is skipped by the suite's expectations")
            return
        t = time.monotonic()
        objects, compiler = self._build(to_run, facts)
        self._objects = objects
        self._phase("build", t)
        self.result.properties.update(host_properties(facts, compiler))
        # Who ran the commands: the login user, and whether it became root with sudo.
        self.result.properties.update(self.transport.identity_properties())
        if self.opts.stop.is_set():
            self._abort_launch("the run was stopped")
            return
        t = time.monotonic()
        self.progress.phase(self.host.name, "run", total=len(to_run))
        self._run_agent(to_run, only=None)
        cid = self._current
        if self.opts.stop.is_set() and cid in self.rec.catalogue and cid not in self.rec.done:
            # Ctrl-C/SIGTERM arrived while this case ran: say so instead of dropping it.
            self.rec.error(cid, "interrupted: the run was stopped (Ctrl-C or SIGTERM) while "
                                "this case ran")
        for attempt in range(self.opts.rerun_failures):
            failed = [c for c in self.result.cases if c.state == results.FAIL
                      and c.case in {x.id for x in to_run}]
            if not failed or self.opts.stop.is_set():
                break
            self.progress.host(host.name, f"rerun {attempt + 1}: {len(failed)} failed case(s)")
            self._rerun(to_run, failed)
        self._phase("cases", t)

    def _python_hint(self) -> str:
        return f" — is {self.host.python} (>= 3.7) installed on the target?"

    def _start_launch(self) -> dict[str, Any]:
        """Start the agent's one exec; its launcher prints the facts, makes the 0700
        workdir and waits for the bundle (kmatrix/launch.py)."""
        from kmatrix.launch import Launch, setup

        launch = Launch(self.transport, self.host.python, self.host.name,
                        setup(self.machine.restored))
        self._launch = launch  # so that interrupt() can end the wait for the facts
        try:
            facts = launch.start(self._python_hint())
        except BaseException as e:
            self._launch = None
            launch.close()
            if self.opts.stop.is_set() and isinstance(e, KmatrixError):
                # Our own interrupt closed the stream: nothing to say about python3.
                raise KmatrixError(f"host {self.host.name}: interrupted while the target "
                                   "gathered its facts") from None
            raise
        self.trace.workdir = str(facts.get("workdir") or "")
        if self.trace.workdir:
            self.trace.workdirs.append(self.trace.workdir)
        check_facts(self.host, facts)
        return facts

    def _abort_launch(self, why: str) -> None:
        """Nothing to run: the waiting launcher removes its workdir and exits."""
        launch, self._launch = self._launch, None
        if launch is not None and launch.abort(why) and self.trace.workdir:
            self.trace.removed.add(self.trace.workdir)
            self.result.facts["cleanup"] = {"confirmed": True, "reason": ""}

    def _build(self, cases: list[Case], facts: dict[str, Any]) -> tuple[dict[str, Path], str]:
        from kmatrix.build import Builder

        builder = Builder(self.opts.cache_dir / "build")
        if self.host.build == "remote":
            return {}, "remote: " + str(facts.get("clang") or "clang (not found)")
        btf = self.fetch_btf(facts)
        self.progress.host(self.host.name, f"building {len(cases)} case(s) against the target's BTF")
        outcomes = builder.build_host(cases, btf, self.host.arch)
        # A failed compile travels to the agent as the case's build_error: one route,
        # where the case's requirements are judged first (a kernel without dynptr
        # cannot compile a dynptr case) and the compiler's words are classified.
        self._outcomes = outcomes
        objects = {cid: o.obj_path for cid, o in outcomes.items() if o.ok and o.obj_path}
        return objects, builder.compiler_version()

    def fetch_btf(self, facts: dict[str, Any]) -> Path:
        from kmatrix.btfcache import fetch_btf

        return fetch_btf(self.transport, self.host.name, facts, self.opts.cache_dir,
                         lambda m: self.progress.host(self.host.name, m))

    def _bundle(self, cases: list[Case], objects: dict[str, Path]) -> bytes:
        """The bundle for this launch. Its plan lists only what is still to run, and
        resume_after names what already ran: the one channel for resuming."""
        from kmatrix import kmod_cache
        from kmatrix.bundle import make_bundle, make_plan

        kmods = kmod_cache.for_bundle(self.opts.cache_dir, cases, self.result.facts)
        done = self.rec.done
        plan = make_plan([c for c in cases if c.id not in done], run_id=self.opts.run_id,
                         workdir=self.trace.workdir, arch=self.host.arch, build=self.host.build,
                         outcomes=self._outcomes, resume_after=sorted(done), kmods=kmods)
        plan["clean_up"] = True  # the agent reaps, takes the inventory, removes its workdir
        out = self.host_dir / "agent.pyz"
        return make_bundle(cases, objects, plan, out, libbpf=self._libbpf(),
                           kmods=kmods).read_bytes()

    def _libbpf(self) -> Any:
        """The libbpf build the agent loads by path (default), so every column of
        the matrix runs the same libbpf; None for `libbpf: system`."""
        if self.host.libbpf != "bundled":
            self.result.properties["libbpf.mode"] = "system"
            return None
        from kmatrix.libbpf_bundle import fetch_libbpf

        lib = fetch_libbpf(self.host.arch, self.opts.cache_dir,
                           lambda m: self.progress.host(self.host.name, m))
        self.result.properties.update({
            "libbpf": lib.version, "libbpf.mode": "bundled", "libbpf.sha256": lib.sha256,
            "libbpf.source": f"Debian {lib.suite} {lib.deb}"})
        return lib

    # -- agent ----------------------------------------------------------------
    @property
    def _remote_bundle(self) -> str:
        return f"{self.trace.workdir}/agent.pyz"

    def _send_bundle(self, cases: list[Case], only: Optional[list[str]]) -> Any:
        """Hand the waiting launcher (or a new one) the bundle; returns the Launch."""
        launch, self._launch = self._launch, None
        if launch is None:  # a re-launch: after a hang, a reboot or for reruns
            self._start_launch()
            launch, self._launch = self._launch, None
        wanted = [c for c in cases if not only or c.id in only]
        launch.send_bundle(self._bundle(wanted, self._objects))
        self.trace.agent_ran = True
        return launch

    def _run_agent(self, cases: list[Case], only: Optional[list[str]]) -> None:
        """Drive the agent until every wanted case has a result, surviving drops and hangs."""
        by_id = {c.id: c for c in cases}
        self._by_id = by_id
        wanted = list(only or by_id)
        self._wanted = wanted
        total = len(self.cases)
        # The agent's own SIGALRM ends a slow check; this watchdog is for a check stuck
        # where signals cannot reach it (in the kernel) or a host that went silent.
        # Between cases (start-up, probes) the longest timeout bounds the silence; once
        # a case starts, its own timeout does (_stream_agent).
        idle = max([self._case_timeout(c.id) for c in cases] + [1.0]) + self.opts.watchdog_grace
        drops = 0
        while not self.opts.stop.is_set():
            pending = [c for c in wanted if c not in self.rec.done]
            if not pending:
                return
            self._current = None
            try:
                launch = self._send_bundle(cases, only)
                rc, tail = self._stream_agent(launch.stream, launch.lines, by_id, total, idle)
            except CommandTimeout:
                if self.opts.stop.is_set():
                    return
                self._stalled(self._watch)
                continue
            except TransportError as e:
                if self.opts.stop.is_set():
                    return
                drops += 1
                if drops > self.opts.reconnect_attempts:
                    raise TransportError(f"host {self.host.name}: connection lost {drops} "
                                         f"times: {e}") from e
                if self._reconnect_and_follow(e, by_id, total):
                    continue
                self._host_died(f"the host stopped answering ({e})")
                continue
            if self.opts.stop.is_set():
                return
            pending = [c for c in wanted if c not in self.rec.done]
            if pending:
                if self.machine.is_alive() is False:
                    self._host_died("the QEMU guest exited")
                    continue
                if self._agent_died(rc, tail):
                    continue
                raise KmatrixError(f"host {self.host.name}: agent exited {rc} with "
                                   f"{len(pending)} case(s) unfinished: {tail.strip()[-500:]}")
            return

    def _agent_died(self, rc: Optional[int], tail: str) -> bool:
        """The agent ended mid-case (a check killed it; each check runs in a child,
        so its own exits are already named): that case is an error saying how, and
        the run resumes from the plan as after a reboot. False when no case had
        started, which a re-launch would not change."""
        cid = self._current
        if not cid or cid in self.rec.done or cid not in self._by_id:
            return False
        how = f"exit status {rc}" if rc is not None and rc >= 0 else "killed by a signal"
        last = tail.strip().splitlines()[-1:] if tail.strip() else []
        self.rec.error(cid, f"agent-died: the agent ended ({how}) while this case ran"
                       + (f": {last[0][:300]}" if last else "") + "; the rest of the plan resumed")
        self._current = None
        self._launch = None  # the next loop launches a new agent, resume_after = done
        return True

    def _stream_agent(self, stream: Any, lines: Any, by_id: dict[str, Case], total: int,
                      idle: float) -> tuple[Optional[int], str]:
        """Read agent events from an open stream (``lines``: its line iterator)."""
        self._stream = stream
        self._watch = idle
        stream.set_idle_timeout(idle)
        try:
            for line in lines:
                if self.opts.stop.is_set():
                    break
                if self._on_event(line, by_id, total) == "done":
                    # Do not wait for EOF: a process a case detached may hold the
                    # session's stderr open; clean-up deals with it.
                    break
                if self._current is not None and self._current not in self.rec.done:
                    # A case is running: silence past its own timeout (plus grace) is a hang.
                    self._watch = min(idle, self._case_timeout(self._current)
                                      + self.opts.watchdog_grace)
                else:
                    self._watch = idle
                stream.set_idle_timeout(self._watch)
        finally:
            self._stream = None
            stream.close()
        tail = getattr(stream, "stderr_tail", b"")
        if isinstance(tail, bytes):
            tail = tail.decode(errors="replace")
        return stream.returncode, str(tail)

    def _case_timeout(self, case_id: str) -> float:
        case = self.rec.catalogue.get(case_id)
        return case.timeout if case else 60.0

    def interrupt(self) -> None:
        """Called from the main thread on Ctrl-C/SIGTERM: unblock the stream read (the
        agent's events, or a launcher's facts)."""
        launch = self._launch
        for stream in (self._stream, launch.stream if launch is not None else None):
            if stream is not None:
                try:
                    stream.close()
                except Exception:
                    pass

    def _stalled(self, idle: float) -> None:
        """No event for `idle` s: a hung case if the host answers, else a dead kernel."""
        alive = self.session is not None and self.session.alive(timeout=10)
        if self.machine.is_alive() is False:
            alive = False
        if not alive:
            self._host_died(f"no output for {idle:.0f} s and the host does not answer")
            return
        cid = self._current
        if self.trace.agent_pid:
            # The agent is stuck (e.g. in the kernel); kill it, then resume after this case.
            self.transport.run(["kill", "-9", str(self.trace.agent_pid)], timeout=30)
        if cid and cid not in self.rec.done:
            self.rec.error(cid, f"timeout: no progress for {idle:.0f} s; the host still "
                                "answers, so the case hung (agent killed)", state=results.FAIL,
                           duration=round(time.monotonic() - self._started_at, 3))

    def _reconnect_and_follow(self, err: Exception, by_id: dict[str, Case], total: int) -> bool:
        """Reconnect (the session's policy); replay the journal and wait for a
        still-running agent."""
        self.progress.host(self.host.name, f"connection lost ({err}); reconnecting")
        assert self.session is not None
        if self.machine.is_alive() is False or not self.session.reconnect(
                after_drop(self.opts.reconnect_attempts)):
            return False
        # The follower ships inside the bundle: replay the journal, then keep
        # streaming until the agent (which survived the drop) exits.
        argv = ["env", f"PYTHONPATH={self._remote_bundle}", self.host.python, "-m",
                "kmatrix_agent.follow", f"{self.trace.workdir}/journal.jsonl",
                str(self.trace.agent_pid or 0)]
        try:
            stream = self.transport.stream(argv, idle_timeout=3600)
            self._stream_agent(stream, stream.lines(), by_id, total, idle=3600)
        except TransportError as e:
            self.progress.host(self.host.name, f"following the journal failed: {e}")
            return False
        self.progress.host(self.host.name, "reconnected; journal recovered")
        return True

    def _host_died(self, why: str) -> None:
        """The kernel (or the guest) is gone: reboot/reset, then blame the case that ran."""
        console, headline = self.machine.console()
        # Probed before any reset: afterwards the host answers whatever happened.
        answers = "" if headline or self.session is None else \
            self.machine.answers(self.session.host)
        self.recoveries += 1
        # Restarting first lets us read the old journal (when the disk kept it): it
        # may hold results the dead connection never delivered, and the last start.
        restarted = self.recoveries <= 3 and self._restart_host(why)
        # The agent runs the plan in order, so without a start event the culprit is
        # the first case that has no result yet.
        cid = self._current if self._current not in self.rec.done else None
        cid = cid or next((c for c in self._wanted if c not in self.rec.done), None)
        if cid:
            if answers:
                # The connection died, the kernel did not: say so, blame nothing.
                reason = (f"ssh-lost: {why} while this case ran; the host still answers "
                          f"({answers}), so its kernel is not blamed")
            else:
                reason = f"kernel-dead: {why} while this case ran" + (
                    f"; console: {headline}" if headline else "")
            self.rec.error(cid, reason, output=console)
        self._current = None
        if not restarted:
            for c in self._by_id.values():
                if c.id not in self.rec.done:
                    self.rec.error(c.id, f"not run: {why} and the host could not be brought back")

    def _restart_host(self, why: str) -> bool:
        """Restart the machine (reboot a lab guest, run a real host's reset_cmd),
        reconnect, and recover what the old journal finished."""
        assert self.session is not None
        self.session.close()
        if not self.machine.restart(why):
            return False
        self.session.retarget(self.machine.where(self.session.host))
        try:
            self.session.connect(AFTER_RESTART, what="connect after the restart")
        except TransportError:
            return False
        old = self.trace.workdir
        if "/kmatrix." in old:
            # A reset that kept /tmp keeps our old work directory: recover what its
            # journal finished, then remove it (it is ours, not a "leftover").
            res = self.transport.run(["sh", "-c", 'cat -- "$1/journal.jsonl"; rm -rf -- "$1"',
                                      "sh", old], timeout=60)
            self.trace.removed.add(old)
            for line in res.stdout.decode(errors="replace").splitlines():
                self._on_event(line, self._by_id, len(self.cases))
        self.trace.agent_pid = 0
        self._launch = None  # the run loop launches the agent afresh, with a new plan
        return True

    def _on_event(self, line: str, by_id: dict[str, Case], total: int) -> Optional[str]:
        """Record one agent event; returns its kind ("done" ends the stream)."""
        if line.startswith(OVERSIZE) or len(line) > MAX_EVENT_LINE:
            self._oversize(line)
            return None
        try:
            ev = json.loads(line)
        except ValueError:
            return None  # the agent prints only JSON; anything else is noise
        if not isinstance(ev, dict):
            return None
        kind = ev.get("event")
        if kind == "done":
            return kind
        if kind == "cleanup" and isinstance(ev.get("after"), dict):
            self.trace.after = ev["after"]
            if ev.get("removed") is True and self.trace.workdir:
                self.trace.removed.add(self.trace.workdir)
            return kind
        if kind == "hello" and is_number(ev.get("pid")):
            self.trace.agent_pid = int(ev["pid"])
            self.rec.stale(ev.get("stale"))
            if ev.get("libbpf_error"):
                # One host-level line saying what the target lacks (glibc, libelf...);
                # the BPF cases then error with the same sentence.
                self.result.error = self.result.error or (
                    f"libbpf cannot be loaded on the target: {as_text(ev['libbpf_error'])[:500]}")
            return kind
        if kind == "probes" and isinstance(ev.get("probes"), dict):
            self.rec.probes(ev["probes"])
            return kind
        if kind == "start" and ev.get("case") in by_id:
            self._current = ev["case"]
            self._started_at = time.monotonic()  # a hung case's duration is measured here
            return kind
        if kind == "artifact":  # a module the agent built: cached for the next run
            from kmatrix import kmod_cache

            note = kmod_cache.store(self.opts.cache_dir, ev)
            if note:
                self.progress.host(self.host.name, note)
            return kind
        if kind == "result":
            self.rec.agent_result(ev, by_id, total)
        return kind

    def _oversize(self, line: str) -> None:
        """An event line over the bound (the agent clips its events, so this is a
        broken or hostile agent): the running case is an error naming the size, and
        the run goes on; the line itself is not trusted."""
        size = len(line.encode("utf-8", "replace"))
        if line.startswith(OVERSIZE):
            size = int(line[len(OVERSIZE):].partition(" ")[0] or 0)
        cid = self._current
        if not cid or cid in self.rec.done or cid not in self._by_id:
            self.progress.host(self.host.name, f"an agent event of {size} bytes was dropped "
                                               f"(over {MAX_EVENT_LINE} bytes)")
            return
        self.rec.error(cid, f"the agent's event for this case was {size} bytes, over the "
                            f"{MAX_EVENT_LINE}-byte bound; its result could not be read")

    def _rerun(self, cases: list[Case], failed: list[CaseResult]) -> None:
        ids = [c.case for c in failed]
        keep = [c for c in self.result.cases if c.case not in ids]
        old = {c.case: c for c in failed}
        self.result.cases = keep
        for cid in ids:
            self.rec.done.discard(cid)
        self._run_agent(cases, only=ids)
        for cr in self.result.cases:
            if cr.case in old:
                cr.attempts = old[cr.case].attempts + 1
                if cr.state == results.PASS:
                    cr.verdict = results.V_FLAKY
                    cr.reason = f"failed first ({old[cr.case].reason}), passed on rerun"
        for cid in ids:  # a case whose rerun produced nothing keeps its first result
            if cid not in {c.case for c in self.result.cases}:
                self.rec.record(old[cid], expected=True)

    # -- teardown -------------------------------------------------------------
    def teardown(self) -> None:
        if self.transport is not None:
            if self._launch is not None:  # it ended before a bundle was sent
                self._abort_launch("the run ended before its cases started")
            if self.trace.workdir:
                try:
                    clean_target(self.transport, self.host.python, self.trace, self.result,
                                 self.warn, lambda m: self.progress.host(self.host.name, m))
                except Exception as e:
                    # Say it in the results, not only in an error string: the report and
                    # a reader must not take an unchecked target for a clean one.
                    self.result.facts["cleanup"] = {
                        "confirmed": False,
                        "reason": f"could not confirm clean-up of {self.trace.workdir}: {e}"}
                    self.result.error = self.result.error or f"cleanup failed: {e}"
        if self.session is not None:
            self.session.close()
            self.result.round_trips = self.session.round_trips
        try:
            self.machine.stop()
        except Exception as e:
            self.progress.host(self.host.name, f"machine stop failed: {e}")


def _safe(name: str) -> str:
    """A host name as a single safe path component (names are user input)."""
    keep = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name).strip(".")
    return keep or "host"


class Run:
    """A whole run: hosts in parallel, partial results written as they arrive."""

    def __init__(self, hosts: list[Host], cases: list[Case], suite: Suite, opts: RunOptions,
                 progress: Optional[Progress] = None) -> None:
        self.hosts = hosts
        self.cases = cases
        self.suite = suite
        self.opts = opts
        self.progress = progress or Progress()
        opts.run_id = opts.run_id or new_run_id()
        self.run_dir = opts.out_dir
        self.result = RunResult(run_id=opts.run_id, suite=suite.name, started=now_iso(),
                                kmatrix_version=__version__,
                                shard=f"{opts.shard[0]}/{opts.shard[1]}" if opts.shard else None)
        self._lock = threading.Lock()
        self._dirty = threading.Event()
        self._next_write = 0.0
        self.host_runs: list[HostRun] = []
        self.max_workers = 4096
        self._host_texts: dict[int, str] = {}  # id(HostRun) -> its JSON, once it finished
        self.abandoned = False  # a second interrupt: clean-up threads were not waited for

    def _write_partial(self) -> None:
        """Host threads only mark the results dirty; the main loop writes them.

        Serialising while other hosts mutate their results raced (dict changed
        size during iteration), and a write per result under one lock made the
        run's cost grow with hosts x cases.
        """
        self._dirty.set()

    def _flush_partial(self, force: bool = False) -> None:
        from kmatrix.report.jsonout import write_partial

        if not self._dirty.is_set() or (not force and time.monotonic() < self._next_write):
            return
        self._dirty.clear()
        t0 = time.monotonic()
        try:
            with self._lock:
                self.result.hosts = [h.result for h in self.host_runs]
                write_partial(self.result, self.run_dir / "results.json", self._texts())
        except RuntimeError:
            self._dirty.set()  # a host changed its result mid-dump: next tick
            return
        # Throttle so writing stays a small share of the run, at most once a second.
        self._next_write = time.monotonic() + max(1.0, 20 * (time.monotonic() - t0))

    def _texts(self) -> list[str]:
        """Each host's results.json text; a finished host's is made once and kept,
        so a write costs the hosts still running, not every host again."""
        from kmatrix.report.jsonout import host_json

        out = []
        for hr in self.host_runs:
            text = self._host_texts.get(id(hr))
            if text is None:
                text = host_json(hr.result)
                if hr.finished:
                    self._host_texts[id(hr)] = text
            out.append(text)
        return out

    def execute(self) -> RunResult:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.host_runs = [HostRun(h, self.cases, self.suite, self.opts, self.progress,
                                  self._write_partial, self.result.warn) for h in self.hosts]
        self._write_partial()
        self._flush_partial(force=True)
        workers = max(1, len(self.host_runs))
        # Each host mostly waits on the network or a guest, so a thread per host is
        # cheap; the cap only bounds open connections on very large inventories.
        ex = ThreadPoolExecutor(max_workers=min(workers, self.max_workers),
                                thread_name_prefix="host")
        futures = [ex.submit(hr.run) for hr in self.host_runs]
        interrupted = False
        try:
            while True:
                done, pending = wait(futures, timeout=0.25)
                if not pending:
                    break
                self._flush_partial()
                if self.opts.stop.is_set() and not interrupted:
                    interrupted = True
                    for hr in self.host_runs:
                        hr.interrupt()
        except KeyboardInterrupt:
            # A second Ctrl-C: stop waiting for the targets' clean-up, but still write
            # the final results.json and JUnit with everything gathered so far.
            self.abandoned = True
            self.opts.stop.set()
            msg = ("a second interrupt abandoned the targets' clean-up: work directories "
                   "or agents may be left on hosts that were still cleaning up")
            self.result.warn(msg)
        finally:
            ex.shutdown(wait=not self.abandoned, cancel_futures=self.abandoned)
        return self.finish()

    def finish(self) -> RunResult:
        from kmatrix.report.jsonout import write_results
        from kmatrix.report.junit import write_junit

        self.result.finished = now_iso()
        self.result.hosts = [h.result for h in self.host_runs]
        self.result.incomplete = self.opts.stop.is_set() or any(
            not h.complete for h in self.result.hosts)
        write_results(self.result, self.run_dir / "results.json", self._texts())
        write_junit(self.result, self.run_dir)
        return self.result


def clear_dir(path: Path) -> None:
    if path.exists():
        shutil.rmtree(path)
