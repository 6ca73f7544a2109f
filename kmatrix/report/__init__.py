"""Report writers over the result model (kmatrix.results).

- junit.py     write_junit(run, outdir) -> [<outdir>/<arch>/junit.xml, ...]
- jsonout.py   write_results / write_partial / read_results (results.json)
- markdown.py  write_markdown(runs, path)   feature x (arch, kernel) matrix
- html.py      write_html(runs, path)       the same, self-contained, filterable
- diff.py      diff(base_runs, new_runs) -> Diff
- merge.py     merge(runs) -> RunResult     shards / arches into one run

This module holds the helpers they share: verdict order and the matrix model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

from kmatrix.archs import ARCHES
from kmatrix.expectations import effective_verdict, parse_release
from kmatrix.results import (
    V_ERROR,
    V_FAIL,
    V_FLAKY,
    V_PASS,
    V_SKIP,
    V_XFAIL,
    V_XPASS,
    CaseResult,
    HostResult,
    RunResult,
)

# Worst first: when several hosts land in one matrix cell, the cell shows the worst.
SEVERITY = (V_FAIL, V_ERROR, V_XPASS, V_FLAKY, V_XFAIL, V_SKIP, V_PASS)

LEGEND = {
    V_PASS: "feature works",
    V_FAIL: "unexpected failure: a regression",
    V_XFAIL: "known failure, covered by a suite expectation (with link)",
    V_XPASS: "passed although an expectation says it fails: the expectation may be stale",
    V_SKIP: "not run: kernel-lacks, environment-blocks or hardware-missing",
    V_ERROR: "infrastructure error: the case could not be judged",
    V_FLAKY: "failed, then passed on a rerun",
}


def verdict_of(c: CaseResult) -> str:
    return effective_verdict(c)


def worst(verdicts: list[str]) -> str:
    for v in SEVERITY:
        if v in verdicts:
            return v
    return verdicts[0] if verdicts else V_ERROR


def arch_order(arch: str) -> int:
    names = list(ARCHES)
    return names.index(arch) if arch in names else len(names)


def kernel_sort_key(release: str) -> tuple:
    v = parse_release(release)
    return (v or (0, 0, 0), release)


def kernel_major_minor(release: str) -> str:
    """"6.1.0-27-amd64" -> "6.1"; the release itself when it has no numbers."""
    v = parse_release(release)
    return f"{v[0]}.{v[1]}" if v else (release or "?")


@dataclass
class CellEntry:
    run: RunResult
    host: HostResult
    case: CaseResult

    @property
    def verdict(self) -> str:
        return verdict_of(self.case)


@dataclass
class Column:
    arch: str
    kernel: str
    hosts: list[HostResult] = field(default_factory=list)
    os: str = ""  # distro release, e.g. "debian 11", "openEuler 22.03"
    group: str = ""  # `kmatrix report --label NAME=...`: one column group per release

    @property
    def key(self) -> tuple[str, str, str, str]:
        return (self.group, self.arch, self.kernel, self.os)

    @property
    def label(self) -> str:
        head = f"{self.group}: " if self.group else ""
        tail = f" ({self.os})" if self.os else ""
        return f"{head}{self.arch} {self.kernel}{tail}".strip()


def os_label(h: HostResult) -> str:
    """"debian 11" from os-release ID and VERSION_ID, else PRETTY_NAME, else ""."""
    osr = (h.facts or {}).get("os_release") or {}
    if osr.get("ID") and osr.get("VERSION_ID"):
        return f"{osr['ID']} {osr['VERSION_ID']}"
    return h.os_release or ""


# What a cell means to a release engineer: supported, not supported by this kernel,
# not tested here, a known failure, a regression. Skips differ by their reason class.
def cell_class(entries: list[CellEntry]) -> str:
    v = worst([e.verdict for e in entries]) if entries else V_ERROR
    if v in (V_PASS, V_FLAKY, V_XPASS):
        return "supported"
    if v == V_SKIP:
        lacks = any(e.case.reason_class == "kernel-lacks" for e in entries)
        return "not-supported" if lacks else "not-tested"
    if v == V_XFAIL:
        return "known-failure"
    return "regression" if v == V_FAIL else "error"


CLASS_LEGEND = {
    "supported": "the kernel has the feature: the case passed",
    "not-supported": "the kernel lacks the feature (kernel-lacks skip, what is missing in the footnote)",
    "not-tested": "not tested here: the environment blocks it or the hardware is missing",
    "known-failure": "fails, as a suite expectation says (with link)",
    "regression": "fails and no expectation covers it",
    "error": "could not be judged (infrastructure error)",
}


@dataclass
class Matrix:
    columns: list[Column]
    rows: list[str]  # case ids, sorted by family then name
    cells: dict[tuple[str, tuple[str, str]], list[CellEntry]]
    host_errors: list[tuple[RunResult, HostResult]]

    descriptions: dict[str, str] = field(default_factory=dict)  # case id -> description

    def cell(self, case_id: str, col: Column) -> list[CellEntry]:
        return self.cells.get((case_id, col.key), [])

    def cell_verdict(self, case_id: str, col: Column) -> Optional[str]:
        entries = self.cell(case_id, col)
        return worst([e.verdict for e in entries]) if entries else None

    def families(self) -> list[str]:
        seen: list[str] = []
        for r in self.rows:
            f = r.split("/", 1)[0]
            if f not in seen:
                seen.append(f)
        return seen


def build_matrix(runs: list[RunResult], labels: Optional[list[str]] = None) -> Matrix:
    """Feature x (arch, kernel release, distro release) over every host of every run;
    with `labels` (one per run) each label is a column group, kept side by side in
    the order given, so two releases on one kernel are two columns."""
    cols: dict[tuple[str, str, str, str], Column] = {}
    cells: dict[tuple[str, tuple[str, str, str, str]], list[CellEntry]] = {}
    rows: set[str] = set()
    desc: dict[str, str] = {}
    host_errors: list[tuple[RunResult, HostResult]] = []
    for i, run in enumerate(runs):
        group = labels[i] if labels else ""
        for h in run.hosts:
            col = Column(h.arch, h.kernel or "?", os=os_label(h), group=group)
            col = cols.setdefault(col.key, col)
            col.hosts.append(h)
            if h.error:
                host_errors.append((run, h))
            for c in h.cases:
                rows.add(c.case)
                if c.description:
                    desc.setdefault(c.case, c.description)
                cells.setdefault((c.case, col.key), []).append(CellEntry(run, h, c))
    order = list(dict.fromkeys(labels or [""]))
    columns = sorted(
        cols.values(), key=lambda c: (order.index(c.group), arch_order(c.arch), c.arch,
                                      kernel_sort_key(c.kernel), c.os)
    )
    return Matrix(columns, sorted(rows), cells, host_errors, desc)


def excerpt(text: str, max_lines: int = 40, max_chars: int = 4000) -> str:
    """The tail of a log: the verifier's verdict is at the end."""
    if not text:
        return ""
    lines = text.rstrip("\n").splitlines()
    cut = lines[-max_lines:]
    out = "\n".join(cut)
    if len(out) > max_chars:
        out = out[-max_chars:]
    if len(cut) < len(lines) or len(out) < len("\n".join(cut)):
        out = f"[... {len(lines) - len(cut)} earlier line(s) cut ...]\n" + out
    return out
