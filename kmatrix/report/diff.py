"""Compare two result sets: what got worse, what got better, what changed.

Results are matched by (case id, arch, kernel major.minor), not by host name, so a
run on a different machine (or a lab guest vs. hardware) with the same kernel
line still lines up. When several hosts fall on one key, the worst verdict wins.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from kmatrix.errors import EXIT_FAIL, EXIT_OK
from kmatrix.report import kernel_major_minor, verdict_of, worst
from kmatrix.results import (
    V_FAIL,
    V_FLAKY,
    V_PASS,
    V_SKIP,
    V_XPASS,
    CaseResult,
    RunResult,
)

Key = tuple[str, str, str]  # (case id, arch, kernel major.minor)
_GOOD = (V_PASS, V_XPASS, V_FLAKY)


@dataclass
class Change:
    case: str
    arch: str
    kernel: str  # major.minor
    base: Optional[str]  # verdict, None when absent
    new: Optional[str]
    base_reason: str = ""
    new_reason: str = ""
    hosts: list[str] = field(default_factory=list)  # new-side hosts (base side if absent)

    def line(self) -> str:
        where = f"{self.case} [{self.arch} {self.kernel}]"
        s = f"{where}: {self.base or '-'} -> {self.new or '-'}"
        if self.base == self.new == V_SKIP:
            s = f"{where}: skip reason {self.base_reason!r} -> {self.new_reason!r}"
        elif self.new_reason and self.new not in (V_PASS, None):
            s += f": {self.new_reason}"
        elif self.base_reason and self.new in (V_PASS, None) and self.base != V_PASS:
            s += f" (was: {self.base_reason})"
        if self.hosts:
            s += f"  (hosts: {', '.join(self.hosts)})"
        return s


@dataclass
class Diff:
    regressions: list[Change] = field(default_factory=list)  # pass-like -> fail
    fixes: list[Change] = field(default_factory=list)  # fail -> pass-like
    new_failures: list[Change] = field(default_factory=list)  # absent/skip/xfail/error -> fail
    new_skips: list[Change] = field(default_factory=list)  # not skip -> skip
    skip_reason_changes: list[Change] = field(default_factory=list)
    xpasses: list[Change] = field(default_factory=list)  # new side xpass
    other_changes: list[Change] = field(default_factory=list)  # any other verdict change
    added: list[Change] = field(default_factory=list)  # only in new
    removed: list[Change] = field(default_factory=list)  # only in base
    unchanged: int = 0

    @property
    def exit_code(self) -> int:
        """1 when something that passed now fails; 0 otherwise."""
        return EXIT_FAIL if self.regressions else EXIT_OK

    def render(self) -> str:
        sections = [
            ("Regressions (pass -> fail)", self.regressions),
            ("New failures (not passing before either)", self.new_failures),
            ("Fixes (fail -> pass)", self.fixes),
            ("XPASS (expected to fail, passed: expectation may be stale)", self.xpasses),
            ("New skips", self.new_skips),
            ("Changed skip reasons", self.skip_reason_changes),
            ("Other changes", self.other_changes),
            ("Only in new", self.added),
            ("Only in base", self.removed),
        ]
        out = []
        for title, items in sections:
            if not items:
                continue
            out.append(f"{title}: {len(items)}")
            out.extend(f"  {c.line()}" for c in items)
        summary = (
            f"summary: {len(self.regressions)} regression(s), {len(self.new_failures)} new "
            f"failure(s), {len(self.fixes)} fix(es), {len(self.new_skips)} new skip(s), "
            f"{len(self.skip_reason_changes)} changed skip reason(s), {len(self.xpasses)} xpass, "
            f"{self.unchanged} unchanged"
        )
        out.append(summary)
        return "\n".join(out)

    __str__ = render


@dataclass
class _Side:
    verdict: str
    reason: str
    reason_class: Optional[str]
    hosts: list[str]


def _index(runs: list[RunResult]) -> dict[Key, _Side]:
    grouped: dict[Key, list[tuple[str, CaseResult]]] = {}
    for run in runs:
        for h in run.hosts:
            mm = kernel_major_minor(h.kernel)
            for c in h.cases:
                grouped.setdefault((c.case, h.arch, mm), []).append((h.name, c))
    out: dict[Key, _Side] = {}
    for key, items in grouped.items():
        v = worst([verdict_of(c) for _, c in items])
        rep = next(c for _, c in items if verdict_of(c) == v)
        out[key] = _Side(v, rep.reason, rep.reason_class, sorted({n for n, _ in items}))
    return out


def diff(base: list[RunResult], new: list[RunResult]) -> Diff:
    b = _index(list(base))
    n = _index(list(new))
    d = Diff()
    for key in sorted(set(b) | set(n)):
        case, arch, kern = key
        bs, ns = b.get(key), n.get(key)
        ch = Change(
            case, arch, kern,
            bs.verdict if bs else None, ns.verdict if ns else None,
            bs.reason if bs else "", ns.reason if ns else "",
            (ns or bs).hosts if (ns or bs) else [],
        )
        if ns is not None and ns.verdict == V_XPASS:
            d.xpasses.append(ch)
        if bs is None:
            d.added.append(ch)
            if ns is not None and ns.verdict == V_FAIL:
                d.new_failures.append(ch)
            continue
        if ns is None:
            d.removed.append(ch)
            continue
        bv, nv = bs.verdict, ns.verdict
        if nv == V_FAIL and bv in _GOOD:
            d.regressions.append(ch)
        elif nv == V_FAIL and bv != V_FAIL:
            d.new_failures.append(ch)
        elif bv == V_FAIL and nv in _GOOD:
            d.fixes.append(ch)
        elif nv == V_SKIP and bv != V_SKIP:
            d.new_skips.append(ch)
        elif nv == V_SKIP and bv == V_SKIP:
            if (bs.reason_class, bs.reason) != (ns.reason_class, ns.reason):
                ch.base_reason = f"[{bs.reason_class}] {bs.reason}"
                ch.new_reason = f"[{ns.reason_class}] {ns.reason}"
                d.skip_reason_changes.append(ch)
            else:
                d.unchanged += 1
        elif bv != nv:
            if nv != V_XPASS:  # already listed under xpasses
                d.other_changes.append(ch)
        else:
            d.unchanged += 1
    return d
