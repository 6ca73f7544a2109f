"""One host's results: every route a result takes (the agent's events, a hang, a
dead kernel, an interrupt, a suite's planned skip) goes through HostRecord, which
applies the suite's expectations, judges kernel health and records it once."""

from __future__ import annotations

import datetime as dt
from typing import Any, Callable, Optional

from kmatrix import results
from kmatrix.catalog import Case
from kmatrix.inventory import Host
from kmatrix.progress import Progress
from kmatrix.results import CaseResult, HostResult, as_text, is_number
from kmatrix.suite import Suite, apply

PROBE_STATES = ("yes", "no", "blocked", "unknown")  # kmatrix/agent/probes.py


class HostRecord:
    """The HostResult of one host, and the rules by which results enter it."""

    def __init__(self, host: Host, cases: list[Case], suite: Suite, progress: Progress,
                 on_update: Callable[[], None], warn: Callable[[str], None],
                 health_rules: Any = None) -> None:
        self.host = host
        self.catalogue = {c.id: c for c in cases}
        self.suite = suite
        self.progress = progress
        self.on_update = on_update  # called with no args whenever results change
        self.warn = warn  # the run's warnings channel
        self.health_rules = health_rules
        self.result = HostResult(name=host.name, arch=host.arch)
        self.done: set[str] = set()  # case ids that have a result

    def expectation(self, case_id: str, today: Optional[dt.date] = None) -> Any:
        exp, warnings = self.suite.expectation_for(case_id, self.host.arch, self.result.kernel,
                                                   self.result.env_tags, today or dt.date.today())
        for w in warnings:
            self.warn(f"{self.host.name}: {w}")
        return exp

    def record(self, cr: CaseResult, expected: bool = False) -> None:
        """Apply the suite's expectation (unless `expected`: already applied) and keep it."""
        if not expected:
            cr = apply(cr, self.expectation(cr.case), suite_name=self.suite.name)
        if not cr.description:  # one place for every route a result takes
            case = self.catalogue.get(cr.case)
            cr.description = str((case.meta if case else {}).get("description") or "")
        self.done.add(cr.case)
        self.result.cases.append(cr)
        self.on_update()

    def error(self, cid: str, reason: str, state: str = results.ERROR, output: str = "",
              duration: float = 0.0) -> None:
        """A result the controller decides (a hang, a dead kernel, an interrupt)."""
        self.record(CaseResult(case=cid, family=self.catalogue[cid].family, state=state,
                               reason=reason, output=output, duration=duration))

    def skip_by_expectations(self, cases: list[Case]) -> list[Case]:
        """Record the suite's planned skips; the cases left to run."""
        to_run = []
        for case in cases:
            exp = self.expectation(case.id)
            if exp is not None and exp.state == "skip":
                cr = CaseResult(case=case.id, family=case.family, state=results.SKIP)
                self.record(apply(cr, exp, suite_name=self.suite.name), expected=True)
            else:
                to_run.append(case)
        return to_run

    def agent_result(self, ev: dict[str, Any], by_id: dict[str, Case], total: int) -> None:
        """An agent's "result" event, trusted only as far as its types and ids go."""
        cid = ev.get("case")
        if cid not in by_id or cid in self.done:
            return  # unknown or duplicate ids are never trusted
        state = ev.get("state")
        if state not in results.STATES:
            state = results.ERROR
        rc = ev.get("reason_class")
        if state == results.SKIP and rc not in results.REASON_CLASSES:
            state, rc = results.ERROR, None
        cr = CaseResult(
            case=cid, family=by_id[cid].family, state=state,
            reason=as_text(ev.get("reason")), reason_class=rc,
            duration=float(ev.get("duration") or 0.0) if is_number(ev.get("duration")) else 0.0,
            details=ev.get("details") if isinstance(ev.get("details"), dict) else {},
            verifier_log=as_text(ev.get("verifier_log"))[-20000:],
            dmesg=[as_text(x) for x in ev.get("dmesg") or [] if isinstance(x, str)][:200],
            output=as_text(ev.get("output"))[-20000:],
        )
        judge_health(cr, self.health_rules)
        self.record(cr)
        recorded = self.result.cases[-1]
        self.progress.case(self.host.name, len(self.result.cases), total, cid,
                           recorded.verdict, recorded.reason)

    def probes(self, probes: dict[str, Any]) -> None:
        """The agent's capability probes: kept with the host's facts (results.json,
        report) and one property per probe (JUnit)."""
        clean = {}
        for name, r in probes.items():
            if isinstance(name, str) and isinstance(r, dict) and r.get("state") in PROBE_STATES:
                clean[name[:64]] = {"state": r["state"], "class": r.get("class"),
                                    "sentence": as_text(r.get("sentence"))[:500]}
        self.result.facts["probes"] = clean
        for name, r in sorted(clean.items()):
            self.result.properties[f"probe.{name}"] = r["state"]

    def stale(self, stale: Any) -> None:
        """What earlier runs whose controller died left on this target, which the
        agent reaped and removed (kmatrix_agent.leftovers.sweep): said, and kept."""
        if not isinstance(stale, list) or not stale:
            return
        found = self.result.facts.setdefault("stale_workdirs", [])
        for s in stale[:50]:
            if not isinstance(s, dict):
                continue
            procs = [f"{as_text(p.get('comm'))[:32]} ({p.get('pid')})"
                     for p in (s.get("processes") or [])[:20] if isinstance(p, dict)]
            entry = {"workdir": as_text(s.get("workdir"))[:300], "removed": s.get("removed") is True,
                     "processes": procs}
            found.append(entry)
            self.warn(
                f"{self.host.name}: an earlier run whose controller died left "
                f"{entry['workdir']}" + (f" and processes {', '.join(procs)}" if procs else "")
                + ("; removed" if entry["removed"] else "; could not be removed"))


def judge_health(cr: CaseResult, rules: Any = None) -> None:
    """Fail a case whose run tainted the kernel or left a splat in dmesg.

    The agent only ships raw material (taint masks, kmsg lines); the verdict is
    ours so that allow-lists (kmatrix/data/health.yaml) live in one place.
    """
    from kmatrix import detectors

    rules = rules or detectors.default_rules()
    problems: list[str] = []
    taint = cr.details.get("taint")
    if isinstance(taint, dict):
        # new_taint vets the values itself: the agent's JSON may hold anything.
        gained = detectors.new_taint(taint.get("before"), taint.get("after"), rules.taint_allow)
        if gained:
            problems.append("the kernel became tainted during the case: "
                            + detectors.describe_taint(gained))
    findings = detectors.scan_dmesg(cr.dmesg, rules) if cr.dmesg else []
    if findings:
        cr.details["splats"] = [f.to_dict() for f in findings[:5]]
        problems.append("kernel splat in dmesg: " + detectors.summarize(findings))
    if not problems:
        return
    if cr.state in (results.PASS, results.SKIP):
        prior = f" (the check itself said {cr.state}" + (f": {cr.reason})" if cr.reason else ")")
        cr.state, cr.reason_class = results.FAIL, None
        cr.reason = "; ".join(problems) + prior
    else:
        cr.reason = (cr.reason + "; " if cr.reason else "") + "; ".join(problems)
