"""Merge shards (or per-arch runs) into one RunResult.

A host that appears in several inputs (the same host, different case shards)
becomes one HostResult with the cases of all of them, sorted by case id. When
the same case shows up twice for one host, the later input wins and a warning
says so.
"""

from __future__ import annotations

import copy
from typing import Optional

from kmatrix.results import HostResult, RunResult


def _join_unique(values: list[str], sep: str = "+") -> str:
    seen = [v for v in dict.fromkeys(values) if v]
    return sep.join(seen)


def _min(values: list[str]) -> str:
    vals = [v for v in values if v]
    return min(vals) if vals else ""  # ISO 8601 UTC strings sort as times


def _max(values: list[str]) -> str:
    vals = [v for v in values if v]
    return max(vals) if vals else ""


def _merge_host(into: HostResult, h: HostResult, warnings: list[str], label: str) -> None:
    if h.arch != into.arch:
        warnings.append(
            f"merge: host {h.name} is {h.arch} in {label} but {into.arch} elsewhere; kept {into.arch}"
        )
    for attr in ("kernel", "os_release"):
        a, b = getattr(into, attr), getattr(h, attr)
        if not a:
            setattr(into, attr, b)
        elif b and a != b:
            warnings.append(f"merge: host {h.name} {attr} differs between inputs ({a} vs {b})")
    into.env_tags = sorted(set(into.env_tags) | set(h.env_tags))
    into.facts = {**into.facts, **h.facts}
    into.properties = {**into.properties, **h.properties}
    for phase, secs in h.timings.items():
        into.timings[phase] = into.timings.get(phase, 0.0) + secs
    into.round_trips += h.round_trips
    into.complete = into.complete and h.complete
    if h.error:
        into.error = h.error if not into.error or h.error == into.error else f"{into.error}; {h.error}"
    by_id = {c.case: i for i, c in enumerate(into.cases)}
    for c in h.cases:
        if c.case in by_id:
            warnings.append(f"merge: {h.name} {c.case} appears in several inputs; kept the one from {label}")
            into.cases[by_id[c.case]] = copy.deepcopy(c)
        else:
            by_id[c.case] = len(into.cases)
            into.cases.append(copy.deepcopy(c))


def merge(runs: list[RunResult], run_id: Optional[str] = None) -> RunResult:
    """One RunResult from several; inputs are not modified."""
    runs = list(runs)
    out = RunResult(
        run_id=run_id or _join_unique([r.run_id for r in runs]) or "merged",
        suite=_join_unique([r.suite for r in runs]),
        started=_min([r.started for r in runs]),
        finished=_max([r.finished for r in runs]),
        incomplete=any(r.incomplete for r in runs),
        shard=None,
        kmatrix_version=_join_unique([r.kmatrix_version for r in runs], ", "),
    )
    warnings: list[str] = []
    hosts: dict[str, HostResult] = {}
    shards_seen: dict[str, list[str]] = {}
    for i, r in enumerate(runs):
        warnings.extend(r.warnings)
        label = f"input {i + 1} ({r.run_id}{', shard ' + r.shard if r.shard else ''})"
        if r.shard:
            shards_seen.setdefault(r.shard.split("/")[-1], []).append(r.shard)
        for h in r.hosts:
            if h.name not in hosts:
                first = copy.deepcopy(h)
                first.cases = []
                first.timings = {}
                first.round_trips = 0
                first.complete = True
                first.error = None
                hosts[h.name] = first
            _merge_host(hosts[h.name], h, warnings, label)
    # A sharded run with a shard missing is not the whole run.
    for n, got in shards_seen.items():
        if n.isdigit() and len(set(got)) < int(n):
            missing = sorted({f"{i}/{n}" for i in range(1, int(n) + 1)} - set(got))
            warnings.append(f"merge: shard(s) {', '.join(missing)} missing")
            out.incomplete = True
    for h in hosts.values():
        h.cases.sort(key=lambda c: c.case)
        if not h.complete:
            out.incomplete = True
    out.hosts = list(hosts.values())
    out.warnings = list(dict.fromkeys(warnings))
    return out
