"""Workload readiness: can Cilium, Falco, Tetragon, bpftrace, Parca run on a column?

kmatrix/data/workloads.yaml lists each project's own documented kernel requirements,
each linked to the page that states it and mapped to what kmatrix measures: cases,
kernel config, BTF, active LSMs, the release, the arch. A column's state per workload:

- ``n/a``: the project does not ship for the column's arch (its ``arch`` requirement);
- ``not ready``: a requirement fails there (a case fails, xfails or lacks the
  feature; a config option is off; BTF is absent; the release is below the stated
  minimum), naming the requirement and its case;
- ``partly known``: nothing fails, but something is untested there: a requirement
  kmatrix has no case or check for, a case skipped for its environment or hardware,
  not run, or an error, an unreadable config;
- ``ready``: every requirement passes.

Not ready wins over partly known: one measured gap decides, whatever else is unknown.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from kmatrix.agent import requires as rq
from kmatrix.agent.kversion import VersionRange, parse_release
from kmatrix.archs import ARCHES
from kmatrix.errors import InputError
from kmatrix.report import Column, Matrix, cell_class, previous_group_column
from kmatrix.results import NOT_APPLICABLE, HostResult

WORKLOADS_FILE = Path(__file__).resolve().parent.parent / "data" / "workloads.yaml"
_CASE_ID = re.compile(r"^[a-z0-9_]+/[a-z0-9_]+$")
_KEYS = ("what", "link", "kernel", "config", "btf", "lsm", "arch", "cases")
_CHECKS = ("kernel", "config", "btf", "lsm", "arch", "cases")

READY, NOT_READY, PARTLY, NA = "ready", "not-ready", "partly-known", "n/a"
STATE_TEXT = {READY: "ready", NOT_READY: "not ready", PARTLY: "partly known", NA: "n/a"}
STATE_LEGEND = {
    READY: "every requirement the project documents passes on that column",
    NOT_READY: "a documented requirement fails there (named, with its case)",
    PARTLY: "nothing fails, but some requirement is untested there (no case for it, or "
            "its case was skipped for the environment, not run, or errored)",
    NA: "the project does not ship for that arch",
}


@dataclass(frozen=True)
class Requirement:
    what: str
    link: str
    kernel: str = ""
    config: tuple[str, ...] = ()
    btf: bool = False
    lsm: tuple[str, ...] = ()
    arch: tuple[str, ...] = ()
    cases: tuple[str, ...] = ()  # kmatrix case ids, each must pass

    @property
    def tested(self) -> bool:
        return bool(self.kernel or self.config or self.btf or self.lsm or self.cases)


@dataclass(frozen=True)
class Workload:
    key: str
    name: str
    requirements: tuple[Requirement, ...]


@dataclass
class Finding:
    """One requirement on one column: "pass", "fail" or "unknown", and why."""

    req: Requirement
    status: str
    why: str


@dataclass
class Readiness:
    state: str  # READY, NOT_READY, PARTLY, NA
    findings: list[Finding] = field(default_factory=list)

    @property
    def failing(self) -> list[Finding]:
        return [f for f in self.findings if f.status == "fail"]

    @property
    def unknown(self) -> list[Finding]:
        return [f for f in self.findings if f.status == "unknown"]

    def summary(self) -> str:
        """One line: what fails (not ready) or what is untested (partly known)."""
        if self.state == NOT_READY:
            return "; ".join(f"{f.req.what}: {f.why}" for f in self.failing)
        if self.state == PARTLY:
            return "untested: " + "; ".join(f"{f.req.what} ({f.why})" for f in self.unknown)
        return ""


# --- loading ---------------------------------------------------------------------------


def _names(file: str, e: Any, key: str, pattern: Optional[re.Pattern[str]] = None) -> tuple[str, ...]:
    v = e.get(key)
    line = e.line_of(key) if hasattr(e, "line_of") else None
    if not isinstance(v, list) or not v or not all(isinstance(x, str) and x for x in v):
        raise InputError(file, line, key, "must be a non-empty list of names")
    if pattern is not None:
        bad = [x for x in v if not pattern.match(x)]
        if bad:
            raise InputError(file, line, key, f"not a case id <family>/<name>: {', '.join(bad)}")
    return tuple(v)


def _requirement(file: str, e: Any, line: int) -> Requirement:
    def at(key: str) -> int:
        return e.line_of(key) if hasattr(e, "line_of") else line

    if not isinstance(e, dict):
        raise InputError(file, line, "requirements", "each requirement is a mapping (what, link, ...)")
    for k in e:
        if k not in _KEYS:
            raise InputError(file, at(k), str(k), "unknown key (expected " + ", ".join(_KEYS) + ")")
    what = e.get("what")
    if not isinstance(what, str) or not what.strip():
        raise InputError(file, at("what"), "what", "must say what the project requires, in its words")
    link = e.get("link")
    if not isinstance(link, str) or not re.match(r"^https://[^\s\"'<>()\[\]|`]+$", link):
        raise InputError(file, at("link"), "link", "must be the https URL of the page that states it")
    kernel = e.get("kernel", "")
    if kernel:
        if not isinstance(kernel, str):
            raise InputError(file, at("kernel"), "kernel", "must be a quoted range such as \">=5.10\"")
        try:
            VersionRange.parse(kernel)
        except ValueError as err:
            raise InputError(file, at("kernel"), "kernel", str(err)) from None
    btf = e.get("btf", False)
    if not isinstance(btf, bool):
        raise InputError(file, at("btf"), "btf", "must be true or false")
    config = _names(file, e, "config") if "config" in e else ()
    bad = [c for c in config if not c.startswith("CONFIG_")]
    if bad:
        raise InputError(file, at("config"), "config", f"names must start with CONFIG_: {', '.join(bad)}")
    arch = _names(file, e, "arch") if "arch" in e else ()
    if any(a not in ARCHES for a in arch):
        raise InputError(file, at("arch"), "arch", "must be among " + ", ".join(ARCHES))
    cases = _names(file, e, "cases", _CASE_ID) if "cases" in e else ()
    return Requirement(what.strip(), link, kernel, config, btf,
                       _names(file, e, "lsm") if "lsm" in e else (), arch, cases)


@functools.lru_cache(maxsize=4)
def _load_cached(path: str) -> tuple[Workload, ...]:
    from kmatrix import yamlpos

    doc = yamlpos.load(path)
    if doc is None:
        return ()
    if not isinstance(doc, dict):
        raise InputError(path, getattr(doc, "line", 1), "file", "expected a mapping of workloads")
    out = []
    for key, w in doc.items():
        line = doc.line_of(key) if hasattr(doc, "line_of") else 1
        if not isinstance(key, str) or not re.match(r"^[a-z0-9][a-z0-9_-]*$", key):
            raise InputError(path, line, str(key), "workload keys are lower-case names")
        if not isinstance(w, dict):
            raise InputError(path, line, key, "expected a mapping (name, requirements)")
        for k in w:
            if k not in ("name", "requirements"):
                raise InputError(path, w.line_of(k), str(k), "unknown key (expected name, requirements)")
        name = w.get("name")
        if not isinstance(name, str) or not name.strip():
            raise InputError(path, w.line_of("name"), "name", "must be the project's name")
        reqs = w.get("requirements")
        if not isinstance(reqs, list) or not reqs:
            raise InputError(path, w.line_of("requirements"), "requirements",
                             "must be a non-empty list")
        out.append(Workload(key, name.strip(), tuple(
            _requirement(path, r, reqs.line_of(i) if hasattr(reqs, "line_of") else line)
            for i, r in enumerate(reqs))))
    return tuple(out)


def load_workloads(path: Optional[Path | str] = None) -> list[Workload]:
    """The workloads of kmatrix/data/workloads.yaml (or `path`), in file order; a
    malformed file is an InputError naming FILE:LINE: FIELD."""
    return list(_load_cached(str(path or WORKLOADS_FILE)))


def case_ids(workloads: list[Workload]) -> set[str]:
    return {c for w in workloads for r in w.requirements for c in r.cases}


# --- evaluation ------------------------------------------------------------------------


def _worst(findings: list[tuple[str, str]]) -> tuple[str, str]:
    """(status, why) over several checks or hosts: a fail wins, then unknown."""
    for status in ("fail", "unknown"):
        hits = [w for s, w in findings if s == status]
        if hits:
            return status, "; ".join(dict.fromkeys(hits))
    return "pass", "; ".join(dict.fromkeys(w for _, w in findings))


def _facts_check(req: Requirement, h: HostResult) -> list[tuple[str, str]]:
    """The requirement's kernel/config/BTF/LSM checks on one host's facts. The
    judging is agent/requires.py's, so a case and a workload read facts alike."""
    if not h.facts:  # the host failed before reporting anything
        return [("unknown", f"{h.name} reported no facts")] if req.tested else []
    facts: dict[str, Any] = dict(h.facts)
    facts.setdefault("uname", {"release": h.kernel, "machine": h.arch})
    out: list[tuple[str, str]] = []
    if req.kernel:
        if parse_release(h.kernel) is None:
            out.append(("unknown", f"kernel release {h.kernel!r} unreadable"))
        else:
            why = rq.evaluate({"kernel": req.kernel}, facts)
            out.append(("fail", why[1]) if why else ("pass", f"kernel {h.kernel}"))
    if req.config:
        if not isinstance(facts.get("kernel_config"), dict):
            out.append(("unknown", "kernel config unreadable"))
        else:
            why = rq.evaluate({"config": list(req.config)}, facts)
            out.append(("fail", why[1]) if why else ("pass", "config set"))
    if req.btf:
        present = (facts.get("btf") or {}).get("present")
        out.append({True: ("pass", "BTF present"),
                    False: ("fail", "no BTF (/sys/kernel/btf/vmlinux)")}.get(
            present, ("unknown", "BTF not probed")))
    if req.lsm:
        if facts.get("lsm") is None:
            out.append(("unknown", "active LSMs unknown (securityfs not readable)"))
        else:
            why = rq.evaluate({"lsm": list(req.lsm)}, facts)
            out.append(("fail", why[1]) if why else ("pass", "LSM active"))
    return out


# A case's cell class (report.cell_class) -> what it says about a requirement.
_CASE_STATUS = {
    "supported": ("pass", "passes"),
    "not-supported": ("fail", "lacks"),
    "regression": ("fail", "FAIL"),
    "known-failure": ("fail", "xfail"),
    "not-tested": ("unknown", "untested here"),
    "error": ("unknown", "error"),
}


def _case_checks(req: Requirement, m: Matrix, col: Column) -> list[tuple[str, str]]:
    out = []
    for cid in req.cases:
        entries = m.cell(cid, col)
        if not entries:
            out.append(("unknown", f"{cid} not run"))
            continue
        cls = cell_class(entries)
        if cls == NOT_APPLICABLE:
            continue  # another of the requirement's cases speaks for this arch
        status, word = _CASE_STATUS[cls]
        reason = next((e.case.reason for e in entries if e.case.reason), "")
        out.append((status, f"{cid} {word}" + (f" ({reason})" if status == "fail" and reason else "")))
    return out


def evaluate(w: Workload, m: Matrix, col: Column) -> Readiness:
    """The workload's readiness on one column of the matrix."""
    if any(r.arch and col.arch not in r.arch for r in w.requirements):
        return Readiness(NA)
    findings = []
    for r in w.requirements:
        checks = [c for h in col.hosts for c in _facts_check(r, h)] + _case_checks(r, m, col)
        if not checks:
            if r.arch and not r.tested:
                continue  # an arch statement alone: decided above
            why = "no kmatrix case or check for it" if not r.tested else "its cases do not apply here"
            findings.append(Finding(r, "unknown", why))
            continue
        findings.append(Finding(r, *_worst(checks)))
    statuses = {f.status for f in findings}
    state = NOT_READY if "fail" in statuses else PARTLY if "unknown" in statuses else READY
    return Readiness(state, findings)


def changed(m: Matrix, states: list[Readiness], i: int) -> Optional[Column]:
    """The same arch's column in the previous column group when the workload's state
    differs there (the Δ of the release comparison); n/a never counts as a change."""
    prev = previous_group_column(m, i)
    if prev is None:
        return None
    before, now = states[m.columns.index(prev)].state, states[i].state
    return prev if NA not in (before, now) and before != now else None


def readiness(m: Matrix, workloads: Optional[list[Workload]] = None) -> dict[str, list[Readiness]]:
    """workload key -> one Readiness per column of `m`."""
    ws = load_workloads() if workloads is None else workloads
    return {w.key: [evaluate(w, m, col) for col in m.columns] for w in ws}
