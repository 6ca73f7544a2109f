"""merge(shards) == a single run, except timings: real runs over the loopback sshd.

Two inventory entries (`loop-a`, `loop-b`) point at the same real sshd, so "per
host" is exercised. The full run and the two shards each really build, upload and
run the agent; the shards are merged with `kmatrix merge` and compared with the
full run: results.json case ids, states, verdicts, reasons and expectations per
host, and the JUnit testcases per arch.
"""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from loopback import Loopback, can_run, copy_cases

pytestmark = [pytest.mark.sshd, pytest.mark.bpf,
              pytest.mark.skipif(can_run() is not None, reason=str(can_run()))]

HOSTS = ("loop-a", "loop-b")
# A fixed slice of the catalogue (tracked cases of every family: passes, skips, no-build
# checks), so the proof stays fast and does not move with cases being added.
SUBSET = ("dynptr/from_mem", "dynptr/ringbuf", "kfunc/task_acquire", "perf/arm_spe",
          "perf/cpu_clock", "trampoline/fentry_fexit", "xdp_frags/frags_test_run")
# Measured, so different from run to run; everything else must be identical.
VOLATILE_CASE = {"duration", "details", "dmesg", "output", "verifier_log"}


class Runs:
    lb: Loopback
    full: Path
    shards: list[Path]
    merged: Path


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    tmp = tmp_path_factory.mktemp("shard-merge")
    r = Runs()
    r.lb = Loopback(tmp, names=HOSTS)
    try:
        cases = _subset(tmp / "bpf_cases")
        # Sequential on purpose: the same kernel runs every host's programs.
        for run_id, extra in (("full", ()), ("s1", ("--shard", "1/2")), ("s2", ("--shard", "2/2"))):
            p = r.lb.run(run_id, "--cases-dir", str(cases), *extra)
            assert p.returncode == 0, p.stdout + p.stderr
        r.full = r.lb.run_dir("full")
        r.shards = [r.lb.run_dir("s1"), r.lb.run_dir("s2")]
        r.merged = tmp / "merged"
        p = r.lb.kmatrix("merge", *map(str, r.shards), "--output", str(r.merged))
        assert p.returncode == 0, p.stdout + p.stderr
        yield r
    finally:
        r.lb.stop()


def _subset(dest: Path) -> Path:
    return copy_cases(dest, SUBSET)


def _load(d: Path) -> dict[str, Any]:
    return json.loads((d / "results.json").read_text())


def _comparable(data: dict[str, Any]) -> dict[str, Any]:
    hosts = {}
    for h in data["hosts"]:
        hosts[h["name"]] = {
            "arch": h["arch"], "kernel": h["kernel"], "os_release": h["os_release"],
            "env_tags": h["env_tags"], "error": h["error"], "complete": h["complete"],
            "cases": [{k: v for k, v in c.items() if k not in VOLATILE_CASE}
                      for c in sorted(h["cases"], key=lambda c: c["case"])],
        }
    return hosts


def test_shards_split_the_cases(runs: Runs) -> None:
    full = {h["name"]: {c["case"] for c in h["cases"]} for h in _load(runs.full)["hosts"]}
    parts = [{h["name"]: {c["case"] for c in h["cases"]} for h in _load(s)["hosts"]}
             for s in runs.shards]
    assert set(full) == set(HOSTS)
    assert all(cases == set(SUBSET) for cases in full.values())
    for host in HOSTS:
        a, b = parts[0][host], parts[1][host]
        assert a and b, "each shard must run part of the work"
        assert not a & b, "shards must not overlap"
        assert a | b == full[host]
    assert [_load(s)["shard"] for s in runs.shards] == ["1/2", "2/2"]


def test_merged_results_equal_single_run(runs: Runs) -> None:
    full, merged = _load(runs.full), _load(runs.merged)
    assert _comparable(merged) == _comparable(full)
    assert merged["incomplete"] is False and full["incomplete"] is False
    assert merged["shard"] is None and merged["suite"] == full["suite"]
    assert merged["warnings"] == full["warnings"]
    # Details are measured values, but the same checks reported the same keys.
    for hm, hf in zip(merged["hosts"], full["hosts"]):
        assert ({c["case"]: sorted(c["details"]) for c in hm["cases"]}
                == {c["case"]: sorted(c["details"]) for c in hf["cases"]})
        # Properties come from the same facts; one per host whichever shard ran.
        assert hm["properties"] == hf["properties"]


def _junit(path: Path) -> dict[str, Any]:
    root = ET.parse(path).getroot()
    suites = {}
    for ts in root.iter("testsuite"):
        cases = {}
        for tc in ts.iter("testcase"):
            kids = [(el.tag, el.get("message"), el.get("type")) for el in tc
                    if el.tag in ("failure", "error", "skipped", "flakyFailure")]
            cases[tc.get("name")] = (tc.get("classname"), kids)
        props = {p.get("name"): p.get("value") for p in ts.iter("property")
                 if p.get("name") not in ("run.id",)}
        suites[ts.get("name")] = {
            "cases": cases, "props": props,
            "counts": {k: ts.get(k) for k in ("tests", "failures", "errors", "skipped")},
        }
    return {"suites": suites, "counts": {k: root.get(k) for k in ("tests", "failures", "errors")}}


def test_merged_junit_per_arch_matches(runs: Runs) -> None:
    arches = sorted(p.parent.name for p in runs.full.glob("*/junit.xml"))
    assert arches == ["x86_64"]
    assert sorted(p.parent.name for p in runs.merged.glob("*/junit.xml")) == arches
    for arch in arches:
        full, merged = _junit(runs.full / arch / "junit.xml"), _junit(runs.merged / arch / "junit.xml")
        assert merged == full
        assert set(full["suites"]) == set(HOSTS)
        for s in full["suites"].values():
            assert len(s["cases"]) == len(_load(runs.full)["hosts"][0]["cases"])


def test_report_over_shards_equals_report_over_merge(runs: Runs) -> None:
    """`kmatrix report` also takes the shards directly; the matrix is the same."""
    a, b = runs.lb.dir / "rep-shards", runs.lb.dir / "rep-merged"
    for out, inputs in ((a, runs.shards), (b, [runs.merged])):
        p = runs.lb.kmatrix("report", *map(str, inputs), "--output", str(out))
        assert p.returncode == 0, p.stdout + p.stderr

    def matrix(md: str) -> list[str]:
        return [ln for ln in md.splitlines() if ln.startswith("| `")]

    rows = matrix((a / "report.md").read_text())
    assert rows and rows == matrix((b / "report.md").read_text())
