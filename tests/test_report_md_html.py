"""report.md and report.html: matrix shape, footnotes, self-containment, escaping."""

from __future__ import annotations

import copy
import re
from html.parser import HTMLParser
from pathlib import Path

import pytest
from test_junit import sample_run

from kmatrix.report.html import write_html
from kmatrix.report.markdown import write_markdown
from kmatrix.results import CaseResult, RunResult

pytestmark = pytest.mark.fast


def _runs() -> list[RunResult]:
    run = sample_run()
    # A second run on another kernel line, so columns are (arch, kernel) pairs.
    other = copy.deepcopy(run)
    other.run_id = "second"
    other.incomplete = False
    other.hosts = [other.hosts[0]]
    other.hosts[0].name = "box-x86-trixie"
    other.hosts[0].kernel = "6.12.48+deb13-amd64"
    for c in other.hosts[0].cases:
        c.verdict, c.state, c.reason = "pass", "pass", ""
    other.warnings = ["suites/x.yaml:4: expectation for perf/* (xfail) expired on 2024-01-01"]
    return [run, other]


def _unsince(label: str) -> str:
    """A row label without its " (since [X](link))" (kmatrix/data/since.yaml)."""
    return re.sub(r" \(since \[[^\]]*\]\([^)]*\)(?: on [^)]*)?\)", "", label)


def _table(md: str, families: bool = False) -> list[list[str]]:
    sec = md.split("## Matrix", 1)[1].split("\n## ", 1)[0]
    rows = [ln for ln in sec.splitlines() if ln.startswith("|")]
    if not families:  # family summary rows ("| **kfunc** | 1 of 1 |") left out
        rows = [r for r in rows if not r.startswith("| **")]
    return [[c.strip() for c in r.strip().strip("|").split(" | ")] for r in rows]


def test_markdown_matrix(tmp_path: Path) -> None:
    p = write_markdown(_runs(), tmp_path / "report.md")
    md = p.read_text()
    t = _table(md)
    header = t[0]
    deb12 = " (Debian GNU/Linux 12 (bookworm))"  # distro release in every column label
    assert header == ["feature", "x86\\_64 6.1.0-27-amd64" + deb12,
                      "x86\\_64 6.12.48+deb13-amd64" + deb12, "aarch64 6.1.0-27-arm64" + deb12,
                      "riscv64 ?"]
    body = {_unsince(r[0]): r[1:] for r in t[2:]}
    assert set(body) == {"`kfunc/task_acquire`", "`dynptr/from_mem`", "`dynptr/ringbuf`",
                         "`trampoline/fentry_fexit`", "`xdp_frags/frags_test_run`",
                         "`perf/cpu_clock`", "`perf/arm_spe`"}
    fentry = body["`trampoline/fentry_fexit`"]
    # ftrace blocked: not tested here, which is not the same as "the kernel lacks it"
    assert fentry[0].startswith("➖ untested [^") and fentry[1] == "✅ pass"
    assert fentry[2].startswith("⚠️ xfail [^") and fentry[3] == "—"
    assert body["`dynptr/from_mem`"][0].startswith("❌ **FAIL** [^")
    assert body["`dynptr/ringbuf`"][2].startswith("❗ xpass [^")
    assert body["`perf/cpu_clock`"][0].startswith("🔁 flaky [^")

    # one footnote per non-pass cell, each defined once, with the reason (the
    # Workloads section's own footnotes come after: tests/test_workloads.py)
    refs = re.findall(r"\[\^(\d+)\](?!:)", md.split("## Matrix", 1)[1].split("\n## ", 1)[0])
    defs = {k: v for k, v in re.findall(r"^\[\^(\d+)\]: (.*)$", md, flags=re.M) if k in refs}
    non_pass = sum(1 for cells in body.values() for c in cells if c not in ("✅ pass", "—"))
    assert len(refs) == len(set(refs)) == len(defs) == non_pass == 7
    texts = list(defs.values())
    assert any("[environment-blocks] ftrace is not usable" in t.replace("\\", "") for t in texts)
    assert any("DENYLIST.aarch64" in t and "xfail" in t for t in texts)
    assert any("hardware-missing" in t for t in texts)
    assert any(t.startswith("xpass: passed, but expected to fail") for t in texts)

    assert "## Legend" in md and "## Host errors" in md and "host key mismatch" in md
    assert "expired on 2024-01-01" in md
    assert "**incomplete**" in md


def test_markdown_escapes_pipes(tmp_path: Path) -> None:
    run = sample_run()
    run.hosts[0].cases[1].reason = "a | b\nnext line"
    md = write_markdown([run], tmp_path / "r.md").read_text()
    for row in _table(md):
        assert len(row) == 4  # feature + 3 columns: no stray pipe split a row
    assert "a \\| b next line" in md


class _Scan(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.scripts: list[str] = []
        self._in_script = False

    def handle_starttag(self, tag: str, attrs: list) -> None:
        self.tags.append((tag, {k: v or "" for k, v in attrs}))
        self._in_script = tag == "script"

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._in_script = False

    def handle_data(self, data: str) -> None:
        if self._in_script:
            self.scripts.append(data)


def _scan(path: Path) -> _Scan:
    s = _Scan()
    s.feed(path.read_text())
    s.close()
    return s


def test_html_self_contained_and_filterable(tmp_path: Path) -> None:
    p = write_html(_runs(), tmp_path / "report.html")
    s = _scan(p)
    tags = [t for t, _ in s.tags]
    # nothing the browser would fetch
    for tag, attrs in s.tags:
        assert "src" not in attrs, (tag, attrs)
        assert tag not in ("link", "img", "iframe", "object", "embed")
        if "href" in attrs:
            assert tag == "a" and attrs["href"].startswith("https://")
    assert "@import" not in p.read_text() and "url(" not in p.read_text()
    assert "fetch(" not in "".join(s.scripts) and "XMLHttpRequest" not in "".join(s.scripts)
    # the three filters
    selects = {a.get("id") for t, a in s.tags if t == "select"}
    assert selects == {"f-family", "f-arch", "f-state"}
    options = [a.get("value") for t, a in s.tags if t == "option"]
    for v in ("kfunc", "trampoline", "x86_64", "aarch64", "riscv64", "xfail", "flaky"):
        assert v in options
    # cells carry their state for the filter, all verdicts present
    states = {a["data-state"] for t, a in s.tags if t == "td" and "data-state" in a}
    assert states == {"pass", "fail", "xfail", "xpass", "skip", "error", "flaky", "none"}
    rows = [a for t, a in s.tags if t == "tr" and "row" in a.get("class", "")]
    assert len(rows) == 7 and {r["data-family"] for r in rows} >= {"kfunc", "perf"}
    # a <details> per matrix cell that ran, and per workload cell with findings (not n/a)
    assert tags.count("details") == sum(1 for t, a in s.tags
                                        if t == "td" and a.get("data-state") not in (None, "none")) \
        + sum(1 for t, a in s.tags if t == "td" and a.get("data-wl-state") not in (None, "n/a"))


def test_html_cell_detail(tmp_path: Path) -> None:
    text = write_html(_runs(), tmp_path / "report.html").read_text()
    assert "reason class</b>: environment-blocks" in text
    assert ('href="https://github.com/kernel-patches/vmtest/blob/master/ci/vmtest/configs/'
            'DENYLIST.aarch64"') in text
    assert "processed 2 insns" in text  # verifier log excerpt
    assert "Debian GNU/Linux 12 (bookworm)" in text and "lab, tcg" in text  # host facts
    assert "host key mismatch" in text


def test_html_escapes_hostile_text(tmp_path: Path) -> None:
    run = sample_run()
    run.hosts[0].cases[1].reason = "<script>alert(1)</script>"
    run.hosts[0].cases[1].verifier_log = '"><img src=x onerror=alert(1)>'
    run.hosts[1].cases[0].expectation["link"] = "javascript:alert(1)"  # type: ignore[index]
    p = write_html([run], tmp_path / "r.html")
    text = p.read_text()
    assert "<script>alert(1)" not in text and "<img" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert 'href="javascript:' not in text
    s = _scan(p)
    assert all(t != "img" for t, _ in s.tags)


def test_empty(tmp_path: Path) -> None:
    assert "No hosts" in write_markdown([RunResult(run_id="e")], tmp_path / "e.md").read_text()
    assert "No hosts" in write_html([RunResult(run_id="e")], tmp_path / "e.html").read_text()


def test_unapplied_verdicts_fall_back_to_state(tmp_path: Path) -> None:
    run = sample_run()
    run.hosts[0].cases = [CaseResult("kfunc/task_acquire", "kfunc", "fail", reason="boom")]
    md = write_markdown([run], tmp_path / "r.md").read_text()
    assert "❌ **FAIL**" in md and "boom" in md


# The filter script, run under node against a small fake DOM built from the page.
_HARNESS = r"""
const page = JSON.parse(require('fs').readFileSync(process.argv[2], 'utf8'));
function mk(tag, attrs) {
  const cls = new Set((attrs['class'] || '').split(' ').filter(Boolean));
  return {tag, attrs, kids: [],
    getAttribute(k) { return k in attrs ? attrs[k] : null; },
    classList: {contains: c => cls.has(c), toggle: (c, on) => on ? cls.add(c) : cls.delete(c)},
    hidden() { return cls.has('hidden'); },
    querySelectorAll(sel) { return match(this.kids, sel); }};
}
function match(list, sel) {
  if (sel === '[data-col-arch]') return list.filter(e => e.getAttribute('data-col-arch') !== null);
  if (sel === 'tr.row') return list.filter(e => e.tag === 'tr' && e.classList.contains('row'));
  if (sel === 'td.cell') return list.filter(e => e.tag === 'td' && e.classList.contains('cell'));
  throw new Error('selector not handled by the harness: ' + sel);
}
const all = [];
for (const h of page.headers) all.push(mk('th', h));
const rows = page.rows.map(r => {
  const tr = mk('tr', r.attrs);
  tr.kids = r.cells.map(c => mk('td', c));
  all.push(tr, ...tr.kids);
  return tr;
});
const selects = {};
for (const id of ['f-family', 'f-arch', 'f-state'])
  selects[id] = {value: page.filters[id] || '', addEventListener() {}};
global.document = {getElementById: id => selects[id], querySelectorAll: sel => match(all, sel)};
eval(page.script);
console.log(JSON.stringify({
  rows: rows.map(r => !r.hidden()),
  cells: rows.map(r => r.kids.map(c => !c.hidden())),
}));
"""


def _page_model(path: Path) -> dict:
    s = _scan(path)
    headers = [a for t, a in s.tags if t == "th" and "data-col-arch" in a]
    rows: list[dict] = []
    for t, a in s.tags:
        if t == "tr" and "row" in a.get("class", ""):
            rows.append({"attrs": a, "cells": []})
        elif t == "td" and "cell" in a.get("class", "") and rows:
            rows[-1]["cells"].append(a)
    return {"headers": headers, "rows": rows, "script": "".join(s.scripts)}


def _run_filters(tmp_path: Path, page: dict, **filters: str) -> dict:
    import json
    import shutil
    import subprocess

    node = shutil.which("node") or shutil.which("nodejs")
    if not node:
        pytest.skip("node not installed")
    data = tmp_path / "page.json"
    data.write_text(json.dumps({**page, "filters": {f"f-{k}": v for k, v in filters.items()}}))
    js = tmp_path / "harness.js"
    js.write_text(_HARNESS)
    r = subprocess.run([node, str(js), str(data)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    return json.loads(r.stdout)


def test_html_filters_in_node(tmp_path: Path) -> None:
    page = _page_model(write_html(_runs(), tmp_path / "report.html"))
    ids = [r["attrs"]["data-family"] for r in page["rows"]]
    n_rows = len(page["rows"])
    assert _run_filters(tmp_path, page)["rows"] == [True] * n_rows

    by_family = _run_filters(tmp_path, page, family="perf")["rows"]
    assert by_family == [f == "perf" for f in ids]

    by_state = _run_filters(tmp_path, page, state="xfail")
    states = [[c["data-state"] for c in r["cells"]] for r in page["rows"]]
    assert by_state["rows"] == ["xfail" in s for s in states] and sum(by_state["rows"]) == 1

    # arch filter hides other columns, and the state filter only looks at visible ones
    arch = _run_filters(tmp_path, page, arch="x86_64", state="xfail")
    arches = [c["data-col-arch"] for c in page["rows"][0]["cells"]]
    assert arch["cells"][0] == [a == "x86_64" for a in arches]
    assert arch["rows"] == [False] * n_rows  # the only xfail is on aarch64
    both = _run_filters(tmp_path, page, arch="aarch64", state="xfail", family="trampoline")
    assert both["rows"] == [f == "trampoline" for f in ids]


def test_markdown_probe_table_and_shared_footnotes(tmp_path: Path) -> None:
    runs = _runs()
    lacks = {"state": "no", "class": "kernel-lacks",
             "sentence": "no BPF trampoline on aarch64 in this kernel: attaching fentry on "
                         "bpf_fentry_test1 returns -524 ENOTSUPP"}
    runs[0].hosts[0].facts["probes"] = {"trampoline": {"state": "yes", "class": None,
                                                       "sentence": "attaches"},
                                        "atomics": {"state": "yes", "class": None,
                                                    "sentence": "loads"}}
    runs[0].hosts[1].facts["probes"] = {"trampoline": lacks}
    runs[0].hosts[2].facts["probes"] = {"trampoline": lacks}
    md = write_markdown(runs, tmp_path / "r.md").read_text()
    sec = md.split("## Capability probes", 1)[1].split("\n## ", 1)[0]
    rows = {r.split(" | ")[0].strip("| "): r for r in sec.splitlines() if r.startswith("| `")}
    assert set(rows) == {"`atomics`", "`trampoline`"}
    assert "✅ has" in rows["`trampoline`"] and "⛔ lacks [^" in rows["`trampoline`"]
    # Two cells with the same sentence share one footnote.
    refs = re.findall(r"\[\^(\d+)\]", rows["`trampoline`"])
    assert len(refs) == 2 and len(set(refs)) == 1
    assert re.search(rf"^\[\^{refs[0]}\]: trampoline: no BPF trampoline", md, flags=re.M)


def _two_releases() -> tuple[RunResult, RunResult]:
    """One x86_64 host on one kernel in two releases: kfunc/task_acquire is a
    kernel-lacks skip in the old one and passes in the new one."""
    old, new = copy.deepcopy(sample_run()), copy.deepcopy(sample_run())
    for run in (old, new):
        run.hosts = [run.hosts[0]]
    for c in old.hosts[0].cases:
        c.description = "what the case proves, in one line"
        if c.case == "kfunc/task_acquire":
            c.state, c.verdict, c.reason_class = "skip", "skip", "kernel-lacks"
            c.reason = "kernel BTF has no kfunc bpf_task_acquire"
    for c in new.hosts[0].cases:
        if c.case == "kfunc/task_acquire":
            c.state, c.verdict, c.reason_class, c.reason = "pass", "pass", None, ""
    return old, new


def test_release_comparison_groups_summaries_and_symbols(tmp_path: Path) -> None:
    """Two releases on one kernel stay two column groups; a family row counts the
    supported cases; kernel-lacks reads "lacks", not "untested"; changes are marked."""
    old, new = _two_releases()
    md = write_markdown([old, new], tmp_path / "r.md", labels=["22.03-SP4", "24.03-SP1"]).read_text()
    rows = _table(md, families=True)
    assert rows[0][1].startswith("22.03-SP4: x86\\_64 6.1.0-27-amd64")
    assert rows[0][2].startswith("24.03-SP1: x86\\_64 6.1.0-27-amd64")
    body = {_unsince(r[0]).split(" — ")[0]: r[1:] for r in rows[2:]}
    assert body["**kfunc**"] == ["0 of 1", "1 of 1"]
    ta = body["`kfunc/task_acquire`"]
    assert ta[0].startswith("⛔ lacks [^") and ta[1] == "✅ pass Δ"
    assert any(_unsince(r[0]) == "`kfunc/task_acquire` — what the case proves, in one line"
               for r in rows)
    assert "| ⛔ lacks | the kernel lacks the feature" in md


def test_html_release_view(tmp_path: Path) -> None:
    """The HTML says what report.md says: family rows with "n of m", the description,
    kernel-lacks apart from untested (symbol and colour class), Δ across labels."""
    old, new = _two_releases()
    p = write_html([old, new], tmp_path / "r.html", labels=["22.03-SP4", "24.03-SP1"])
    text = p.read_text()
    s = _scan(p)
    sums = [a for t, a in s.tags if t == "td" and "sum" in a.get("class", "").split()]
    fams = [a["data-family"] for t, a in s.tags if t == "tr" and a.get("class") == "fam-sum"]
    assert fams == ["dynptr", "kfunc", "perf", "trampoline", "xdp_frags"]
    kfunc = sums[2 * fams.index("kfunc"):][:2]
    assert [(a["data-supported"], a["data-run"]) for a in kfunc] == [("0", "1"), ("1", "1")]
    cells = {(a["data-case"], i % 2): a for i, a in enumerate(
        a for t, a in s.tags if t == "td" and "cell" in a.get("class", "").split())}
    ta_old, ta_new = cells[("kfunc/task_acquire", 0)], cells[("kfunc/task_acquire", 1)]
    assert ta_old["data-class"] == "not-supported" and "data-changed" not in ta_old
    assert ta_new["data-class"] == "supported" and ta_new["data-changed"].startswith("22.03-SP4")
    assert cells[("trampoline/fentry_fexit", 0)]["data-class"] == "not-tested"
    assert "⊘ lacks</span>" in text and "◌ untested</span>" in text and "✘ FAIL</span>" in text
    assert '<span class="delta" title="changed: ⊘ lacks in 22.03-SP4' in text
    assert '<div class="desc">what the case proves, in one line</div>' in text
    assert "gstart" in text  # the second group starts with a rule
    # print: a stylesheet that hides the filters and opens the reasons, plus the handler
    css = text.split("<style>", 1)[1].split("</style>", 1)[0]
    media = css.split("@media print{", 1)[1]
    assert ".filters" in media and "::details-content" in media and "overflow:visible" in media
    assert "beforeprint" in "".join(s.scripts) and "afterprint" in "".join(s.scripts)


def test_html_state_filter_by_meaning_in_node(tmp_path: Path) -> None:
    """The state filter also takes a meaning (data-class) and "changed"."""
    page = _page_model(write_html(_runs(), tmp_path / "report.html",
                                  labels=["old", "new"]))
    classes = [[c.get("data-class") for c in r["cells"]] for r in page["rows"]]
    lacks = _run_filters(tmp_path, page, state="not-tested")["rows"]
    assert lacks == ["not-tested" in c for c in classes] and any(lacks)
    changed = _run_filters(tmp_path, page, state="changed")["rows"]
    assert changed == [any("data-changed" in c for c in r["cells"]) for r in page["rows"]]
    assert any(changed)


def test_markdown_since_note(tmp_path: Path) -> None:
    md = write_markdown(_runs(), tmp_path / "r.md").read_text()
    assert "since X: the first upstream Linux release with the feature" in md
    rows = [r[0] for r in _table(md)[2:]]
    assert "`perf/arm_spe`" in rows  # no since.yaml entry: the bare id
    assert any(r.startswith("`kfunc/task_acquire` (since [") for r in rows)
