"""Workload readiness (kmatrix/report/workloads.py): the data file, its validation,
the evaluation over doctored results.json files, and the Markdown, HTML and release
comparison renderings."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from kmatrix.errors import InputError
from kmatrix.report import build_matrix
from kmatrix.report import workloads as wl
from kmatrix.report.html import render_html
from kmatrix.report.jsonout import read_results
from kmatrix.report.markdown import render_markdown
from kmatrix.results import CaseResult, HostResult, RunResult

pytestmark = pytest.mark.fast

ROOT = Path(__file__).resolve().parent.parent

def _catalogue() -> set[str]:
    from kmatrix.catalog import load_catalog

    return {c.id for c in load_catalog(ROOT / "bpf_cases")}


# --- the data file ---------------------------------------------------------------------


def test_data_file_loads_and_every_requirement_is_linked() -> None:
    ws = wl.load_workloads()
    assert {w.key for w in ws} == {"cilium", "falco", "tetragon", "bpftrace", "parca-agent"}
    for w in ws:
        for r in w.requirements:
            assert r.link.startswith("https://") and r.what
    # the projects' own minimums, as their docs state them
    kernels = {w.key: [r.kernel for r in w.requirements if r.kernel] for w in ws}
    assert kernels["cilium"] == [">=5.10"] and kernels["tetragon"] == [">=4.19"]
    assert kernels["parca-agent"] == [">=5.3"] and kernels["bpftrace"] == [">=4.9"]


def test_referenced_cases_exist() -> None:
    """Every case a requirement names is in the catalogue."""
    raw = yaml.safe_load((ROOT / "kmatrix/data/workloads.yaml").read_text())
    have = _catalogue()
    for key, w in raw.items():
        for r in w["requirements"]:
            for cid in r.get("cases", []):
                assert cid in have, f"{key}: case {cid} is not in bpf_cases/"


BAD = [
    ("cilium: [1, 2]\n", 1, "cilium", "expected a mapping"),
    ("cilium:\n  name: Cilium\n  requirements: []\n", 3, "requirements", "non-empty list"),
    ("cilium:\n  name: Cilium\n  requirements:\n    - what: x\n      link: http://a.b/\n",
     5, "link", "https URL"),
    ("cilium:\n  name: Cilium\n  requirements:\n    - what: x\n      link: https://a.b/\n"
     "      kernel: \"5.10+\"\n", 6, "kernel", "bad version bound"),
    ("cilium:\n  name: Cilium\n  requirements:\n    - what: x\n      link: https://a.b/\n"
     "      cases: [ringbuf]\n", 6, "cases", "not a case id"),
    ("cilium:\n  name: Cilium\n  requirements:\n    - what: x\n      link: https://a.b/\n"
     "      config: [BPF]\n", 6, "config", "must start with CONFIG_"),
    ("cilium:\n  name: Cilium\n  requirements:\n    - what: x\n      link: https://a.b/\n"
     "      arch: [arm64]\n", 6, "arch", "must be among"),
    ("cilium:\n  name: Cilium\n  requirements:\n    - what: x\n      link: https://a.b/\n"
     "      frobs: 1\n", 6, "frobs", "unknown key"),
    ("cilium:\n  name: Cilium\n  requirements:\n    - link: https://a.b/\n", 4, "what", "must say"),
    ("cilium:\n  title: Cilium\n", 2, "title", "unknown key"),
]


@pytest.mark.parametrize("text,line,field_,msg", BAD)
def test_bad_data_is_one_line_file_line_field(tmp_path: Path, text: str, line: int,
                                              field_: str, msg: str) -> None:
    f = tmp_path / "workloads.yaml"
    f.write_text(text)
    with pytest.raises(InputError) as ei:
        wl.load_workloads(f)
    e = ei.value
    assert (e.line, e.field) == (line, field_) and msg in e.message
    assert str(e).startswith(f"{f}:{line}: {field_}: ") and "\n" not in str(e)


# --- evaluation over doctored results.json ------------------------------------------------

DATA = """\
demo:
  name: Demo
  requirements:
    - what: "ships for x86_64 and aarch64"
      link: https://example.org/demo#arch
      arch: [x86_64, aarch64]
    - what: "kernel 5.10 or later"
      link: https://example.org/demo#kernel
      kernel: ">=5.10"
    - what: "BPF syscall and BTF options"
      link: https://example.org/demo#config
      config: [CONFIG_BPF_SYSCALL, CONFIG_DEBUG_INFO_BTF]
    - what: "BTF"
      link: https://example.org/demo#btf
      btf: true
    - what: "kfuncs"
      link: https://example.org/demo#kfunc
      cases: [kfunc/task_acquire]
    - what: "fentry"
      link: https://example.org/demo#fentry
      cases: [trampoline/fentry_fexit]
"""


@pytest.fixture
def demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    f = tmp_path / "workloads.yaml"
    f.write_text(DATA)
    monkeypatch.setattr(wl, "WORKLOADS_FILE", f)
    return f


def _host(name: str, arch: str = "x86_64", kernel: str = "6.1.0-27-amd64",
          cases: dict[str, tuple[str, str | None, str]] | None = None, **facts: Any) -> HostResult:
    base = {"kernel_config": {"CONFIG_BPF_SYSCALL": "y", "CONFIG_DEBUG_INFO_BTF": "y"},
            "kernel_config_source": "/boot/config", "btf": {"present": True}}
    base.update(facts)
    got = cases if cases is not None else {"kfunc/task_acquire": ("pass", None, ""),
                                           "trampoline/fentry_fexit": ("pass", None, "")}
    return HostResult(name=name, arch=arch, kernel=kernel, facts=base, complete=True, cases=[
        CaseResult(cid, cid.split("/")[0], state, reason=why, reason_class=rc, verdict=state)
        for cid, (state, rc, why) in got.items()])


def _via_json(tmp_path: Path, *hosts: HostResult, name: str = "results.json") -> RunResult:
    """Through a real results.json, as `kmatrix report` reads it."""
    run = RunResult(run_id="r1", suite="default", hosts=list(hosts))
    p = tmp_path / name
    p.write_text(json.dumps(run.to_dict()))
    return read_results(p)


def _states(run: RunResult) -> list[wl.Readiness]:
    m = build_matrix([run])
    return wl.readiness(m)["demo"]


def test_all_pass_is_ready(demo: Path, tmp_path: Path) -> None:
    (r,) = _states(_via_json(tmp_path, _host("a")))
    assert r.state == wl.READY and not r.failing and not r.unknown


def test_a_failing_required_case_is_not_ready_naming_it(demo: Path, tmp_path: Path) -> None:
    h = _host("a", cases={"kfunc/task_acquire": ("fail", None, "result 0, want 42"),
                          "trampoline/fentry_fexit": ("pass", None, "")})
    (r,) = _states(_via_json(tmp_path, h))
    assert r.state == wl.NOT_READY
    assert [f.req.what for f in r.failing] == ["kfuncs"]
    assert "kfunc/task_acquire FAIL (result 0, want 42)" in r.summary()


def test_a_lacking_case_is_not_ready_and_wins_over_untested(demo: Path, tmp_path: Path) -> None:
    h = _host("a", cases={
        "kfunc/task_acquire": ("skip", "kernel-lacks", "kernel BTF has no kfunc bpf_task_acquire"),
        "trampoline/fentry_fexit": ("skip", "environment-blocks", "ftrace is blocked")})
    (r,) = _states(_via_json(tmp_path, h))
    assert r.state == wl.NOT_READY  # not ready wins over partly known
    assert "kfunc/task_acquire lacks (kernel BTF has no kfunc bpf_task_acquire)" in r.summary()
    assert [f.req.what for f in r.unknown] == ["fentry"]


def test_untested_is_partly_known_naming_what(demo: Path, tmp_path: Path) -> None:
    h = _host("a", cases={"kfunc/task_acquire": ("pass", None, ""),
                          "trampoline/fentry_fexit": ("skip", "environment-blocks", "ftrace blocked")})
    (r,) = _states(_via_json(tmp_path, h))
    assert r.state == wl.PARTLY
    assert r.summary() == "untested: fentry (trampoline/fentry_fexit untested here)"
    # a case not run on the column, and an unreadable config, are untested too
    h2 = _host("b", cases={"kfunc/task_acquire": ("pass", None, "")}, kernel_config=None)
    (r2,) = _states(_via_json(tmp_path, h2, name="b.json"))
    assert r2.state == wl.PARTLY
    assert "kernel config unreadable" in r2.summary() and "trampoline/fentry_fexit not run" in r2.summary()


def test_a_requirement_without_a_check_is_untested(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    f = tmp_path / "w.yaml"
    f.write_text("demo:\n  name: Demo\n  requirements:\n    - what: signed programs\n"
                 "      link: https://example.org/sig\n")
    monkeypatch.setattr(wl, "WORKLOADS_FILE", f)
    (r,) = _states(_via_json(tmp_path, _host("a")))
    assert r.state == wl.PARTLY and "no kmatrix case or check for it" in r.summary()


def test_facts_fail_and_arch_is_na(demo: Path, tmp_path: Path) -> None:
    old = _host("old", kernel="4.19.0-26-amd64",
                kernel_config={"CONFIG_BPF_SYSCALL": "y", "CONFIG_DEBUG_INFO_BTF": "n"},
                btf={"present": False})
    rv = _host("rv", arch="riscv64", kernel="7.2.0-riscv64")
    r_old, r_rv = _states(_via_json(tmp_path, old, rv))
    assert r_old.state == wl.NOT_READY
    text = r_old.summary()
    assert "needs kernel >=5.10; this target runs 4.19.0-26-amd64" in text
    assert "kernel config lacks CONFIG_DEBUG_INFO_BTF" in text and "no BTF" in text
    assert r_rv.state == wl.NA and not r_rv.findings


# --- rendering ---------------------------------------------------------------------------


def _three(tmp_path: Path) -> RunResult:
    ready = _host("h-ready")
    fail = _host("h-fail", kernel="6.12.48+deb13-amd64",
                 cases={"kfunc/task_acquire": ("skip", "kernel-lacks", "no bpf_task_acquire"),
                        "trampoline/fentry_fexit": ("pass", None, "")})
    partly = _host("h-partly", arch="aarch64", kernel="6.1.0-27-arm64",
                   cases={"kfunc/task_acquire": ("pass", None, ""),
                          "trampoline/fentry_fexit": ("skip", "environment-blocks", "ftrace off")})
    return _via_json(tmp_path, ready, fail, partly)


def _workload_rows(md: str) -> list[list[str]]:
    sec = md.split("## Workloads", 1)[1].split("\n## ", 1)[0]
    return [[c.strip() for c in ln.strip().strip("|").split(" | ")]
            for ln in sec.splitlines() if ln.startswith("| Demo")]


def test_markdown_section(demo: Path, tmp_path: Path) -> None:
    md = render_markdown([_three(tmp_path)])
    (row,) = _workload_rows(md)
    assert row[1] == "✅ ready"
    assert row[2].startswith("❌ not ready [^") and row[3].startswith("❔ partly known [^")
    defs = dict(re.findall(r"^\[\^(\d+)\]: (.*)$", md, flags=re.M))
    note = defs[re.search(r"\[\^(\d+)\]", row[2]).group(1)].replace("\\", "")
    assert note.startswith("Demo: not ready: kfuncs: kfunc/task_acquire lacks (no bpf_task_acquire)")
    note = defs[re.search(r"\[\^(\d+)\]", row[3]).group(1)].replace("\\", "")
    assert note == "Demo: partly known: untested: fentry (trampoline/fentry_fexit untested here)"
    # every requirement listed with its link and cases; the precedence is stated
    assert "[kfuncs](https://example.org/demo#kfunc) (kfunc/task\\_acquire)" in md
    assert "Not ready wins over partly known" in md


def test_html_section(demo: Path, tmp_path: Path) -> None:
    page = render_html([_three(tmp_path)])
    sec = page.split('<table id="workloads">', 1)[1].split("</table>", 1)[0]
    states = re.findall(r'data-workload="demo" data-wl-state="([^"]+)"', sec)
    assert states == ["ready", "not-ready", "partly-known"]
    cells = re.split(r"<td ", sec)[1:]
    assert "kfunc/task_acquire lacks (no bpf_task_acquire)" in cells[1]
    assert '<a href="https://example.org/demo#kfunc" rel="noreferrer">kfuncs</a>' in cells[1]
    assert "\u2718 fails" in cells[1] and "\u25cc untested" in cells[2]


def test_release_comparison_marks_changes(demo: Path, tmp_path: Path) -> None:
    a = _via_json(tmp_path, _host("box"), name="a.json")
    b = _via_json(tmp_path, _host("box", cases={
        "kfunc/task_acquire": ("fail", None, "wrong result"),
        "trampoline/fentry_fexit": ("pass", None, "")}), name="b.json")
    md = render_markdown([a, b], labels=["22.03", "24.03"])
    (row,) = _workload_rows(md)
    assert row[1] == "✅ ready" and row[2].startswith("❌ not ready [^") and row[2].endswith(" Δ")
    page = render_html([a, b], labels=["22.03", "24.03"])
    sec = page.split('<table id="workloads">', 1)[1].split("</table>", 1)[0]
    assert sec.count('class="delta"') == 1 and "changed: ready in 22.03" in sec
    assert "<b>22.03</b>" in sec and "<b>24.03</b>" in sec


def test_a_host_that_reported_nothing_is_untested_not_failed(demo: Path, tmp_path: Path) -> None:
    dead = HostResult(name="rv-board", arch="x86_64", error="ssh: host key mismatch")
    (r,) = _states(_via_json(tmp_path, dead))
    assert r.state == wl.PARTLY and not r.failing
    assert "rv-board reported no facts" in r.summary()
    assert "kfunc/task_acquire not run" in r.summary()
