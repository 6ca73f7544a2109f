"""Terminal safety (issue 14): text that came from a target (failure reasons, kernel
strings, host errors) is shown with its control characters escaped, as \\x1b, on the
console (progress lines, the live table, the run summary, `kmatrix diff`) and in
report.md, while results.json keeps the raw text.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from kmatrix import cli
from kmatrix.errors import printable
from kmatrix.progress import Progress
from kmatrix.report.jsonout import read_results, write_results
from kmatrix.report.markdown import _md, write_markdown
from kmatrix.results import CaseResult, HostResult, RunResult

pytestmark = pytest.mark.fast

ROOT = Path(__file__).resolve().parent.parent
# Retitle the terminal, clear the screen, ring, NUL, an 8-bit CSI (C1), a lone CR.
HOSTILE = "bad\x1b]0;pwned\x07\x1b[2J\x00\x9b31m\rover"
ESCAPED = "bad\\x1b]0;pwned\\x07\\x1b[2J\\x00\\x9b31m\\rover"
# Control characters other than newline and tab; our own CSI sequences are checked apart.
CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")


def test_printable_escapes_c0_del_c1_and_keeps_what_it_is_told() -> None:
    assert printable(HOSTILE) == ESCAPED
    assert printable("a\nb\tc\x7f") == "a\\nb\\tc\\x7f"
    assert printable("a\nb\tc\x1b", keep="\n\t") == "a\nb\tc\\x1b"
    assert printable("plain ünïcode ✅") == "plain ünïcode ✅"


def test_plain_progress_lines_escape_target_text() -> None:
    buf = io.StringIO()
    p = Progress(stream=buf, live=False)
    p.host("h1", f"ERROR: {HOSTILE}\nsecond line")
    p.case("h1", 1, 1, "kfunc/a", "fail", HOSTILE)
    out = buf.getvalue()
    lines = out.splitlines()
    assert len(lines) == 2  # a target's newline does not make a second event line
    assert not CONTROL.search(out), repr(out)
    assert ESCAPED in lines[0] and lines[0].endswith("\\nsecond line")
    assert f"kfunc/a: FAIL - {ESCAPED}" in lines[1]


def test_live_progress_escapes_target_text_but_keeps_its_own_redraw() -> None:
    buf = io.StringIO()
    p = Progress(stream=buf, live=True)
    p.phase("h1", "run", total=2)
    p.case("h1", 1, 2, "kfunc/a", "fail", HOSTILE)  # printed above the table
    p.host("h1", f"connection lost ({HOSTILE}); reconnecting")  # notable: above + table cell
    p.close()
    out = buf.getvalue()
    assert "\x1b[2J" not in out and "\x1b]0;pwned" not in out and "\x9b" not in out
    assert "\x00" not in out and "\a" not in out
    assert ESCAPED in out
    # rich.live's own redraw (carriage return, erase line, cursor up, cursor hide/show)
    # still works; with it taken out, no control character but ESC of SGR/CSI is left.
    own = re.compile(r"\r\x1b\[2K|\x1b\[\d*[AK]|\x1b\[\?25[lh]|\x1b\[[0-9;]*m")
    assert "\r\x1b[2K" in out and "\x1b[1A" in out
    left = CONTROL.findall(own.sub("", out))
    assert left == [], sorted(set(left))


def test_run_summary_and_warnings_escape_target_text(capsys: Any) -> None:
    host = SimpleNamespace(name="box1", arch="x86_64", kernel="6.1\x1b[2J", error=HOSTILE,
                           cases=[])
    cli._print_summary(SimpleNamespace(hosts=[host]), Path("results/r1"))
    out = capsys.readouterr().out
    assert not CONTROL.search(out), repr(out)
    assert "6.1\\x1b[2J" in out and f"ERROR: {ESCAPED}" in out


def _run(reason: str, verdict: str) -> RunResult:
    case = CaseResult(case="kfunc/a", family="kfunc", state=verdict, verdict=verdict,
                      reason=reason)
    host = HostResult(name="box1", arch="x86_64", kernel="6.1.0", cases=[case], complete=True)
    return RunResult(run_id="r", suite="bpf-core", hosts=[host])


def test_markdown_escapes_and_results_json_keeps_the_raw_text(tmp_path: Path) -> None:
    assert "\x1b" not in _md(HOSTILE) and "x1b" in _md(HOSTILE)
    run = _run(HOSTILE, "fail")
    md = write_markdown([run], tmp_path / "report.md").read_text()
    assert not CONTROL.search(md), repr(md)
    assert "\\\\x1b\\]0;pwned" in md  # \x1b, its backslash escaped for Markdown
    p = write_results(run, tmp_path / "results.json")
    raw = json.loads(p.read_text())["hosts"][0]["cases"][0]["reason"]
    assert raw == HOSTILE
    assert read_results(p).hosts[0].cases[0].reason == HOSTILE


def test_diff_output_escapes_target_text(tmp_path: Path) -> None:
    base = write_results(_run("", "pass"), tmp_path / "base.json")
    new = write_results(_run(HOSTILE + "\nmore", "fail"), tmp_path / "new.json")
    proc = subprocess.run([sys.executable, "-m", "kmatrix", "diff", str(base), str(new)],
                          capture_output=True, text=True, timeout=60, cwd=str(tmp_path),
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert proc.returncode == 1, proc.stderr
    assert not CONTROL.search(proc.stdout), repr(proc.stdout)
    assert "Regressions" in proc.stdout
