"""report.html in a real headless Chromium (Debian's), over the results of a real run.

The run: `kmatrix run` with a `transport: local` x86_64 host (real builds, loads,
attaches and triggers on this kernel) and a riscv64 host whose SSH port is closed
(a real host error, which still gives the matrix a second arch column). The catalogue
is a small copy of bpf_cases/ plus one check broken on purpose, and the suite
expects that failure (xfail) and, stale on purpose, a failure of a case that passes
(xpass). The page must show exactly the verdicts results.json holds, the filters
must change what is visible, a cell must open to its detail, and the page must
fetch nothing from the network.

Set KMATRIX_UPDATE_SCREENSHOT=1 to refresh docs/report.png from this test.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sshd import free_port

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
SUBSET = ("dynptr/from_mem", "dynptr/ringbuf", "kfunc/task_acquire", "perf/arm_spe",
          "trampoline/fentry_fexit")
BROKEN = "dynptr/from_mem_broken"
STALE = "kfunc/task_acquire"

pytestmark = [
    pytest.mark.bpf,
    pytest.mark.skipif(os.geteuid() != 0, reason="local transport BPF needs root"),
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium is not installed"),
]


class Page:
    results: dict[str, Any]
    html: Path
    shot: Path


def _workspace(ws: Path) -> None:
    port = free_port()  # nothing listens there: a real connection refusal
    (ws / "hosts.yaml").write_text(
        "hosts:\n  - name: here\n    arch: x86_64\n    transport: local\n"
        f"  - name: gone-riscv\n    arch: riscv64\n    address: 127.0.0.1\n    port: {port}\n"
        "    connect_timeout: 5\n")
    cases = ws / "cases"
    for cid in SUBSET:
        fam, name = cid.split("/")
        (cases / fam).mkdir(parents=True, exist_ok=True)
        for src in (ROOT / "bpf_cases" / fam).glob(f"{name}.*"):
            shutil.copy(src, cases / fam / src.name)
    shutil.copy(ROOT / "bpf_cases/dynptr/from_mem.bpf.c", cases / f"{BROKEN}.bpf.c")
    (cases / f"{BROKEN}.py").write_text(
        (ROOT / "bpf_cases/dynptr/from_mem.py").read_text()
        + "\n\n_real_run = run\n\n\ndef run(t):\n    _real_run(t)\n"
          "    t.fail('deliberately broken by tests/test_report_browser.py')\n")
    (ws / "suites").mkdir()
    (ws / "suites" / "t.yaml").write_text(
        "name: t\ncases: ['*']\nexpectations:\n"
        f"  - case: {BROKEN}\n    state: xfail\n    reason: broken on purpose\n"
        "    link: https://example.invalid/kmatrix/broken\n"
        f"  - case: {STALE}\n    state: xfail\n    reason: stale on purpose\n"
        "    link: https://example.invalid/kmatrix/stale\n")


def _kmatrix(ws: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # The build cache is content-addressed: shared with this session's other kmatrix tests.
    env = dict(os.environ, PYTHONPATH=str(ROOT), KMATRIX_CACHE=str(ws.parent / "kmatrix-build-cache"))
    return subprocess.run([sys.executable, "-m", "kmatrix.cli", *args], cwd=ws, env=env,
                          capture_output=True, text=True, timeout=600)


@pytest.fixture(scope="module")
def page(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Page]:
    ws = tmp_path_factory.mktemp("report-browser")
    _workspace(ws)
    run = _kmatrix(ws, "run", "--hosts", "hosts.yaml", "--cases-dir", "cases", "--suites-dir",
                   "suites", "--suite", "t", "--output", "results", "--run-id", "r1", "-q")
    # Exit 2: the riscv64 host is unreachable, which is the point.
    assert run.returncode == 2, run.stdout + run.stderr
    rep = _kmatrix(ws, "report", "results/r1", "--output", "report")
    assert rep.returncode == 0, rep.stdout + rep.stderr
    p = Page()
    p.results = json.loads((ws / "results/r1/results.json").read_text())
    p.html = ws / "report" / "report.html"
    p.shot = ws / "report.png"
    yield p


def _verdicts(results: dict[str, Any]) -> dict[str, str]:
    (here,) = [h for h in results["hosts"] if h["name"] == "here"]
    assert here["error"] is None, here["error"]
    return {c["case"]: c["verdict"] for c in here["cases"]}


def test_report_in_chromium(page: Page) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    verdicts = _verdicts(page.results)
    # By construction of the catalogue and suite; the rest is whatever the kernel said.
    assert verdicts[BROKEN] == "xfail" and verdicts[STALE] == "xpass"
    (gone,) = [h for h in page.results["hosts"] if h["name"] == "gone-riscv"]
    assert gone["error"] and not gone["cases"]

    requests: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            ctx = browser.new_context(viewport={"width": 1280, "height": 900})
            ctx.on("request", lambda r: requests.append(r.url))
            pg = ctx.new_page()
            pg.goto(page.html.as_uri())

            # The matrix: one row per case the run produced, each cell the recorded verdict.
            rows = pg.locator("tr.row")
            assert rows.count() == len(verdicts)
            for case, verdict in verdicts.items():
                cell = pg.locator(f'td.cell[data-case="{case}"][data-col-arch="x86_64"]')
                assert cell.get_attribute("data-state") == verdict
                assert cell.locator("summary").inner_text().strip() == verdict
                assert cell.get_attribute("data-hosts") == "here"
            riscv = pg.locator('td.cell[data-col-arch="riscv64"]')
            assert riscv.count() == len(verdicts)
            assert {riscv.nth(i).get_attribute("data-state") for i in range(riscv.count())} == {"none"}
            assert "gone-riscv" in pg.locator("body").inner_text()  # host errors section
            assert pg.locator("#f-count").inner_text() == f"{len(verdicts)} of {len(verdicts)} features shown"

            def visible_rows() -> list[str]:
                return [rows.nth(i).locator("th code").inner_text() for i in range(rows.count())
                        if rows.nth(i).is_visible()]

            # family filter
            pg.select_option("#f-family", "dynptr")
            assert visible_rows() == sorted(c for c in verdicts if c.startswith("dynptr/"))
            pg.select_option("#f-family", "")
            # state filter: rows with a cell in that state; other cells fade
            pg.select_option("#f-state", "skip")
            skips = sorted(c for c, v in verdicts.items() if v == "skip")
            assert skips, "this kernel skips at least the ARM SPE case"
            assert visible_rows() == skips
            assert pg.locator("#f-count").inner_text() == f"{len(skips)} of {len(verdicts)} features shown"
            assert "dim" in (pg.locator('td.cell[data-col-arch="riscv64"]').first.get_attribute("class") or "")
            pg.select_option("#f-state", "xpass")
            assert visible_rows() == [STALE]
            pg.select_option("#f-state", "")
            # arch filter: the other arch's column disappears
            pg.select_option("#f-arch", "riscv64")
            assert not pg.locator('td.cell[data-col-arch="x86_64"]').first.is_visible()
            assert pg.locator('td.cell[data-col-arch="riscv64"]').first.is_visible()
            assert not pg.locator('th[data-col-arch="x86_64"]').is_visible()
            pg.select_option("#f-arch", "x86_64")
            assert not pg.locator('th[data-col-arch="riscv64"]').is_visible()
            assert visible_rows() == sorted(verdicts)

            # per-cell detail: open the skipped trampoline case
            tramp = pg.locator('td.cell[data-case="trampoline/fentry_fexit"][data-col-arch="x86_64"]')
            detail = tramp.locator(".detail")
            assert not detail.is_visible()
            tramp.locator("summary").click()
            assert detail.is_visible()
            text = detail.inner_text()
            if verdicts["trampoline/fentry_fexit"] == "skip":
                assert "reason class: environment-blocks" in text
            assert "probe" in text and "ftrace" in text and "BTF" in text and "JIT" in text
            assert "kernel" in text and "here" in text  # host facts
            # expectation link of the xfail cell
            broken = pg.locator(f'td.cell[data-case="{BROKEN}"][data-col-arch="x86_64"]')
            broken.locator("summary").click()
            link = broken.locator("a")
            assert link.get_attribute("href") == "https://example.invalid/kmatrix/broken"
            broken.locator("summary").click()  # close; the trampoline detail stays open
            pg.select_option("#f-arch", "")
            pg.screenshot(path=str(page.shot), full_page=True)
        finally:
            browser.close()
    # Self-contained: the page itself was the only thing loaded.
    assert requests == [page.html.as_uri()], requests
    assert page.shot.stat().st_size > 10000
    if os.environ.get("KMATRIX_UPDATE_SCREENSHOT"):
        shutil.copy(page.shot, ROOT / "docs" / "report.png")
