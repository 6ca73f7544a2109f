"""Run the selected cases on every selected host, hosts concurrently.

Per host, in a fixed number of round trips whatever the number of cases:
boot (lab hosts only) → connect → preflight (facts + a 0700 workdir, one exec) →
fetch BTF (skipped when cached) → build locally → upload one agent bundle →
stream the agent's JSON lines → clean up (one exec). A dropped connection is
retried with backoff and the agent's journal on the target tells what already
finished, so nothing finished is lost or run twice.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import fnmatch
import hashlib
import json
import os
import shutil
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from kmatrix import __version__, results
from kmatrix.catalog import Case
from kmatrix.errors import KmatrixError, TransportError
from kmatrix.inventory import Host
from kmatrix.progress import Progress
from kmatrix.results import CaseResult, HostResult, RunResult
from kmatrix.suite import Suite, apply

AGENT_DIR = Path(__file__).resolve().parent / "agent"
MAX_EVENT_LINE = 1 << 20  # a hostile or broken agent cannot make us buffer more per line


@dataclass
class RunOptions:
    out_dir: Path
    cache_dir: Path
    run_id: str = ""
    pattern: Optional[str] = None  # -k: substring or glob over case ids
    shard: Optional[tuple[int, int]] = None  # (i, n), 1-based
    rerun_failures: int = 0
    trust_on_first_use: bool = False
    reconnect_attempts: int = 3
    stop: threading.Event = field(default_factory=threading.Event)


def new_run_id() -> str:
    return dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


def now_iso() -> str:
    return dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")


def select_cases(cases: list[Case], suite: Suite, pattern: Optional[str],
                 shard: Optional[tuple[int, int]]) -> list[Case]:
    """Suite selection, then -k, then the shard: deterministic for a given catalogue."""
    wanted = set(suite.selected([c.id for c in cases]))
    chosen = [c for c in cases if c.id in wanted]
    if pattern:
        if any(ch in pattern for ch in "*?["):
            chosen = [c for c in chosen if fnmatch.fnmatchcase(c.id, pattern)]
        else:
            chosen = [c for c in chosen if pattern in c.id]
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
                 progress: Progress, on_update: Any) -> None:
        self.host = host
        self.cases = cases
        self.suite = suite
        self.opts = opts
        self.progress = progress
        self.on_update = on_update  # called with no args whenever results change
        self.result = HostResult(name=host.name, arch=host.arch)
        self.host_dir = opts.out_dir / host.arch / "hosts" / _safe(host.name)
        self.transport: Any = None
        self.guest: Any = None
        self.workdir: Optional[str] = None
        self._done: set[str] = set()

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
        finally:
            self.teardown()
            self.result.timings["total"] = round(time.monotonic() - t0, 3)
            self.on_update()
        return self.result

    def _phase(self, name: str, t0: float) -> None:
        self.result.timings[name] = round(time.monotonic() - t0, 3)

    def open_session(self, probe: bool = False) -> dict[str, Any]:
        """Boot (lab hosts), connect and gather preflight facts; used by run and probe."""
        host = self.host
        self.host_dir.mkdir(parents=True, exist_ok=True)
        if host.qemu is not None:
            t = time.monotonic()
            host = self._boot_guest()
            self._phase("boot", t)
        t = time.monotonic()
        from kmatrix.transport import open_transport

        if self.opts.trust_on_first_use and not host.trust_on_first_use:
            host = dataclasses.replace(host, trust_on_first_use=True)
        self.active_host = host
        self.progress.host(host.name, f"connecting to {host.user}@{host.address}:{host.port}")
        self.transport = open_transport(host)
        self.transport.connect()
        self._phase("connect", t)

        t = time.monotonic()
        facts = self._preflight(probe)
        self._phase("preflight", t)
        self.workdir = facts.get("workdir")
        self.result.facts = facts
        self.result.kernel = (facts.get("uname") or {}).get("release", "")
        self.result.os_release = (facts.get("os_release") or {}).get("PRETTY_NAME", "")
        self.result.env_tags = env_tags(host, facts)
        machine = (facts.get("uname") or {}).get("machine")
        if machine and machine != host.arch:
            raise KmatrixError(f"host {host.name}: hosts.yaml says arch {host.arch}, "
                               f"but the target reports {machine}")
        self.progress.host(host.name, f"kernel {self.result.kernel}, "
                           f"{self.result.os_release}, libbpf {facts.get('libbpf')}, "
                           f"tags {','.join(self.result.env_tags) or '-'}")
        return facts

    def _run(self) -> None:
        host = self.host
        facts = self.open_session()
        to_run = self._apply_skip_expectations()
        if not to_run:
            return
        t = time.monotonic()
        objects, compiler = self._build(to_run, facts)
        self._phase("build", t)
        self.result.properties = host_properties(facts, compiler)
        if self.opts.stop.is_set():
            return
        t = time.monotonic()
        bundle = self._bundle(to_run, objects, facts)
        remote_bundle = f"{self.workdir}/agent.pyz"
        self.transport.put(bundle, remote_bundle, mode=0o600)
        self._phase("upload", t)
        t = time.monotonic()
        self._run_agent(remote_bundle, to_run, only=None)
        for attempt in range(self.opts.rerun_failures):
            failed = [c for c in self.result.cases if c.state == results.FAIL
                      and c.case in {x.id for x in to_run}]
            if not failed or self.opts.stop.is_set():
                break
            self.progress.host(host.name, f"rerun {attempt + 1}: {len(failed)} failed case(s)")
            self._rerun(remote_bundle, to_run, failed)
        self._phase("cases", t)

    def _boot_guest(self) -> Host:
        from kmatrix.lab import image as lab_image
        from kmatrix.lab import qemu as lab_qemu

        host = self.host
        spec = host.qemu
        img = lab_image.ensure_image(host.arch, spec, self.opts.cache_dir / "images",
                                     lambda m: self.progress.host(host.name, m))
        self.guest = lab_qemu.Guest(host.arch, spec, img, self.host_dir)
        self.progress.host(host.name, "booting QEMU guest (TCG)")
        self.guest.start()
        self.guest.wait_ssh(timeout=getattr(spec, "boot_timeout", 300))
        self.progress.host(host.name, f"guest up on 127.0.0.1:{self.guest.port}")
        known = self.host_dir / "known_hosts"
        self.guest.write_known_hosts(known)
        return dataclasses.replace(
            host, address="127.0.0.1", port=self.guest.port, user="root",
            identity_file=str(host.identity_file or img.client_key),
            known_hosts=str(host.known_hosts or known) if spec.image else str(known),
        )

    def _preflight(self, probe: bool = False) -> dict[str, Any]:
        src = (AGENT_DIR / "preflight.py").read_bytes()
        argv = [self.host.python, "-"] + (["--probe"] if probe else [])
        res = self.transport.run(argv, stdin=src, timeout=120)
        if res.returncode != 0:
            err = res.stderr.decode(errors="replace").strip().splitlines()
            raise KmatrixError(f"host {self.host.name}: preflight failed "
                               f"(exit {res.returncode}): {' '.join(err[-3:]) or 'no output'}"
                               f" — is {self.host.python} (>= 3.7) installed on the target?")
        try:
            facts = json.loads(res.stdout.decode(errors="replace").strip().splitlines()[-1])
        except (ValueError, IndexError):
            raise KmatrixError(f"host {self.host.name}: preflight printed no facts") from None
        if not isinstance(facts, dict):
            raise KmatrixError(f"host {self.host.name}: preflight printed no facts")
        missing = []
        if not (facts.get("btf") or {}).get("present"):
            missing.append("/sys/kernel/btf/vmlinux (CONFIG_DEBUG_INFO_BTF)")
        if not facts.get("libbpf"):
            missing.append("libbpf.so.1 (Debian: libbpf1)")
        if missing:
            raise KmatrixError(f"host {self.host.name}: target lacks {', '.join(missing)}")
        return facts

    def _apply_skip_expectations(self) -> list[Case]:
        to_run = []
        today = dt.date.today()
        for case in self.cases:
            exp = self._expectation(case.id, today)
            if exp is not None and exp.state == "skip":
                cr = CaseResult(case=case.id, family=case.family, state=results.SKIP)
                self._record(apply(cr, exp, suite_name=self.suite.name))
            else:
                to_run.append(case)
        return to_run

    def _expectation(self, case_id: str, today: dt.date) -> Any:
        exp, warnings = self.suite.expectation_for(case_id, self.host.arch, self.result.kernel,
                                                   self.result.env_tags, today)
        for w in warnings:
            msg = f"{self.host.name}: {w}"
            if msg not in self.warnings:
                self.warnings.append(msg)
        return exp

    warnings: list[str] = []

    def _build(self, cases: list[Case], facts: dict[str, Any]) -> tuple[dict[str, Path], str]:
        from kmatrix.build import Builder

        builder = Builder(self.opts.cache_dir / "build")
        if self.host.build == "remote":
            return {}, "remote: " + str(facts.get("clang") or "clang (not found)")
        btf = self.fetch_btf(facts)
        self.progress.host(self.host.name, f"building {len(cases)} case(s) against the target's BTF")
        outcomes = builder.build_host(cases, btf, self.host.arch)
        objects: dict[str, Path] = {}
        for case in cases:
            out = outcomes.get(case.id)
            if out is None or out.ok:
                if out is not None and out.obj_path is not None:
                    objects[case.id] = out.obj_path
                continue
            cr = CaseResult(case=case.id, family=case.family, state=results.FAIL,
                            reason="compile failed", output=out.output[-20000:])
            self._record(self._apply(cr))
        return objects, builder.compiler_version()

    def fetch_btf(self, facts: dict[str, Any]) -> Path:
        sha = (facts.get("btf") or {}).get("sha256") or ""
        cache = self.opts.cache_dir / "btf"
        cache.mkdir(parents=True, exist_ok=True)
        path = cache / f"{sha}.btf"
        if sha and path.exists():
            return path
        self.progress.host(self.host.name, "fetching /sys/kernel/btf/vmlinux")
        fd, tmp = tempfile.mkstemp(dir=cache, suffix=".part")
        os.close(fd)
        try:
            res = self.transport.run(["cat", "/sys/kernel/btf/vmlinux"], timeout=300)
            if res.returncode != 0:
                raise KmatrixError(f"host {self.host.name}: cannot read the target's BTF: "
                                   f"{res.stderr.decode(errors='replace').strip()}")
            Path(tmp).write_bytes(res.stdout)
            got = hashlib.sha256(res.stdout).hexdigest()
            final = cache / f"{got}.btf"
            os.replace(tmp, final)
            return final
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def _bundle(self, cases: list[Case], objects: dict[str, Path], facts: dict[str, Any]) -> Path:
        from kmatrix.bundle import make_bundle

        plan = {
            "run_id": self.opts.run_id,
            "workdir": self.workdir,
            "arch": self.host.arch,
            "build": self.host.build,
            "cases": [{"id": c.id, "timeout": c.meta.get("timeout", 60), "meta": c.meta}
                      for c in cases if c.id not in self._done],
            "resume_after": sorted(self._done),
        }
        out = self.host_dir / "agent.pyz"
        return make_bundle(cases, objects, plan, out)

    # -- agent ----------------------------------------------------------------
    def _agent_argv(self, remote_bundle: str, only: Optional[list[str]]) -> list[str]:
        argv = [self.host.python, remote_bundle, "run", "--workdir", str(self.workdir)]
        for cid in sorted(self._done):
            argv += ["--skip", cid]
        for cid in only or []:
            argv += ["--only", cid]
        return argv

    def _run_agent(self, remote_bundle: str, cases: list[Case], only: Optional[list[str]]) -> None:
        by_id = {c.id: c for c in cases}
        total = len(self.cases)
        idle = max([float(c.meta.get("timeout", 60)) for c in cases] + [60.0]) + 60.0
        attempt = 0
        while True:
            try:
                stream = self.transport.stream(self._agent_argv(remote_bundle, only),
                                               idle_timeout=idle)
                try:
                    for line in stream.lines():
                        if self.opts.stop.is_set():
                            break
                        self._on_event(line, by_id, total)
                finally:
                    stream.close()
                if stream.returncode not in (0, None) and not self.opts.stop.is_set():
                    tail = getattr(stream, "stderr_tail", b"")
                    if isinstance(tail, bytes):
                        tail = tail.decode(errors="replace")
                    pending = [c for c in (only or by_id) if c not in self._done]
                    if pending:
                        raise KmatrixError(
                            f"host {self.host.name}: agent exited {stream.returncode} with "
                            f"{len(pending)} case(s) unfinished: {str(tail).strip()[-500:]}")
                return
            except TransportError as e:
                attempt += 1
                if attempt > self.opts.reconnect_attempts or self.opts.stop.is_set():
                    raise TransportError(f"host {self.host.name}: connection lost: {e}") from e
                self.progress.host(self.host.name, f"connection lost ({e}); reconnect {attempt}")
                self._reconnect(attempt)
                self._recover_journal(by_id, total)

    def _reconnect(self, attempt: int) -> None:
        from kmatrix.transport import open_transport

        time.sleep(min(2 ** attempt, 10))
        try:
            self.transport.close()
        except Exception:
            pass
        self.transport = open_transport(self.active_host)
        self.transport.connect()

    def _recover_journal(self, by_id: dict[str, Case], total: int) -> None:
        res = self.transport.run(["cat", f"{self.workdir}/journal.jsonl"], timeout=60)
        if res.returncode != 0:
            return
        for line in res.stdout.decode(errors="replace").splitlines():
            self._on_event(line, by_id, total)

    def _on_event(self, line: str, by_id: dict[str, Case], total: int) -> None:
        if len(line) > MAX_EVENT_LINE:
            return
        try:
            ev = json.loads(line)
        except ValueError:
            return  # the agent prints only JSON; anything else is noise, kept out of results
        if not isinstance(ev, dict) or ev.get("event") != "result":
            return
        cid = ev.get("case")
        if cid not in by_id or cid in self._done:
            return  # unknown or duplicate ids are never trusted
        state = ev.get("state")
        if state not in results.STATES:
            state = results.ERROR
        rc = ev.get("reason_class")
        if state == results.SKIP and rc not in results.REASON_CLASSES:
            state, rc = results.ERROR, None
        cr = CaseResult(
            case=cid, family=by_id[cid].family, state=state,
            reason=_s(ev.get("reason")), reason_class=rc,
            duration=float(ev.get("duration") or 0.0) if _num(ev.get("duration")) else 0.0,
            details=ev.get("details") if isinstance(ev.get("details"), dict) else {},
            verifier_log=_s(ev.get("verifier_log"))[-20000:],
            dmesg=[_s(x) for x in ev.get("dmesg") or [] if isinstance(x, str)][:200],
            output=_s(ev.get("output"))[-20000:],
        )
        cr = self._apply(cr)
        self._record(cr)
        done = len(self.result.cases)
        self.progress.case(self.host.name, done, total, cid, cr.verdict, cr.reason)

    def _rerun(self, remote_bundle: str, cases: list[Case], failed: list[CaseResult]) -> None:
        ids = [c.case for c in failed]
        keep = [c for c in self.result.cases if c.case not in ids]
        old = {c.case: c for c in failed}
        self.result.cases = keep
        for cid in ids:
            self._done.discard(cid)
        self._run_agent(remote_bundle, cases, only=ids)
        for cr in self.result.cases:
            if cr.case in old:
                cr.attempts = old[cr.case].attempts + 1
                if cr.state == results.PASS:
                    cr.verdict = results.V_FLAKY
                    cr.reason = f"failed first ({old[cr.case].reason}), passed on rerun"
        for cid in ids:  # a case whose rerun produced nothing keeps its first result
            if cid not in {c.case for c in self.result.cases}:
                self._record(old[cid])

    def _apply(self, cr: CaseResult) -> CaseResult:
        exp = self._expectation(cr.case, dt.date.today())
        return apply(cr, exp, suite_name=self.suite.name)

    def _record(self, cr: CaseResult) -> None:
        self._done.add(cr.case)
        self.result.cases.append(cr)
        self.on_update()

    # -- teardown -------------------------------------------------------------
    def teardown(self) -> None:
        if self.transport is not None:
            if self.workdir:
                try:
                    # The workdir comes from our own preflight (mkdtemp); refuse anything else.
                    if "/kmatrix." in self.workdir:
                        self.transport.run(["rm", "-rf", "--", self.workdir], timeout=60)
                except Exception as e:
                    self.result.error = self.result.error or f"cleanup failed: {e}"
            try:
                self.result.round_trips = int(getattr(self.transport, "round_trips", 0))
                self.transport.close()
            except Exception:
                pass
        if self.guest is not None:
            try:
                self.guest.stop()
            except Exception as e:
                self.progress.host(self.host.name, f"guest stop failed: {e}")


def _s(v: Any) -> str:
    return v if isinstance(v, str) else ("" if v is None else str(v))


def _num(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)


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
        self.host_runs: list[HostRun] = []

    def _write_partial(self) -> None:
        from kmatrix.report.jsonout import write_partial

        with self._lock:
            self.result.hosts = [h.result for h in self.host_runs]
            write_partial(self.result, self.run_dir / "results.json")

    def execute(self) -> RunResult:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        HostRun.warnings = []
        self.host_runs = [HostRun(h, self.cases, self.suite, self.opts, self.progress,
                                  self._write_partial) for h in self.hosts]
        for hr in self.host_runs:
            hr.warnings = self.result.warnings
        self._write_partial()
        workers = max(1, len(self.host_runs))
        with ThreadPoolExecutor(max_workers=min(workers, 64), thread_name_prefix="host") as ex:
            futures = [ex.submit(hr.run) for hr in self.host_runs]
            for f in futures:
                try:
                    f.result()
                except BaseException:
                    pass
        return self.finish()

    def finish(self) -> RunResult:
        from kmatrix.report.jsonout import write_results
        from kmatrix.report.junit import write_junit

        self.result.finished = now_iso()
        self.result.hosts = [h.result for h in self.host_runs]
        self.result.incomplete = self.opts.stop.is_set() or any(
            not h.complete for h in self.result.hosts)
        write_results(self.result, self.run_dir / "results.json")
        write_junit(self.result, self.run_dir)
        return self.result


def clear_dir(path: Path) -> None:
    if path.exists():
        shutil.rmtree(path)
