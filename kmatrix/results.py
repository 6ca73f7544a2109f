"""The result model shared by the runner, the reports and the front-ends.

``results.json`` is ``RunResult.to_dict()``. Every field is plain JSON so other
tools can read it without kmatrix.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field, fields
from typing import Any, Optional

# Why a case was skipped: defined once, in the agent, and re-exported here.
from kmatrix.agent.reasons import (  # noqa: F401
    CASE_REASON_CLASSES,
    ENVIRONMENT_BLOCKS,
    HARDWARE_MISSING,
    KERNEL_LACKS,
    NOT_APPLICABLE,
    REASON_CLASSES,
)

# Raw states a case can end in, as the agent (or the controller) reports them.
PASS = "pass"
FAIL = "fail"
SKIP = "skip"
ERROR = "error"
STATES = (PASS, FAIL, SKIP, ERROR)


# Verdicts: the state after expectations from suites/ are applied.
V_PASS = "pass"
V_FAIL = "fail"  # unexpected failure: a regression, exit code 1
V_XFAIL = "xfail"  # failed, and an expectation says it is a known failure
V_XPASS = "xpass"  # an xfail expectation, but the case passed: reported
V_SKIP = "skip"  # skipped (precondition not met, or a `skip` expectation)
V_ERROR = "error"  # infrastructure error, exit code 2
V_FLAKY = "flaky"  # failed, then passed on a rerun
VERDICTS = (V_PASS, V_FAIL, V_XFAIL, V_XPASS, V_SKIP, V_ERROR, V_FLAKY)


@dataclass
class CaseResult:
    case: str  # "<family>/<name>", unique in the catalogue
    family: str
    state: str  # one of STATES
    reason: str = ""  # a sentence: why it failed / skipped / errored
    reason_class: Optional[str] = None  # one of REASON_CLASSES when state == skip
    duration: float = 0.0  # seconds, measured on the target by the agent
    details: dict[str, Any] = field(default_factory=dict)  # values the check saw
    verifier_log: str = ""  # libbpf/verifier output, for fails
    dmesg: list[str] = field(default_factory=list)  # kernel lines gained during the case
    output: str = ""  # compiler output or check traceback
    verdict: str = ""  # one of VERDICTS, filled by expectations.apply()
    expectation: Optional[dict[str, Any]] = None  # the matching expectation, if any
    attempts: int = 1
    description: str = ""  # CASE["description"]: what the case proves, for reports

    def to_dict(self) -> dict[str, Any]:
        # Shallow, like HostResult's: for json.dumps, which walks the values anyway.
        return _shallow(self, "")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CaseResult:
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in d.items() if k in known})


@dataclass
class HostResult:
    name: str
    arch: str  # canonical arch
    kernel: str = ""  # `uname -r`
    os_release: str = ""  # PRETTY_NAME
    env_tags: list[str] = field(default_factory=list)  # e.g. ["lab", "tcg"]
    facts: dict[str, Any] = field(default_factory=dict)  # preflight facts
    properties: dict[str, str] = field(default_factory=dict)  # JUnit <properties>
    cases: list[CaseResult] = field(default_factory=list)
    error: Optional[str] = None  # host-level infrastructure error, if any
    complete: bool = False  # False when the run for this host stopped early
    timings: dict[str, float] = field(default_factory=dict)  # phase -> seconds
    round_trips: int = 0  # SSH exec calls + SFTP operations

    def to_dict(self) -> dict[str, Any]:
        # Shallow: asdict would deep-copy facts (the whole kernel config) only for
        # json.dumps to walk it once more; at 1,000 hosts that was most of a write.
        d = _shallow(self, "cases")
        d["cases"] = [c.to_dict() for c in self.cases]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> HostResult:
        known = {f for f in cls.__dataclass_fields__}
        kw = {k: v for k, v in d.items() if k in known and k != "cases"}
        h = cls(**kw)
        h.cases = [CaseResult.from_dict(c) for c in d.get("cases", [])]
        return h


_WARN_LOCK = threading.Lock()


@dataclass
class RunResult:
    run_id: str
    suite: str = ""
    started: str = ""  # ISO 8601 UTC
    finished: str = ""
    incomplete: bool = False  # interrupted, or a host stopped early
    shard: Optional[str] = None  # "i/n" when this is one shard of a run
    kmatrix_version: str = ""
    hosts: list[HostResult] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)  # e.g. expired expectations

    def warn(self, msg: str) -> None:
        """The run's one warnings channel: every part of a run (hosts in their
        threads, the suite's expired expectations, Ctrl-C) says what it noticed
        here, once, in the order noticed."""
        with _WARN_LOCK:
            if msg not in self.warnings:
                self.warnings.append(msg)

    def to_dict(self) -> dict[str, Any]:
        d = _shallow(self, "hosts")
        d["hosts"] = [h.to_dict() for h in self.hosts]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunResult:
        known = {f for f in cls.__dataclass_fields__}
        kw = {k: v for k, v in d.items() if k in known and k != "hosts"}
        r = cls(**kw)
        r.hosts = [HostResult.from_dict(h) for h in d.get("hosts", [])]
        return r


def _shallow(obj: Any, skip: str) -> dict[str, Any]:
    """The dataclass's fields as a dict, values shared (for serialising, not mutating)."""
    return {f.name: getattr(obj, f.name) for f in fields(obj) if f.name != skip}


def as_text(v: Any) -> str:
    """A value from a target's JSON as text (None is empty): never trusted to be a str."""
    return v if isinstance(v, str) else ("" if v is None else str(v))


def is_number(v: Any) -> bool:
    """An int or float from a target's JSON (bool is not a number here)."""
    return isinstance(v, (int, float)) and not isinstance(v, bool)
