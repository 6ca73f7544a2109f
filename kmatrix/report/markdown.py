"""report.md: feature x (arch, kernel) matrix with a legend and one footnote per
non-pass cell saying why."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

from kmatrix.fileutil import atomic_write
from kmatrix.report import (
    CLASS_LEGEND,
    LEGEND,
    SEVERITY,
    CellEntry,
    Column,
    Matrix,
    build_matrix,
    cell_class,
    changed_from,
    family_counts,
    libbpf_text,
    load_since,
)
from kmatrix.report.workloads import (
    NA,
    NOT_READY,
    PARTLY,
    READY,
    STATE_LEGEND,
    STATE_TEXT,
    changed,
    load_workloads,
    readiness,
)
from kmatrix.results import (
    NOT_APPLICABLE,
    V_ERROR,
    V_FAIL,
    V_FLAKY,
    V_PASS,
    V_SKIP,
    V_XFAIL,
    V_XPASS,
    RunResult,
)

SYMBOL = {
    V_PASS: "✅ pass",
    V_FAIL: "❌ **FAIL**",
    V_XFAIL: "⚠️ xfail",
    V_XPASS: "❗ xpass",
    V_SKIP: "⏭️ skip",
    V_ERROR: "💥 error",
    V_FLAKY: "🔁 flaky",
}


def _md(text: str) -> str:
    """Make text safe inside a table cell or footnote: one line, no pipes/markup, and
    no control characters (a reason from a target may carry ESC; shown as \\x1b)."""
    from kmatrix.errors import printable

    t = printable(" ".join(str(text).split()))
    for ch in ("\\", "|", "*", "_", "`", "[", "]", "<", ">"):
        t = t.replace(ch, "\\" + ch)
    return t


def entry_reason(e: CellEntry) -> str:
    c = e.case
    v = e.verdict
    exp = c.expectation or {}
    link = exp.get("link") or ""
    if v == V_SKIP:
        text = f"[{c.reason_class or 'unclassified'}] {c.reason}"
    elif v in (V_XFAIL, V_XPASS):
        why = exp.get("reason") or c.reason
        text = f"expected to fail ({exp.get('suite', '')}): {why}"
        if v == V_XFAIL and c.reason and c.reason != why:
            text += f"; observed: {c.reason}"
        if v == V_XPASS:
            text = "passed, but " + text + " (expectation may be stale)"
    elif v == V_FLAKY:
        text = f"flaky after {c.attempts} attempt(s): {c.reason}"
    else:
        text = c.reason or v
    out = _md(text)
    if link:
        out += f" ([link]({link}))"
    return out


def _footnote(entries: list[CellEntry]) -> str:
    names = [e.host.name for e in entries]
    parts: list[str] = []
    for e in entries:
        if e.verdict == V_PASS:
            continue
        who = ""
        if len(entries) > 1:
            # Same host in several runs (e.g. a rerun): say which run.
            who = e.host.name + (f" (run {e.run.run_id})" if names.count(e.host.name) > 1 else "")
            who = f"{_md(who)}: "
        part = f"{who}{e.verdict}: {entry_reason(e)}"
        if part not in parts:
            parts.append(part)
    return "; ".join(parts)


# A skip is "not supported" when the kernel lacks the feature, "n/a" when the case is
# for other arches, "untested" otherwise.
SKIP_SYMBOL = {"not-supported": "⛔ lacks", "not-tested": "➖ untested", NOT_APPLICABLE: "n/a"}


def _symbol(m: Matrix, case_id: str, col: Column) -> str:
    entries = m.cell(case_id, col)
    if not entries:
        return "—"
    v = m.cell_verdict(case_id, col) or V_ERROR
    return SKIP_SYMBOL[cell_class(entries)] if v == V_SKIP else SYMBOL.get(v, v)


def _cell(m: Matrix, case_id: str, i: int, notes: list[str]) -> str:
    col = m.columns[i]
    entries = m.cell(case_id, col)
    cell = _symbol(m, case_id, col)
    if entries and cell_class(entries) != NOT_APPLICABLE and \
            any(e.verdict != V_PASS for e in entries):
        note = _footnote(entries)
        if note not in notes:  # one footnote per distinct reason
            notes.append(note)
        cell += f" [^{notes.index(note) + 1}]"
    if changed_from(m, case_id, i) is not None:
        cell += " Δ"
    return cell


def _family_summary(m: Matrix, ids: list[str], col: Column) -> str:
    """'n of m': cases of the family the column's kernel supports, of those run there
    that apply to its arch."""
    ok, run = family_counts(m, ids, col)
    return f"{ok} of {run}" if run else "—"


def _since(case_id: str) -> str:
    """' (since [5.19](source))': the first upstream release (kmatrix/data/since.yaml)."""
    s = load_since().get(case_id)
    if s is None:
        return ""
    return f" (since [{s.version}]({s.link})" + (f" on {_md(s.arch)}" if s.arch else "") + ")"


def _row_label(m: Matrix, case_id: str) -> str:
    desc = m.descriptions.get(case_id, "")
    if len(desc) > 90:
        desc = desc[:87].rstrip() + "..."
    return f"`{case_id}`{_since(case_id)}" + (f" — {_md(desc)}" if desc else "")


PROBE_SYMBOL = {"yes": "✅ has", "no": "⛔ lacks", "blocked": "🚧 blocked", "unknown": "❔"}


def _probe_table(m: Matrix, notes: list[str]) -> list[str]:
    """Capability probes (agent/probes.py) per column: what each kernel offers,
    measured by a real attempt; "lacks" and "blocked" cells get a footnote."""
    per_col = [next(((h.facts or {}).get("probes") for h in col.hosts
                     if (h.facts or {}).get("probes")), None) or {} for col in m.columns]
    names = sorted({n for p in per_col for n in p})
    if not names:
        return []
    out = ["## Capability probes", "",
           "| probe | " + " | ".join(_md(c.label) for c in m.columns) + " |",
           "| --- |" + " --- |" * len(m.columns)]
    for name in names:
        cells = []
        for probes in per_col:
            r = probes.get(name)
            if not isinstance(r, dict):
                cells.append("—")
                continue
            cell = PROBE_SYMBOL.get(r.get("state"), "?")
            if r.get("state") in ("no", "blocked"):
                note = _md(f"{name}: {r.get('sentence', '')}")
                if note not in notes:
                    notes.append(note)
                cell += f" [^{notes.index(note) + 1}]"
            cells.append(cell)
        out.append(f"| `{name}` | " + " | ".join(cells) + " |")
    out.append("")
    return out


WORKLOAD_SYMBOL = {READY: "✅ ready", NOT_READY: "❌ not ready", PARTLY: "❔ partly known",
                   NA: "n/a"}


def _workloads_table(m: Matrix, notes: list[str]) -> list[str]:
    """Per workload and column: ready, not ready (what fails), partly known (what is
    untested), n/a; the why in a footnote (kmatrix/report/workloads.py)."""
    ws = load_workloads()
    if not ws:
        return []
    out = ["## Workloads", "",
           "Can these projects run here? Each one's own documented kernel requirements "
           "(kmatrix/data/workloads.yaml, every one linked to the page stating it), "
           "judged by the cases and facts above.", "",
           "| workload | " + " | ".join(_md(c.label) for c in m.columns) + " |",
           "| --- |" + " --- |" * len(m.columns)]
    for w, states in zip(ws, readiness(m, ws).values()):
        cells = []
        for i, r in enumerate(states):
            cell = WORKLOAD_SYMBOL[r.state]
            if r.state in (NOT_READY, PARTLY):
                note = _md(f"{w.name}: {STATE_TEXT[r.state]}: {r.summary()}")
                if note not in notes:
                    notes.append(note)
                cell += f" [^{notes.index(note) + 1}]"
            if changed(m, states, i) is not None:
                cell += " Δ"
            cells.append(cell)
        out.append(f"| {_md(w.name)} | " + " | ".join(cells) + " |")
    out.append("")
    for w in ws:
        reqs = "; ".join(f"[{_md(r.what)}]({r.link})"
                         + (f" ({_md(', '.join(r.cases))})" if r.cases else "")
                         for r in w.requirements)
        out.append(f"- **{_md(w.name)}**: {reqs}")
    out.append("")
    out.append("Not ready wins over partly known: a requirement measured to fail decides, "
               "whatever else is untested. " + " ".join(
                   f"{WORKLOAD_SYMBOL[s]}: {STATE_LEGEND[s]}." for s in (READY, NOT_READY, PARTLY, NA)))
    out.append("")
    return out


def render_markdown(runs: list[RunResult], title: Optional[str] = None,
                    labels: Optional[list[str]] = None) -> str:
    m: Matrix = build_matrix(runs, labels)
    out: list[str] = []
    out.append(f"# {title or 'kmatrix BPF feature compatibility report'}")
    out.append("")
    for r in runs:
        status = " — **incomplete**" if r.incomplete else ""
        shard = f", shard {r.shard}" if r.shard else ""
        out.append(
            f"- run `{r.run_id}`, suite `{r.suite or '-'}`{shard}, "
            f"{r.started or '?'} – {r.finished or '?'}{status}"
        )
    out.append("")
    if not m.columns:
        out.append("No hosts in these results.")
        return "\n".join(out) + "\n"

    out.append("## Hosts")
    out.append("")
    out.append("| column | host | os | env tags | libbpf | compiler |")
    out.append("| --- | --- | --- | --- | --- | --- |")
    for col in m.columns:
        for h in col.hosts:
            props = h.properties or {}
            row = (
                f"| {_md(col.label)} | {_md(h.name)} | {_md(h.os_release or '-')} | "
                f"{_md(', '.join(h.env_tags) or '-')} | "
                f"{_md(libbpf_text(h))} | "
                f"{_md(props.get('compiler') or '-')} |"
            )
            if row not in out:  # the same host in several runs
                out.append(row)
    out.append("")

    notes: list[str] = []
    out += _probe_table(m, notes)

    out.append("## Matrix")
    out.append("")
    header = "| feature | " + " | ".join(_md(c.label) for c in m.columns) + " |"
    out.append(header)
    out.append("| --- |" + " --- |" * len(m.columns))
    for family in m.families():
        ids = [r for r in m.rows if r.split("/", 1)[0] == family]
        out.append(f"| **{_md(family)}** | " + " | ".join(
            _family_summary(m, ids, col) for col in m.columns) + " |")
        for case_id in ids:
            cells = [_cell(m, case_id, i, notes) for i in range(len(m.columns))]
            out.append(f"| {_row_label(m, case_id)} | " + " | ".join(cells) + " |")
    out.append("")
    out.append("— : not run on that column (not selected, or the host stopped early). "
               "Δ: differs from the same arch in the previous column group. "
               "since X: the first upstream Linux release with the feature, linked to "
               "the source that dates it.")
    out.append("")

    out += _workloads_table(m, notes)

    out.append("## Legend")
    out.append("")
    out.append("| symbol | meaning |")
    out.append("| --- | --- |")
    for v in SEVERITY:
        if v == V_SKIP:
            out.append(f"| {SKIP_SYMBOL['not-supported']} | {CLASS_LEGEND['not-supported']} |")
            out.append(f"| {SKIP_SYMBOL['not-tested']} | {CLASS_LEGEND['not-tested']} |")
            out.append(f"| {SKIP_SYMBOL[NOT_APPLICABLE]} | {CLASS_LEGEND[NOT_APPLICABLE]} |")
        else:
            out.append(f"| {SYMBOL[v]} | {LEGEND[v]} |")
    out.append("")

    if m.host_errors:
        out.append("## Host errors")
        out.append("")
        lines = [f"- **{_md(h.name)}** ({_md(h.arch)}, run `{r.run_id}`): {_md(h.error or '')}"
                 for r, h in m.host_errors]
        out.extend(dict.fromkeys(lines))
        out.append("")

    warnings = [w for r in runs for w in r.warnings]
    if warnings:
        out.append("## Warnings")
        out.append("")
        for w in dict.fromkeys(warnings):
            out.append(f"- {_md(w)}")
        out.append("")

    for i, n in enumerate(notes, 1):
        out.append(f"[^{i}]: {n}")
    return "\n".join(out).rstrip("\n") + "\n"


def write_markdown(runs: list[RunResult], path: Path | str,
                   labels: Optional[list[str]] = None) -> Path:
    p = Path(path)
    p.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(p, render_markdown(list(runs), labels=labels).encode("utf-8", "backslashreplace"))
    return p
