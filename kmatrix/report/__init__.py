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

import functools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from kmatrix.archs import ARCHES
from kmatrix.errors import InputError
from kmatrix.expectations import effective_verdict, parse_release
from kmatrix.results import (
    KERNEL_LACKS,
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
        lacks = any(e.case.reason_class == KERNEL_LACKS for e in entries)
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


# --- Release-engineer view shared by report.md and report.html -------------------------


def cell_symbol_key(entries: list[CellEntry]) -> str:
    """What a cell says, for comparing two column groups: the verdict, except that a
    skip is "not-supported" (kernel-lacks) or "not-tested"; "" for an empty cell."""
    if not entries:
        return ""
    v = worst([e.verdict for e in entries])
    return cell_class(entries) if v == V_SKIP else v


def previous_group_column(m: Matrix, i: int) -> Optional[Column]:
    """The same arch's column in an earlier column group (`labels`), nearest first."""
    col = m.columns[i]
    if not col.group:
        return None
    return next((c for c in reversed(m.columns[:i])
                 if c.group != col.group and c.arch == col.arch), None)


def changed_from(m: Matrix, case_id: str, i: int) -> Optional[Column]:
    """The earlier group's column when this cell says something else there (the Δ rule
    of report.md): both cells ran, and their verdicts (skips by class) differ."""
    prev = previous_group_column(m, i)
    if prev is None:
        return None
    now, before = cell_symbol_key(m.cell(case_id, m.columns[i])), cell_symbol_key(m.cell(case_id, prev))
    return prev if now and before and now != before else None


def family_counts(m: Matrix, ids: list[str], col: Column) -> tuple[int, int]:
    """(supported, run): the family's cases the column's kernel supports, of those run."""
    run = [cell_class(m.cell(c, col)) for c in ids if m.cell(c, col)]
    return run.count("supported"), len(run)


# --- "since": first upstream Linux release per case (kmatrix/data/since.yaml) ----------

SINCE_FILE = Path(__file__).resolve().parent.parent / "data" / "since.yaml"
_SINCE_KEYS = ("feature", "helpers", "kfuncs", "enums", "since", "arch", "link")
_VERSION = re.compile(r"^[1-9][0-9]*\.[0-9]+$")


@dataclass(frozen=True)
class Since:
    case: str
    version: str  # "5.19"
    link: str  # https URL of the source
    arch: str = ""  # the version is this arch's (the feature came there first)
    basis: str = ""  # what the version was read from, for a tooltip

    @property
    def text(self) -> str:
        return f"since {self.version}" + (f" on {self.arch}" if self.arch else "")


def _version_key(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in v.split("."))


def _since_entry(file: str, case: str, e: Any, line: int) -> Since:
    from kmatrix.agent import helpers_table as t

    def bad(field_: str, msg: str) -> InputError:
        return InputError(file, getattr(e, "line_of", lambda _k: line)(field_), field_, msg)

    if not isinstance(e, dict):
        raise InputError(file, line, case, "expected a mapping (feature/helpers/kfuncs/"
                                           "enums/since, link)")
    for k in e:
        if k not in _SINCE_KEYS:
            raise bad(str(k), "unknown key (expected " + ", ".join(_SINCE_KEYS) + ")")
    found: list[tuple[str, str]] = []  # (version, what it is)

    def names(key: str) -> list[str]:
        v = e.get(key) or []
        if not isinstance(v, list) or not v or not all(isinstance(x, str) and x for x in v):
            raise bad(key, "must be a non-empty list of names")
        return v

    if "feature" in e:
        if e["feature"] not in t.FEATURES:
            raise bad("feature", f"{e['feature']!r} is not a key of FEATURES in "
                                 "kmatrix/agent/helpers_table.py")
        found.append((t.FEATURES[e["feature"]][1], f"FEATURES[{e['feature']!r}]"))
    for n in names("helpers") if "helpers" in e else []:
        hid = t.HELPERS.index(n) if n in t.HELPERS else -1
        if hid <= 0 or hid not in t.HELPER_SINCE:
            raise bad("helpers", f"helper {n!r} has no version in HELPER_SINCE")
        found.append((t.HELPER_SINCE[hid], f"helper bpf_{n}"))
    for n in names("kfuncs") if "kfuncs" in e else []:
        if n not in t.KFUNC_SINCE:
            raise bad("kfuncs", f"kfunc {n!r} has no version in KFUNC_SINCE")
        found.append((t.KFUNC_SINCE[n], f"kfunc {n}"))
    for n in names("enums") if "enums" in e else []:
        if n not in t.UAPI_ENUM_SINCE:
            raise bad("enums", f"{n!r} has no version in UAPI_ENUM_SINCE")
        found.append((t.UAPI_ENUM_SINCE[n], n))
    if "since" in e:
        if found:
            raise bad("since", "give a version only when helpers_table.py has none: "
                               "not together with feature/helpers/kfuncs/enums")
        if not isinstance(e["since"], str) or not _VERSION.match(e["since"]):
            raise bad("since", 'must be a quoted release such as "5.19"')
        found.append((e["since"], "since.yaml"))
    if not found:
        raise InputError(file, line, case, "needs feature, helpers, kfuncs, enums or since")
    link = e.get("link")
    if not isinstance(link, str) or not re.match(r"^https://[^\s\"'<>()\[\]|`]+$", link):
        raise bad("link", "must be the https URL of the source")
    arch = e.get("arch", "")
    if arch and arch not in ARCHES:
        raise bad("arch", "must be one of " + ", ".join(ARCHES))
    version = max((v for v, _ in found), key=_version_key)
    basis = ", ".join(w for v, w in found if v == version)
    where = "since.yaml" if "since" in e else "kmatrix/agent/helpers_table.py"
    return Since(case, version, link, arch, f"{basis} ({where})")


@functools.lru_cache(maxsize=4)
def _load_since_cached(path: str) -> dict[str, Since]:
    from kmatrix import yamlpos

    doc = yamlpos.load(path)
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise InputError(path, getattr(doc, "line", 1), "file", "expected a mapping of case ids")
    out: dict[str, Since] = {}
    for case, e in doc.items():
        line = doc.line_of(case) if hasattr(doc, "line_of") else None
        if not isinstance(case, str) or not re.match(r"^[a-z0-9_]+/[a-z0-9_]+$", case):
            raise InputError(path, line, str(case), "keys are case ids, <family>/<name>")
        out[case] = _since_entry(path, case, e, line or 1)
    return out


def load_since(path: Optional[Path | str] = None) -> dict[str, Since]:
    """case id -> Since, from kmatrix/data/since.yaml (or `path`); versions resolved
    against kmatrix/agent/helpers_table.py. A malformed file is an InputError."""
    return dict(_load_since_cached(str(path or SINCE_FILE)))


def libbpf_text(h: HostResult, full: bool = False) -> str:
    """Which libbpf loaded the host's cases: '1.1.2 (bundled, sha256 ab12cd34ef56)';
    `full` adds the Debian source and the whole sha256."""
    props = h.properties or {}
    ver = props.get("libbpf") or (h.facts or {}).get("libbpf") or "-"
    sha = props.get("libbpf.sha256") or ""
    parts = (props.get("libbpf.mode") or "", props.get("libbpf.source") or "" if full else "",
             f"sha256 {sha if full else sha[:12]}" if sha else "")
    extra = ", ".join(x for x in parts if x)
    return f"{ver} ({extra})" if extra else ver
