"""Compare two result sets: what got worse, what got better, what changed.

A result is matched to the same case on the same arch, whatever the kernels: a
gate against a baseline is most needed across a kernel bump. Hosts are paired
in this order:

1. an explicit mapping (`kmatrix diff --map BASEHOST=NEWHOST`, repeatable);
2. the same host name (and arch) on both sides;
3. the hosts left over on each arch form one group per side, and the worst
   verdict of each group is compared (so BASE may come from other machines).

Any pass-like verdict (pass, xpass, flaky) that becomes fail or error is a
regression: exit 1. A case missing on a host that reported a host-level error
counts as an error there, so a kernel that no longer boots cannot pass the gate.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Optional

from kmatrix.errors import EXIT_FAIL, EXIT_OK, InputError
from kmatrix.report import kernel_major_minor, verdict_of, worst
from kmatrix.results import (
    NOT_APPLICABLE,
    V_ERROR,
    V_FAIL,
    V_FLAKY,
    V_PASS,
    V_SKIP,
    V_XPASS,
    CaseResult,
    RunResult,
)

_GOOD = (V_PASS, V_XPASS, V_FLAKY)
_BAD = (V_FAIL, V_ERROR)


@dataclass
class Change:
    case: str
    arch: str
    kernel: str  # major.minor, "6.6 -> 6.18" when the sides differ
    base: Optional[str]  # verdict, None when absent
    new: Optional[str]
    base_reason: str = ""
    new_reason: str = ""
    hosts: list[str] = field(default_factory=list)  # new-side hosts (base side if absent)
    base_hosts: list[str] = field(default_factory=list)
    base_kernel: str = ""  # full releases, as uname -r said
    new_kernel: str = ""

    def line(self) -> str:
        where = f"{self.case} [{self.arch} {self.kernel}]"
        s = f"{where}: {self.base or '-'} -> {self.new or '-'}"
        if self.base == self.new == V_SKIP:
            s = f"{where}: skip reason {self.base_reason!r} -> {self.new_reason!r}"
        elif self.new_reason and self.new not in (V_PASS, None):
            s += f": {self.new_reason}"
        elif self.base_reason and self.new in (V_PASS, None) and self.base != V_PASS:
            s += f" (was: {self.base_reason})"
        return s + self._kernels() + self._hosts()

    def _kernels(self) -> str:
        b, n = self.base_kernel, self.new_kernel
        if b and n and b != n:
            return f"  (kernel {b} -> {n})"
        return f"  (kernel {b or n})" if (b or n) else ""

    def _hosts(self) -> str:
        b, n = ", ".join(self.base_hosts), ", ".join(self.hosts)
        if b and n and b != n:  # both sides present, on other hosts
            return f"  (hosts: {b} -> {n})"
        return f"  (hosts: {n or b})" if (n or b) else ""


@dataclass
class Diff:
    regressions: list[Change] = field(default_factory=list)  # pass-like -> fail/error
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
        """1 when something that passed now fails (or errors); 0 otherwise."""
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


# ---- host pairing ---------------------------------------------------------------------------

@dataclass
class _Host:
    """One side's results for one host, across every run given for that side."""

    name: str
    arch: str
    kernels: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    cases: dict[str, list[CaseResult]] = field(default_factory=dict)


@dataclass
class _Unit:
    """Hosts whose results are compared with each other: a pair, or an arch's leftovers."""

    arch: str
    base: list[_Host]
    new: list[_Host]


def _hosts(runs: Sequence[RunResult]) -> list[_Host]:
    # Shards of one host come as several runs: fold them by (name, arch).
    by_key: dict[tuple[str, str], _Host] = {}
    for run in runs:
        for h in run.hosts:
            host = by_key.setdefault((h.name, h.arch), _Host(h.name, h.arch))
            if h.kernel and h.kernel not in host.kernels:
                host.kernels.append(h.kernel)
            if h.error:
                host.errors.append(h.error)
            for c in h.cases:
                host.cases.setdefault(c.case, []).append(c)
    return list(by_key.values())


def _mapped_units(base: list[_Host], new: list[_Host],
                  host_map: dict[str, str]) -> list[_Unit]:
    units = []
    for bname, nname in host_map.items():
        bs = [h for h in base if h.name == bname]
        ns = [h for h in new if h.name == nname]
        where = f"{bname}={nname}"
        if not bs:
            raise InputError("--map", None, where, f"no host {bname!r} in BASE "
                             f"(hosts: {', '.join(sorted({h.name for h in base})) or 'none'})")
        if not ns:
            raise InputError("--map", None, where, f"no host {nname!r} in NEW "
                             f"(hosts: {', '.join(sorted({h.name for h in new})) or 'none'})")
        pairs = [_Unit(b.arch, [b], [n]) for b in bs for n in ns if b.arch == n.arch]
        if not pairs:
            raise InputError("--map", None, where,
                             f"different arches ({bs[0].arch} vs {ns[0].arch}): "
                             "a case is only compared with itself on the same arch")
        units += pairs
    return units


def _units(base: list[_Host], new: list[_Host], host_map: dict[str, str]) -> list[_Unit]:
    units = _mapped_units(base, new, host_map)
    taken = {id(h) for u in units for h in u.base + u.new}
    b_left = [h for h in base if id(h) not in taken]
    n_left = [h for h in new if id(h) not in taken]
    n_by_key = {(h.name, h.arch): h for h in n_left}
    for b in list(b_left):
        n = n_by_key.get((b.name, b.arch))
        if n is not None:  # the same host on both sides
            units.append(_Unit(b.arch, [b], [n]))
            b_left.remove(b)
            n_left.remove(n)
    for arch in dict.fromkeys(h.arch for h in b_left + n_left):
        units.append(_Unit(arch, [h for h in b_left if h.arch == arch],
                           [h for h in n_left if h.arch == arch]))
    return units


# ---- comparison -----------------------------------------------------------------------------

@dataclass
class _Side:
    verdict: str
    reason: str
    reason_class: Optional[str]
    hosts: list[str]
    kernels: list[str]


def _side(hosts: list[_Host], case: str) -> Optional[_Side]:
    """The worst verdict for `case` over `hosts`; None when none of them has it."""
    found = [(h, c) for h in hosts for c in h.cases.get(case, [])]
    # A host that died before reaching the case could not judge it: an error there.
    dead = [h for h in hosts if h.errors and case not in h.cases]
    if not found and not dead:
        return None
    v = worst([verdict_of(c) for _, c in found] + [V_ERROR] * len(dead))
    rep = next((c for _, c in found if verdict_of(c) == v), None)
    reason = rep.reason if rep else f"host error: {dead[0].errors[0]}"
    used = [h for h, _ in found] + dead
    kernels = list(dict.fromkeys(k for h in used for k in h.kernels))
    return _Side(v, reason, rep.reason_class if rep else None,
                 sorted({h.name for h in used}), kernels)


def _kernel_label(bs: Optional[_Side], ns: Optional[_Side]) -> str:
    def mm(s: Optional[_Side]) -> str:
        if s is None:
            return ""
        return ",".join(dict.fromkeys(kernel_major_minor(k) for k in s.kernels)) or "?"

    b, n = mm(bs), mm(ns)
    return f"{b} -> {n}" if (b and n and b != n) else (b or n)


def _change(case: str, arch: str, bs: Optional[_Side], ns: Optional[_Side]) -> Change:
    return Change(
        case, arch, _kernel_label(bs, ns),
        bs.verdict if bs else None, ns.verdict if ns else None,
        bs.reason if bs else "", ns.reason if ns else "",
        hosts=(ns or bs).hosts if (ns or bs) else [],
        base_hosts=bs.hosts if bs else [],
        base_kernel=", ".join(bs.kernels) if bs else "",
        new_kernel=", ".join(ns.kernels) if ns else "",
    )


def _classify(d: Diff, ch: Change, bs: Optional[_Side], ns: Optional[_Side]) -> None:
    if ns is not None and ns.verdict == V_XPASS:
        d.xpasses.append(ch)
    if bs is None:
        d.added.append(ch)
        if ns is not None and ns.verdict == V_FAIL:
            d.new_failures.append(ch)
        return
    if ns is None:
        d.removed.append(ch)
        return
    bv, nv = bs.verdict, ns.verdict
    if nv in _BAD and bv in _GOOD:
        d.regressions.append(ch)
    elif nv == V_FAIL and bv != V_FAIL:
        d.new_failures.append(ch)
    elif bv == V_FAIL and nv in _GOOD:
        d.fixes.append(ch)
    elif nv == V_SKIP and bv != V_SKIP:
        d.new_skips.append(ch)
    elif nv == V_SKIP and bv == V_SKIP:
        # n/a (the case is for other arches) on either side: nothing was asked of this
        # arch, so no change either (results from before the class said environment-blocks).
        na = NOT_APPLICABLE in (bs.reason_class, ns.reason_class)
        if not na and (bs.reason_class, bs.reason) != (ns.reason_class, ns.reason):
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


def diff(base: Sequence[RunResult], new: Sequence[RunResult],
         host_map: Optional[dict[str, str]] = None) -> Diff:
    """Compare NEW with BASE; `host_map` pairs BASE host names with NEW host names."""
    d = Diff()
    for u in _units(_hosts(base), _hosts(new), dict(host_map or {})):
        cases = sorted({c for h in u.base + u.new for c in h.cases})
        for case in cases:
            bs, ns = _side(u.base, case), _side(u.new, case)
            _classify(d, _change(case, u.arch, bs, ns), bs, ns)
    for items in (d.regressions, d.fixes, d.new_failures, d.new_skips, d.skip_reason_changes,
                  d.xpasses, d.other_changes, d.added, d.removed):
        items.sort(key=lambda c: (c.case, c.arch, c.hosts))
    return d


# ---- command line ---------------------------------------------------------------------------

def parse_host_map(items: Sequence[str]) -> dict[str, str]:
    """["BASEHOST=NEWHOST", ...] -> {BASEHOST: NEWHOST}; each host at most once per side."""
    out: dict[str, str] = {}
    for item in items:
        bname, sep, nname = item.partition("=")
        bname, nname = bname.strip(), nname.strip()
        if not (sep and bname and nname):
            raise InputError("--map", None, item, "expected BASEHOST=NEWHOST")
        if bname in out:
            raise InputError("--map", None, item, f"base host {bname!r} is mapped twice")
        if nname in out.values():
            raise InputError("--map", None, item, f"new host {nname!r} is mapped twice")
        out[bname] = nname
    return out


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `kmatrix diff` beyond BASE and NEW."""
    parser.add_argument(
        "--map", action="append", default=[], metavar="BASEHOST=NEWHOST",
        help="compare BASEHOST's results with NEWHOST's (repeatable); unmapped hosts match "
             "by name, then by arch")
