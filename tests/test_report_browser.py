"""report.html in a real headless Chromium (Debian's), over the results of a real run.

The run: `kmatrix run` with a `transport: local` x86_64 host (real builds, loads,
attaches and triggers on this kernel) and a riscv64 host whose SSH port is closed
(a real host error, which still gives the matrix a second arch column). The catalogue
is a small copy of bpf_cases/ plus one check broken on purpose, and the suite
expects that failure (xfail) and, stale on purpose, a failure of a case that passes
(xpass). The page must show exactly the verdicts results.json holds, the filters
must change what is visible, a cell must open to its detail, and the page must
fetch nothing from the network.

The release engineer's view (family summaries, "lacks" against "untested", two
column groups compared, "since", print) is checked on a results.json cut from a
real lab run (x86_64 guests on Debian 11 and 12 kernels).

docs/report.png is the report of a real lab run:
KMATRIX_UPDATE_SCREENSHOT=LAB/results.json pytest tests/test_report_browser.py -k docs_screenshot
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
    pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian chromium is not installed"),
]

# What a cell shows for a (verdict, reason class), as report.md says it.
SYMBOL = {"pass": "✔ pass", "flaky": "✔ flaky", "xpass": "✔ xpass", "xfail": "⚠ xfail",
          "fail": "✘ FAIL", "error": "⚡ error"}


def _symbol(verdict: str, reason_class: Any) -> str:
    if verdict == "skip":
        return "⊘ lacks" if reason_class == "kernel-lacks" else "◌ untested"
    return SYMBOL[verdict]


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


def _classes(results: dict[str, Any]) -> dict[str, Any]:
    (here,) = [h for h in results["hosts"] if h["name"] == "here"]
    return {c["case"]: c["reason_class"] for c in here["cases"]}


@pytest.mark.bpf
@pytest.mark.skipif(os.geteuid() != 0, reason="local transport BPF needs root")
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
                assert cell.locator("summary").inner_text().strip() == \
                    _symbol(verdict, _classes(page.results)[case])
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
            # the column goes from the matrix and from the Workloads table alike
            for table in ("#matrix", "#workloads"):
                assert not pg.locator(f'{table} th[data-col-arch="x86_64"]').is_visible()
            pg.select_option("#f-arch", "x86_64")
            for table in ("#matrix", "#workloads"):
                assert not pg.locator(f'{table} th[data-col-arch="riscv64"]').is_visible()
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


# --- The release engineer's view, on results cut from a real lab run ------------------
# `kmatrix run` on the QEMU lab (runners/run), guests lab-x86_64-bullseye and
# lab-x86_64-bookworm (Debian 11 and 12 kernels): six of their cases, with the
# verdicts, reason classes and reasons they reported; logs and host facts left out.
LAB_CASES = {
    "lab-x86_64-bullseye": ("5.10.0-32-amd64", "11", "bullseye", [
        ("dynptr/from_mem", "skip", "kernel-lacks", "dynptr probe: no dynptr (bpf_dynptr_from_mem,"
         " Linux 5.19): the verifier says 'invalid func unknown#197'"),
        ("dynptr/skb", "skip", "kernel-lacks", "dynptr probe: no dynptr (bpf_dynptr_from_mem,"
         " Linux 5.19): the verifier says 'invalid func unknown#197'"),
        ("kfunc/module_kfunc", "skip", "kernel-lacks", "kernel config lacks"
         " CONFIG_DEBUG_INFO_BTF_MODULES (from /boot/config-5.10.0-32-amd64)"),
        ("perf/arm_spe", "skip", "hardware-missing", "no PMU matching arm_spe_* in"
         " /sys/bus/event_source/devices (have: breakpoint, kprobe, msr, software, tracepoint,"
         " uprobe)"),
        ("perf/cpu_clock", "pass", None, ""),
        ("trampoline/fentry_fexit", "pass", None, ""),
    ]),
    "lab-x86_64-bookworm": ("6.1.0-56-amd64", "12", "bookworm", [
        ("dynptr/from_mem", "pass", None, ""),
        ("dynptr/skb", "skip", "kernel-lacks", "kernel BTF has no kfuncs bpf_dynptr_from_skb,"
         " bpf_dynptr_slice, bpf_dynptr_slice_rdwr"),
        ("kfunc/module_kfunc", "skip", "environment-blocks", "the headers tree"
         " /lib/modules/6.1.0-56-amd64/build has neither vmlinux nor tools/bpf/resolve_btfids,"
         " so the module's kfunc id set cannot be resolved against the kernel's BTF"),
        ("perf/arm_spe", "skip", "hardware-missing", "no PMU matching arm_spe_* in"
         " /sys/bus/event_source/devices (have: breakpoint, kprobe, msr, software, tracepoint,"
         " uprobe)"),
        ("perf/cpu_clock", "pass", None, ""),
        ("trampoline/fentry_fexit", "pass", None, ""),
    ]),
}
LABELS = ["debian-11 (5.10)", "debian-12 (6.1)"]


def _lab_results(host: str) -> dict[str, Any]:
    kernel, version, codename, cases = LAB_CASES[host]
    pretty = f"Debian GNU/Linux {version} ({codename})"
    return {
        "run_id": "full1", "suite": "bpf-core", "started": "2026-11-27T07:27:02+00:00",
        "finished": "2026-11-27T07:29:17+00:00", "incomplete": False, "warnings": [],
        "hosts": [{
            "name": host, "arch": "x86_64", "kernel": kernel, "os_release": pretty,
            "env_tags": [f"debian-{version}", "lab", "tcg"], "complete": True, "error": None,
            "facts": {"os_release": {"ID": "debian", "VERSION_ID": version, "PRETTY_NAME": pretty}},
            "cases": [{"case": c, "state": v, "verdict": v, "reason_class": rc, "reason": why,
                       "duration": 0.01} for c, v, rc, why in cases],
        }],
    }


@pytest.fixture(scope="module")
def lab_page(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """report.html comparing the two lab guests as two labelled column groups, written
    by write_html from results.json files read back with read_results."""
    from kmatrix.report.html import write_html
    from kmatrix.report.jsonout import read_results

    d = tmp_path_factory.mktemp("report-lab")
    runs = []
    for host in LAB_CASES:
        p = d / host / "results.json"
        p.parent.mkdir()
        p.write_text(json.dumps(_lab_results(host)))
        runs.append(read_results(p))
    return write_html(runs, d / "report.html", labels=LABELS)


def _expected_summary(host: str, family: str) -> str:
    cases = [c for c in LAB_CASES[host][3] if c[0].startswith(family + "/")]
    ok = sum(1 for c in cases if c[1] in ("pass", "flaky", "xpass"))
    return f"{ok} of {len(cases)}"


def test_release_view_in_chromium(lab_page: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api")
    from kmatrix.report import load_since

    hosts = list(LAB_CASES)
    requests: list[str] = []
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            ctx = browser.new_context(viewport={"width": 1280, "height": 900})
            ctx.on("request", lambda r: requests.append(r.url))
            pg = ctx.new_page()
            pg.goto(lab_page.as_uri())

            # Two column groups, in the order of the labels.
            heads = pg.locator("#matrix thead th[data-col-arch]")
            assert [heads.nth(i).locator("b").inner_text() for i in range(2)] == LABELS
            assert "gstart" in (heads.nth(1).get_attribute("class") or "")

            # A summary row per family: supported of run, per column.
            for fam in ("dynptr", "kfunc", "perf", "trampoline"):
                sums = pg.locator(f'tr.fam-sum[data-family="{fam}"] td.sum')
                assert [sums.nth(i).inner_text().strip() for i in range(2)] == \
                    [_expected_summary(h, fam) for h in hosts], fam

            def cell(case: str, i: int) -> Any:
                return pg.locator(f'tr.row td.cell[data-case="{case}"]').nth(i)

            # The kernel lacking a feature reads differently from "not tested here".
            for i, host in enumerate(hosts):
                for case, verdict, rc, _why in LAB_CASES[host][3]:
                    summary = cell(case, i).locator("summary").inner_text()
                    assert summary.split(" Δ")[0].strip() == _symbol(verdict, rc), (host, case)
            assert cell("dynptr/skb", 0).get_attribute("data-class") == "not-supported"
            assert cell("perf/arm_spe", 0).get_attribute("data-class") == "not-tested"
            colours = {cls: pg.locator(f'td.cell[data-class="{cls}"] .c').first.evaluate(
                "e => getComputedStyle(e).backgroundColor")
                for cls in ("supported", "not-supported", "not-tested")}
            assert len(set(colours.values())) == 3, colours

            # Changed cells: the second group against the first, same arch.
            changed = pg.locator("td.cell[data-changed]")
            assert sorted(changed.nth(i).get_attribute("data-case") for i in range(changed.count())) \
                == ["dynptr/from_mem", "kfunc/module_kfunc"]
            mk = cell("kfunc/module_kfunc", 1)
            assert mk.locator("summary").inner_text().strip() == "◌ untested Δ"
            assert "⊘ lacks in " + LABELS[0] in mk.locator(".delta").get_attribute("title")
            assert cell("dynptr/from_mem", 0).get_attribute("data-changed") is None
            assert cell("dynptr/skb", 1).get_attribute("data-changed") is None  # lacks, lacks

            # "since X" next to the case, linked to its source.
            since = load_since()
            for case, text in (("dynptr/from_mem", "since 5.19"),
                               ("trampoline/fentry_fexit", "since 5.5 on x86_64")):
                a = pg.locator(f'tr.row:has(td[data-case="{case}"]) th a.since')
                assert a.inner_text() == text and a.get_attribute("href") == since[case].link
            assert pg.locator('tr.row:has(td[data-case="perf/arm_spe"]) th a.since').count() == 0

            def visible_rows() -> list[str]:
                rows = pg.locator("tr.row")
                return [rows.nth(i).locator("th code").inner_text() for i in range(rows.count())
                        if rows.nth(i).is_visible()]

            pg.select_option("#f-state", "changed")
            assert visible_rows() == ["dynptr/from_mem", "kfunc/module_kfunc"]
            # a family's summary row goes with its last visible case
            assert not pg.locator('tr.fam-sum[data-family="perf"]').is_visible()
            assert pg.locator('tr.fam-sum[data-family="kfunc"]').is_visible()
            pg.select_option("#f-state", "not-supported")
            assert visible_rows() == ["dynptr/from_mem", "dynptr/skb", "kfunc/module_kfunc"]
            pg.select_option("#f-state", "")

            # Print: no filters, every reason on paper, nothing cut off on A4 landscape.
            opened = pg.evaluate("""() => {
                window.dispatchEvent(new Event('beforeprint'));
                const n = document.querySelectorAll('td.cell details[open]').length;
                window.dispatchEvent(new Event('afterprint'));
                return [n, document.querySelectorAll('td.cell details[open]').length];
            }""")
            non_pass = sum(1 for h in hosts for c in LAB_CASES[h][3] if c[1] != "pass")
            assert opened == [non_pass, 0]
            pg.set_viewport_size({"width": 1040, "height": 740})  # A4 landscape, 8 mm margins
            pg.emulate_media(media="print")
            assert not pg.locator(".filters").is_visible()
            skb = cell("dynptr/skb", 1)
            assert skb.locator(".d-reason").is_visible()  # without opening it
            assert "bpf_dynptr_slice_rdwr" in skb.locator(".d-reason").inner_text()
            assert not skb.locator(".d-head").is_visible() and not skb.locator(".facts").is_visible()
            assert not cell("perf/cpu_clock", 0).locator(".detail").is_visible()
            widths = pg.evaluate("""() => [document.documentElement.scrollWidth, window.innerWidth,
                document.getElementById('matrix').getBoundingClientRect().right]""")
            assert widths[0] <= widths[1] and widths[2] <= widths[1], widths
            pdf = pg.pdf(format="A4", landscape=True, print_background=True)
            assert pdf.startswith(b"%PDF") and len(pdf) > 10000
        finally:
            browser.close()
    assert requests == [lab_page.as_uri()], requests


@pytest.mark.skipif(not os.environ.get("KMATRIX_UPDATE_SCREENSHOT"),
                    reason="set KMATRIX_UPDATE_SCREENSHOT=LAB/results.json to refresh docs/report.png")
def test_docs_screenshot(tmp_path: Path) -> None:
    """docs/report.png: `kmatrix report` of a real lab run, the matrix, its Workloads
    section and the legend."""
    sync_api = pytest.importorskip("playwright.sync_api")
    results = Path(os.environ["KMATRIX_UPDATE_SCREENSHOT"]).resolve()
    rep = _kmatrix(tmp_path, "report", str(results), "--output", "report")
    assert rep.returncode == 0, rep.stdout + rep.stderr
    shot = tmp_path / "report.png"
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        try:
            pg = browser.new_page(viewport={"width": 1400, "height": 900})
            pg.goto((tmp_path / "report" / "report.html").as_uri())
            legend = pg.locator("table.legend").bounding_box()
            workloads = pg.locator("table#workloads").bounding_box()
            assert legend is not None and workloads is not None
            assert workloads["y"] < legend["y"]  # inside the picture, above the legend
            pg.screenshot(path=str(shot), full_page=True, clip={
                "x": 0, "y": 0, "width": 1400, "height": legend["y"] + legend["height"] + 16})
        finally:
            browser.close()
    assert shot.stat().st_size > 10000
    shutil.copy(shot, ROOT / "docs" / "report.png")
