"""n/a: a case whose requires.arch excludes the host's arch is not applicable there:
n/a in Markdown and HTML, out of the family's "n of m", never a change in the release
comparison or in `kmatrix diff`, a skipped testcase in JUnit."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from kmatrix.agent import requires as rq
from kmatrix.expectations import apply, exit_code
from kmatrix.report.diff import diff
from kmatrix.report.html import render_html
from kmatrix.report.junit import write_junit
from kmatrix.report.markdown import render_markdown
from kmatrix.results import NOT_APPLICABLE, REASON_CLASSES, CaseResult, HostResult, RunResult

pytestmark = pytest.mark.fast

NA_WHY = rq.evaluate({"arch": ["riscv64"]}, {"uname": {"machine": "x86_64"}})


def _run(na_class: str = NOT_APPLICABLE, run_id: str = "r1") -> RunResult:
    h = HostResult(name="box", arch="x86_64", kernel="6.1.0-27-amd64", complete=True, cases=[
        apply(CaseResult("jit/riscv_zbb", "jit", "skip", reason=NA_WHY[1], reason_class=na_class)),
        apply(CaseResult("jit/x86_thing", "jit", "pass")),
    ])
    return RunResult(run_id=run_id, suite="default", hosts=[h])


def test_the_agent_says_not_applicable_and_the_controller_accepts_it() -> None:
    assert NA_WHY == (NOT_APPLICABLE, "case is for riscv64; this target is x86_64")
    assert NOT_APPLICABLE in REASON_CLASSES and rq.NOT_APPLICABLE == NOT_APPLICABLE
    assert exit_code(_run()) == 0  # never a regression


def test_markdown_na_cell_without_footnote_and_out_of_the_count() -> None:
    md = render_markdown([_run()])
    row = next(ln for ln in md.splitlines() if ln.startswith("| `jit/riscv_zbb`"))
    assert row.rstrip().endswith("| n/a |") and "[^" not in row
    assert "| **jit** | 1 of 1 |" in md  # the n/a case is in neither number
    assert "| n/a | not applicable: the case is for other arches" in md


def test_html_na_cell() -> None:
    page = render_html([_run()])
    assert 'data-class="not-applicable"' in page and "\u2205 n/a" in page
    assert 'data-supported="1" data-run="1"' in page


def test_release_comparison_and_diff_ignore_na() -> None:
    before, after = _run("environment-blocks", "a"), _run(NOT_APPLICABLE, "b")
    md = render_markdown([before, after], labels=["old", "new"])
    row = next(ln for ln in md.splitlines() if ln.startswith("| `jit/riscv_zbb`"))
    assert "Δ" not in row
    assert 'data-changed="' not in render_html([before, after], labels=["old", "new"])
    d = diff([before], [after])
    assert d.unchanged == 2 and not d.skip_reason_changes and d.exit_code == 0


def test_junit_na_is_a_skipped_testcase(tmp_path: Path) -> None:
    (path,) = write_junit(_run(), tmp_path)
    tc = next(t for t in ET.parse(path).iter("testcase") if t.get("name") == "riscv_zbb")
    sk = tc.find("skipped")
    assert sk is not None and sk.get("message") == f"[not-applicable] {NA_WHY[1]}"
