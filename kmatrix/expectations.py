"""Expectations from suites/*.yaml and how they turn a raw case state into a verdict.

An expectation says "on these arches / kernels / environments this case is a known
failure (`xfail`) or must not run (`skip`)", always with a sentence and a link, so
a reader can tell why a red cell is not a regression.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import fnmatch
from dataclasses import dataclass, field
from typing import Any, Iterable, Optional, Sequence

from kmatrix import errors
from kmatrix.agent.kversion import VersionRange, parse_release  # noqa: F401 (re-exported)
from kmatrix.results import (
    ENVIRONMENT_BLOCKS,
    ERROR,
    FAIL,
    PASS,
    SKIP,
    V_ERROR,
    V_FAIL,
    V_FLAKY,
    V_PASS,
    V_SKIP,
    V_XFAIL,
    V_XPASS,
    CaseResult,
    RunResult,
)

XFAIL = "xfail"
SKIP_EXP = "skip"
EXPECTATION_STATES = (SKIP_EXP, XFAIL)

@dataclass(frozen=True)
class Expectation:
    case: str  # glob over case ids
    arch: Optional[tuple[str, ...]]  # canonical arches; None = any
    kernel: VersionRange
    env: tuple[str, ...]  # every tag must be in the host's env tags
    state: str  # "skip" or "xfail"
    reason: str
    link: str
    expires: Optional[_dt.date] = None
    reason_class: Optional[str] = None  # for state == skip only
    suite: str = ""
    file: str = ""
    line: int = 0
    # Distro releases ("openEuler 22.03", "debian 11"; globs) and full `uname -r`
    # globs: two kernels with one version number can differ by backports.
    os: tuple[str, ...] = ()
    release: tuple[str, ...] = ()

    def matches(
        self, case_id: str, arch: str, kernel_release: str, env_tags: Iterable[str]
    ) -> bool:
        if not fnmatch.fnmatchcase(case_id, self.case):
            return False
        if self.arch is not None and arch not in self.arch:
            return False
        if not self.kernel.contains(kernel_release):
            return False
        if self.release and not any(fnmatch.fnmatchcase(kernel_release, g)
                                    for g in self.release):
            return False
        tags = set(env_tags)
        if self.os and not os_matches(self.os, tags):
            return False
        return all(t in tags for t in self.env)

    def expired(self, today: Optional[_dt.date] = None) -> bool:
        # The expiry date itself is still valid: "expires: 2025-06-30" covers June 30.
        today = today or _dt.date.today()
        return self.expires is not None and today > self.expires

    def where(self) -> str:
        return f"{self.file}:{self.line}"

    def expired_warning(self) -> str:
        return (
            f"{self.where()}: expectation for {self.case} ({self.state}) expired on "
            f"{self.expires.isoformat() if self.expires else '?'} and was not applied: "
            f"{self.reason}"
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON for CaseResult.expectation / results.json."""
        return {
            "suite": self.suite,
            "case": self.case,
            "arch": list(self.arch) if self.arch is not None else "*",
            "kernel": self.kernel.text,
            "env": list(self.env),
            "os": list(self.os),
            "release": list(self.release),
            "state": self.state,
            "reason": self.reason,
            "reason_class": self.reason_class,
            "link": self.link,
            "expires": self.expires.isoformat() if self.expires else None,
            "source": self.where(),
        }


OS_TAG = "os:"  # env tag "os:<ID>:<VERSION_ID>" from the target's os-release


def os_tags(os_release: dict[str, Any]) -> list[str]:
    """Env tags naming the distro release: ``os:openEuler`` and ``os:openEuler:22.03``."""
    ident = str(os_release.get("ID") or "").strip()
    if not ident:
        return []
    ver = str(os_release.get("VERSION_ID") or "").strip()
    return [OS_TAG + ident] + ([f"{OS_TAG}{ident}:{ver}"] if ver else [])


def os_matches(patterns: Sequence[str], tags: set[str]) -> bool:
    """Whether the host's "ID VERSION_ID" matches one of ``patterns`` (globs; a bare
    ID means any version of it). IDs compare without case: os-release says
    "openEuler" and "debian", users write either."""
    full = [t[len(OS_TAG):].replace(":", " ", 1) for t in tags
            if t.startswith(OS_TAG) and t.count(":") == 2]
    if not full:
        return False
    host = full[0].lower()
    for pat in patterns:
        pat = pat.strip().lower()
        if fnmatch.fnmatchcase(host, pat if " " in pat else pat + " *"):
            return True
    return False


def skip_result(case_id: str, exp: Expectation) -> CaseResult:
    """The result for a case a `skip` expectation keeps from running."""
    family = case_id.split("/", 1)[0]
    return CaseResult(
        case=case_id,
        family=family,
        state=SKIP,
        reason=f"suite {exp.suite}: {exp.reason} ({exp.link})",
        reason_class=exp.reason_class or ENVIRONMENT_BLOCKS,
        verdict=V_SKIP,
        expectation=exp.to_dict(),
        attempts=0,
    )


def _exp_dict(exp: Any) -> Optional[dict[str, Any]]:
    if exp is None:
        return None
    if isinstance(exp, Expectation):
        return exp.to_dict()
    if isinstance(exp, dict):  # already serialised, e.g. re-applying to read results
        return dict(exp)
    raise TypeError(f"not an expectation: {exp!r}")


def apply(
    case: CaseResult,
    exp: Any = None,
    *,
    attempts: Optional[int] = None,
    passed_on_rerun: bool = False,
    suite_name: Optional[str] = None,
) -> CaseResult:
    """Return a copy of `case` with `verdict`, `expectation` and `attempts` filled in.

    `exp` is an Expectation (or its dict form) or None. `passed_on_rerun` means an
    earlier attempt failed and the final one (`case`) passed: that is `flaky`, which
    is reported but does not fail the run. `suite_name` overrides the suite named
    in a skip expectation's reason (normally the Expectation already knows it).
    """
    if suite_name and isinstance(exp, Expectation) and exp.suite != suite_name:
        exp = dataclasses.replace(exp, suite=suite_name)
    exp_d = _exp_dict(exp)
    exp_state = exp_d.get("state") if exp_d else None
    if exp_state == SKIP_EXP:
        if isinstance(exp, Expectation):
            out = skip_result(case.case, exp)
        else:
            out = dataclasses.replace(
                case, state=SKIP, verdict=V_SKIP, expectation=exp_d,
                reason_class=exp_d.get("reason_class") or ENVIRONMENT_BLOCKS,
                reason=f"suite {exp_d.get('suite', '')}: {exp_d.get('reason', '')} "
                f"({exp_d.get('link', '')})",
            )
        if attempts is not None:
            out.attempts = attempts
        return out

    if case.state == PASS:
        if passed_on_rerun:
            verdict = V_FLAKY
        elif exp_state == XFAIL:
            verdict = V_XPASS
        else:
            verdict = V_PASS
    elif case.state == FAIL:
        verdict = V_XFAIL if exp_state == XFAIL else V_FAIL
    elif case.state == SKIP:
        verdict = V_SKIP
    elif case.state == ERROR:
        verdict = V_ERROR
    else:
        # An unknown state is a bug upstream; surface it as an infrastructure error.
        verdict = V_ERROR
    out = dataclasses.replace(case, verdict=verdict, expectation=exp_d)
    # `details`/`dmesg` are mutable: do not share them with the input.
    out.details = dict(case.details)
    out.dmesg = list(case.dmesg)
    if attempts is not None:
        out.attempts = attempts
    return out


def effective_verdict(c: CaseResult) -> str:
    """The verdict, or one derived from the raw state when apply() was never run."""
    if c.verdict:
        return c.verdict
    return {PASS: V_PASS, FAIL: V_FAIL, SKIP: V_SKIP}.get(c.state, V_ERROR)


def exit_code(run: RunResult) -> int:
    """Exit code for a finished run (interrupted runs are the caller's business)."""
    verdicts = [effective_verdict(c) for h in run.hosts for c in h.cases]
    if V_FAIL in verdicts:
        return errors.EXIT_FAIL
    if V_ERROR in verdicts or any(h.error for h in run.hosts):
        return errors.EXIT_INFRA
    return errors.EXIT_OK


@dataclass
class ExpectationSet:
    """An ordered list of expectations; the first live match wins."""

    items: list[Expectation] = field(default_factory=list)

    def find(
        self,
        case_id: str,
        arch: str,
        kernel_release: str,
        env_tags: Sequence[str],
        today: Optional[_dt.date] = None,
        warnings: Optional[list[str]] = None,
    ) -> Optional[Expectation]:
        for exp in self.items:
            if not exp.matches(case_id, arch, kernel_release, env_tags):
                continue
            if exp.expired(today):
                # Expired: as if absent, so a later expectation may still match.
                if warnings is not None:
                    w = exp.expired_warning()
                    if w not in warnings:
                        warnings.append(w)
                continue
            return exp
        return None
