"""kmatrix/data/since.yaml: first upstream Linux release per case, shown in the reports.

Every entry must name an existing case and an https source; its version comes from
kmatrix/agent/helpers_table.py (the names it lists), never typed in twice.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from test_junit import sample_run

from kmatrix.agent import helpers_table as t
from kmatrix.catalog import load_catalog
from kmatrix.errors import InputError
from kmatrix.report import SINCE_FILE, load_since
from kmatrix.report.html import write_html
from kmatrix.report.markdown import write_markdown

pytestmark = pytest.mark.fast

ROOT = Path(__file__).resolve().parent.parent


def _raw() -> dict:
    return yaml.safe_load(SINCE_FILE.read_text())


def test_every_entry_names_a_case_and_an_https_source() -> None:
    cases = {c.id for c in load_catalog(ROOT / "bpf_cases")}
    raw = _raw()
    assert raw, "since.yaml is empty"
    assert set(raw) <= cases, sorted(set(raw) - cases)
    since = load_since()
    assert set(since) == set(raw)
    for case, s in since.items():
        assert s.link.startswith("https://") and " " not in s.link, case
        assert re.fullmatch(r"[1-9]\d*\.\d+", s.version), case
        assert s.arch in ("", "x86_64", "aarch64", "riscv64"), case


def test_versions_come_from_helpers_table() -> None:
    """No version is copied: entries name helpers/kfuncs/enums/features the table dates,
    and the shown version is the latest of them."""
    since = load_since()
    for case, e in _raw().items():
        assert "since" not in e or not ({"feature", "helpers", "kfuncs", "enums"} & set(e)), case
        versions = []
        if "feature" in e:
            versions.append(t.FEATURES[e["feature"]][1])
        versions += [t.HELPER_SINCE[t.HELPERS.index(n)] for n in e.get("helpers", [])]
        versions += [t.KFUNC_SINCE[n] for n in e.get("kfuncs", [])]
        versions += [t.UAPI_ENUM_SINCE[n] for n in e.get("enums", [])]
        if "since" in e:
            versions.append(e["since"])
        latest = max(versions, key=lambda v: tuple(int(x) for x in v.split(".")))
        assert since[case].version == latest, case
    assert since["dynptr/from_mem"].version == t.FEATURES["dynptr"][1] == "5.19"
    assert since["kfunc/task_acquire"].version == t.KFUNC_SINCE["bpf_task_acquire"]


def test_names_are_what_the_case_uses() -> None:
    """A kfunc or helper an entry dates is one the case requires or calls."""
    catalog = {c.id: c for c in load_catalog(ROOT / "bpf_cases")}
    for case, e in _raw().items():
        c = catalog[case]
        req = c.meta.get("requires") or {}
        src = c.src.read_text() if c.src else ""
        for k in e.get("kfuncs", []):
            assert k in (req.get("kfuncs") or []) or k in src, (case, k)
        for h in e.get("helpers", []):
            assert f"bpf_{h}" in (req.get("btf_funcs") or []) or f"bpf_{h}(" in src, (case, h)


@pytest.mark.parametrize("entry, field", [
    ("{link: 'https://example.org/x'}", "kfunc/task_acquire"),
    ("{kfuncs: [bpf_task_acquire], link: 'http://example.org/x'}", "link"),
    ("{kfuncs: [bpf_task_acquire]}", "link"),
    ("{kfuncs: [bpf_no_such_kfunc], link: 'https://example.org/x'}", "kfuncs"),
    ("{helpers: [no_such_helper], link: 'https://example.org/x'}", "helpers"),
    ("{enums: [BPF_NO_SUCH], link: 'https://example.org/x'}", "enums"),
    ("{feature: nope, link: 'https://example.org/x'}", "feature"),
    ("{since: 6.2, link: 'https://example.org/x'}", "since"),  # a float, not "6.2"
    ("{since: '6.2', kfuncs: [bpf_task_acquire], link: 'https://example.org/x'}", "since"),
    ("{since: '6.2', arch: sparc, link: 'https://example.org/x'}", "arch"),
    ("{since: '6.2', link: 'https://example.org/x', version: '6.2'}", "version"),
])
def test_bad_entries_are_refused(tmp_path: Path, entry: str, field: str) -> None:
    p = tmp_path / "since.yaml"
    p.write_text(f"kfunc/task_acquire: {entry}\n")
    with pytest.raises(InputError) as ei:
        load_since(p)
    assert ei.value.field == field and ei.value.line == 1


def test_literal_version(tmp_path: Path) -> None:
    p = tmp_path / "since.yaml"
    p.write_text("perf/lock_contention:\n  since: '5.19'\n  link: https://example.org/c\n")
    s = load_since(p)["perf/lock_contention"]
    assert (s.version, s.text, s.link) == ("5.19", "since 5.19", "https://example.org/c")


def test_reports_show_since(tmp_path: Path) -> None:
    since = load_since()
    ta, tr = since["kfunc/task_acquire"], since["trampoline/fentry_fexit"]
    md = write_markdown([sample_run()], tmp_path / "r.md").read_text()
    assert f"| `kfunc/task_acquire` (since [{ta.version}]({ta.link})) |" in md
    assert f"| `trampoline/fentry_fexit` (since [{tr.version}]({tr.link}) on x86\\_64) |" in md
    assert "| `perf/arm_spe` |" in md  # no entry: nothing shown
    html = write_html([sample_run()], tmp_path / "r.html").read_text()
    assert f'<a class="since" href="{ta.link}" rel="noreferrer"' in html
    assert f">since {ta.version}</a>" in html and f">since {tr.version} on x86_64</a>" in html
