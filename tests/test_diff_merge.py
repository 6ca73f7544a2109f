"""results.json round trip, diff across hosts, merge of shards."""

from __future__ import annotations

import argparse
import copy
import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_junit import sample_run

from kmatrix.errors import InputError
from kmatrix.expectations import exit_code
from kmatrix.report.diff import add_arguments, diff, parse_host_map
from kmatrix.report.jsonout import read_results, write_partial, write_results
from kmatrix.report.merge import merge
from kmatrix.results import REASON_CLASSES, STATES, VERDICTS, CaseResult, HostResult, RunResult

pytestmark = pytest.mark.fast
ROOT = Path(__file__).resolve().parent.parent


# ---- results.json ---------------------------------------------------------------------------

def test_json_roundtrip(tmp_path: Path) -> None:
    run = sample_run()
    p = write_results(run, tmp_path / "out" / "results.json")
    assert read_results(p) == run
    assert json.loads(p.read_text()) == run.to_dict()
    assert [x.name for x in p.parent.iterdir()] == ["results.json"]  # no temp file left


_text = st.text(max_size=40)
_cases = st.builds(
    CaseResult,
    case=st.from_regex(r"[a-z_]{1,8}/[a-z_]{1,8}", fullmatch=True),
    family=st.from_regex(r"[a-z_]{1,8}", fullmatch=True),
    state=st.sampled_from(STATES),
    reason=_text,
    reason_class=st.none() | st.sampled_from(REASON_CLASSES),
    duration=st.floats(0, 1e4, allow_nan=False),
    details=st.dictionaries(st.text(max_size=8), st.integers() | _text, max_size=3),
    verifier_log=_text,
    dmesg=st.lists(_text, max_size=3),
    output=_text,
    verdict=st.sampled_from(("",) + VERDICTS),
    attempts=st.integers(0, 5),
)
_hosts = st.builds(
    HostResult,
    name=st.from_regex(r"[a-z0-9-]{1,10}", fullmatch=True),
    arch=st.sampled_from(["x86_64", "aarch64", "riscv64"]),
    kernel=_text,
    env_tags=st.lists(st.sampled_from(["lab", "tcg", "ftrace-blocked"]), unique=True),
    cases=st.lists(_cases, max_size=4),
    error=st.none() | _text,
    complete=st.booleans(),
)
_runs = st.builds(RunResult, run_id=st.from_regex(r"[a-z0-9]{1,8}", fullmatch=True),
                  hosts=st.lists(_hosts, max_size=3), incomplete=st.booleans(),
                  warnings=st.lists(_text, max_size=2))


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(run=_runs)
def test_json_roundtrip_property(tmp_path: Path, run: RunResult) -> None:
    p = write_results(run, tmp_path / "results.json")
    assert read_results(p) == run
    m = merge([run])
    assert sorted(c.case for h in m.hosts for c in h.cases) == sorted(
        {(h.name, c.case): c.case for h in run.hosts for c in h.cases}.values())
    assert diff([run], [run]).exit_code == 0  # a run never regresses against itself


def test_partial_marks_incomplete_without_touching_run(tmp_path: Path) -> None:
    run = sample_run()
    run.incomplete = False
    write_partial(run, tmp_path / "results.json")
    assert read_results(tmp_path / "results.json").incomplete is True
    assert run.incomplete is False


def test_concurrent_writers_never_leave_a_torn_file(tmp_path: Path) -> None:
    run = sample_run()
    p = tmp_path / "results.json"
    errs: list[BaseException] = []

    def writer() -> None:
        try:
            for _ in range(20):
                write_results(run, p)
        except BaseException as e:  # pragma: no cover - reported below
            errs.append(e)

    threads = [threading.Thread(target=writer) for _ in range(4)]
    for t in threads:
        t.start()
    for _ in range(50):
        if p.exists():
            read_results(p)  # must always parse
    for t in threads:
        t.join()
    assert not errs
    assert read_results(p) == run
    assert sorted(x.name for x in tmp_path.iterdir()) == ["results.json"]


def test_read_tolerates_missing_optional_fields(tmp_path: Path) -> None:
    p = tmp_path / "r.json"
    p.write_text(json.dumps({
        "run_id": "old",
        "hosts": [{"name": "h", "arch": "x86_64", "env_tags": None, "facts": None,
                   "cases": [{"case": "kfunc/task_acquire", "state": "pass", "dmesg": None,
                              "details": None, "duration": None, "new_field": 1}]}],
        "future_key": True,
    }))
    r = read_results(p)
    c = r.hosts[0].cases[0]
    assert (c.family, c.dmesg, c.details, c.duration, c.verdict) == ("kfunc", [], {}, 0.0, "")
    assert r.hosts[0].env_tags == [] and r.warnings == [] and r.incomplete is False
    assert exit_code(r) == 0


@pytest.mark.parametrize("content,where", [
    ("{not json", ":1: json:"),
    ("[]", ": results:"),
    ('{"hosts": []}', ": results.run_id:"),
    ('{"run_id": "x", "hosts": [{"name": "h"}]}', ": hosts[0].arch:"),
    ('{"run_id": "x", "hosts": [{"name": "h", "arch": "x86_64", "cases": [{"case": "a/b"}]}]}',
     ": hosts[0].cases[0].state:"),
])
def test_read_bad_files(tmp_path: Path, content: str, where: str) -> None:
    p = tmp_path / "r.json"
    p.write_text(content)
    with pytest.raises(InputError) as ei:
        read_results(p)
    assert str(ei.value).startswith(str(p)) and where in str(ei.value)
    assert "\n" not in str(ei.value)


def test_read_missing_file(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file"):
        read_results(tmp_path / "nope.json")


# ---- diff -----------------------------------------------------------------------------------

def _run(run_id: str, host: str, kernel: str, cases: dict[str, tuple[str, str]],
         arch: str = "x86_64") -> RunResult:
    crs = []
    for cid, (verdict, reason) in cases.items():
        state = {"xfail": "fail", "xpass": "pass", "flaky": "pass"}.get(verdict, verdict)
        rc = "kernel-lacks" if verdict == "skip" else None
        crs.append(CaseResult(cid, cid.split("/")[0], state, reason=reason, reason_class=rc,
                              verdict=verdict))
    return RunResult(run_id=run_id, hosts=[HostResult(host, arch, kernel=kernel, cases=crs)])


def test_diff_across_hosts() -> None:
    base = _run("b", "old-box", "6.1.0-27-amd64", {
        "a/regress": ("pass", ""),
        "a/fixed": ("fail", "broken"),
        "a/newskip": ("pass", ""),
        "a/skipchg": ("skip", "no kfunc"),
        "a/same": ("pass", ""),
        "a/xp": ("xfail", "known"),
        "a/flaky_then_fail": ("flaky", "once"),
        "a/gone": ("pass", ""),
        "a/was_skip": ("skip", "no kfunc"),
    })
    # Different host name and a later 6.1 point release: still the same key.
    new = _run("n", "new-box", "6.1.0-30-amd64", {
        "a/regress": ("fail", "program did not fire"),
        "a/fixed": ("pass", ""),
        "a/newskip": ("skip", "no kfunc"),
        "a/skipchg": ("skip", "no BTF"),
        "a/same": ("pass", ""),
        "a/xp": ("xpass", ""),
        "a/flaky_then_fail": ("fail", "again"),
        "a/added": ("pass", ""),
        "a/was_skip": ("fail", "now present but broken"),
    })
    d = diff([base], [new])
    assert [c.case for c in d.regressions] == ["a/flaky_then_fail", "a/regress"]
    assert [c.case for c in d.fixes] == ["a/fixed"]
    assert [c.case for c in d.new_skips] == ["a/newskip"]
    assert [c.case for c in d.skip_reason_changes] == ["a/skipchg"]
    assert [c.case for c in d.xpasses] == ["a/xp"]
    assert [c.case for c in d.new_failures] == ["a/was_skip"]
    assert [c.case for c in d.added] == ["a/added"]
    assert [c.case for c in d.removed] == ["a/gone"]
    assert d.unchanged == 1
    assert d.exit_code == 1
    text = d.render()
    assert "Regressions (pass -> fail): 2" in text
    assert ("a/regress [x86_64 6.1]: pass -> fail: program did not fire"
            "  (kernel 6.1.0-27-amd64 -> 6.1.0-30-amd64)  (hosts: old-box -> new-box)") in text
    assert "no kfunc" in text and "no BTF" in text
    assert text.splitlines()[-1].startswith("summary: 2 regression(s)")


def test_diff_gates_across_a_kernel_bump() -> None:
    """Same host, same case, new kernel line: pass -> fail is a regression, with both kernels."""
    base = _run("b", "h", "6.6.0-72.oe2403sp1", {"dynptr/from_mem": ("pass", ""),
                                                 "kfunc/task_acquire": ("pass", "")})
    new = _run("n", "h", "6.18.0", {"dynptr/from_mem": ("fail", "program did not fire"),
                                    "kfunc/task_acquire": ("error", "agent lost")})
    d = diff([base], [new])
    assert [c.case for c in d.regressions] == ["dynptr/from_mem", "kfunc/task_acquire"]
    assert d.exit_code == 1 and not d.new_failures and not d.other_changes
    assert d.regressions[0].line() == (
        "dynptr/from_mem [x86_64 6.6 -> 6.18]: pass -> fail: program did not fire"
        "  (kernel 6.6.0-72.oe2403sp1 -> 6.18.0)  (hosts: h)")
    assert "kfunc/task_acquire [x86_64 6.6 -> 6.18]: pass -> error: agent lost" in d.render()
    assert d.render().splitlines()[-1].startswith("summary: 2 regression(s), 0 new failure(s)")


def test_diff_never_matches_across_arches() -> None:
    base = _run("b", "h", "6.1.0-27-amd64", {"a/x": ("pass", "")})
    other_arch = _run("n", "h", "6.1.0-27-arm64", {"a/x": ("fail", "r")}, arch="aarch64")
    d = diff([base], [other_arch])
    assert d.regressions == [] and d.exit_code == 0
    assert [(c.arch, c.kernel) for c in d.removed] == [("x86_64", "6.1")]
    assert [(c.arch, c.kernel) for c in d.added] == [("aarch64", "6.1")]


def test_diff_host_error_is_an_error_for_its_missing_cases() -> None:
    """A kernel that no longer boots must not pass the gate as "only in base"."""
    base = _run("b", "h", "6.6.0", {"a/x": ("pass", ""), "a/y": ("skip", "no kfunc")})
    new = _run("n", "h", "6.18.0", {})
    new.hosts[0].error = "boot: no login prompt after 600s"
    d = diff([base], [new])
    assert [(c.case, c.new, c.new_reason) for c in d.regressions] == [
        ("a/x", "error", "host error: boot: no login prompt after 600s")]
    assert [c.case for c in d.other_changes] == ["a/y"] and d.exit_code == 1


def _hosts_run(run_id: str, hosts: dict[str, tuple[str, dict[str, tuple[str, str]]]],
               arch: str = "x86_64") -> RunResult:
    """Several hosts of one arch: {name: (kernel, {case: (verdict, reason)})}."""
    return merge([_run(run_id, name, kernel, cases, arch=arch)
                  for name, (kernel, cases) in hosts.items()])


def test_diff_matches_by_host_name_before_arch() -> None:
    # Pooled by arch, the worst base verdict (skip on bullseye) would hide trixie's regression.
    base = _hosts_run("b", {"lab-x86_64-trixie": ("6.12.48", {"a/x": ("pass", "")}),
                            "lab-x86_64-bullseye": ("5.10.0", {"a/x": ("skip", "no kfunc")})})
    new = _hosts_run("n", {"lab-x86_64-trixie": ("6.18.0", {"a/x": ("fail", "r")}),
                           "lab-x86_64-bullseye": ("5.10.0", {"a/x": ("skip", "no kfunc")})})
    d = diff([base], [new])
    assert [(c.case, c.hosts, c.kernel) for c in d.regressions] == [
        ("a/x", ["lab-x86_64-trixie"], "6.12 -> 6.18")]
    assert d.unchanged == 1 and d.exit_code == 1


def test_diff_pools_unmatched_hosts_of_an_arch() -> None:
    """Other machines on each side: the worst verdict of each side's hosts of the arch."""
    base = _run("b", "h1", "6.6.0", {"a/x": ("pass", "")})
    new = _hosts_run("n", {"h2": ("6.6.7", {"a/x": ("fail", "only on h2")}),
                           "h3": ("6.6.0", {"a/x": ("pass", "")})})
    d = diff([base], [new])
    (r,) = d.regressions
    assert (r.case, r.base_hosts, r.hosts, r.new_reason) == ("a/x", ["h1"], ["h2", "h3"],
                                                             "only on h2")
    assert r.line().endswith("  (kernel 6.6.0 -> 6.6.7, 6.6.0)  (hosts: h1 -> h2, h3)")
    assert diff([base], [base]).exit_code == 0


def test_diff_new_host_without_counterpart_is_only_in_new() -> None:
    base = _run("b", "h1", "6.6.0", {"a/x": ("pass", "")})
    new = _hosts_run("n", {"h1": ("6.6.0", {"a/x": ("pass", "")}),
                           "h2": ("6.6.7", {"a/x": ("fail", "only on h2")})})
    d = diff([base], [new])
    assert not d.regressions and d.exit_code == 0 and d.unchanged == 1
    assert [(c.case, c.hosts) for c in d.added] == [("a/x", ["h2"])]
    assert [(c.case, c.hosts) for c in d.new_failures] == [("a/x", ["h2"])]


def test_diff_explicit_host_map() -> None:
    base = _hosts_run("b", {"old-a": ("6.6.0", {"a/x": ("pass", "")}),
                            "old-b": ("6.6.0", {"a/x": ("skip", "no kfunc")})})
    new = _hosts_run("n", {"new-a": ("6.18.0", {"a/x": ("fail", "r")}),
                           "new-b": ("6.18.0", {"a/x": ("skip", "no kfunc")})})
    pooled = diff([base], [new])  # worst of each side: skip -> fail
    assert not pooled.regressions and [c.case for c in pooled.new_failures] == ["a/x"]
    mapped = diff([base], [new], host_map={"old-a": "new-a", "old-b": "new-b"})
    (r,) = mapped.regressions
    assert (r.base_hosts, r.hosts) == (["old-a"], ["new-a"]) and mapped.exit_code == 1
    assert "(hosts: old-a -> new-a)" in r.line()
    # A partial map: the rest still pairs by name, then by arch.
    partial = diff([base], [new], host_map={"old-a": "new-a"})
    assert [c.hosts for c in partial.regressions] == [["new-a"]] and partial.unchanged == 1


@pytest.mark.parametrize("host_map,msg", [
    ({"nope": "new-a"}, "--map: nope=new-a: no host 'nope' in BASE (hosts: old-a)"),
    ({"old-a": "nope"}, "--map: old-a=nope: no host 'nope' in NEW (hosts: arm, new-a)"),
    ({"old-a": "arm"}, "--map: old-a=arm: different arches (x86_64 vs aarch64)"),
])
def test_diff_host_map_errors(host_map: dict[str, str], msg: str) -> None:
    base = _run("b", "old-a", "6.6.0", {"a/x": ("pass", "")})
    new = merge([_run("n", "new-a", "6.6.0", {"a/x": ("pass", "")}),
                 _run("n", "arm", "6.6.0", {"a/x": ("pass", "")}, arch="aarch64")])
    with pytest.raises(InputError) as ei:
        diff([base], [new], host_map=host_map)
    assert str(ei.value).startswith(msg)


def test_parse_host_map_and_option() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    a = parser.parse_args(["--map", "old-a=new-a", "--map", " old-b = new-b "])
    assert parse_host_map(a.map) == {"old-a": "new-a", "old-b": "new-b"}
    assert parse_host_map(parser.parse_args([]).map) == {}
    for bad, why in ((["old-a"], "expected BASEHOST=NEWHOST"), (["=x"], "expected"),
                     (["a=x", "a=y"], "base host 'a' is mapped twice"),
                     (["a=x", "b=x"], "new host 'x' is mapped twice")):
        with pytest.raises(InputError, match=why):
            parse_host_map(bad)


def _kmatrix(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kmatrix", *args], capture_output=True,
                          text=True, timeout=120, cwd=ROOT,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))


def test_cli_diff_gates_across_kernel_versions(tmp_path: Path) -> None:
    """`python -m kmatrix diff BASE NEW`: a 6.6 openEuler baseline against a 6.18 run: exit 1."""
    cases = {"dynptr/from_mem": ("pass", ""), "kfunc/task_acquire": ("pass", "")}
    names = ("lab-x86_64-trixie", "lab-x86_64-bullseye")
    base = merge([_run("b", n, "6.6.0-72.oe2403sp1", cases) for n in names])
    broken = dict(cases, **{"dynptr/from_mem": ("fail", "program did not fire (hits=0)")})
    new = merge([_run("n", names[0], "6.18.0", broken), _run("n", names[1], "6.18.0", cases)])
    write_results(base, tmp_path / "base" / "results.json")
    write_results(new, tmp_path / "new" / "results.json")

    proc = _kmatrix("diff", str(tmp_path / "base"), str(tmp_path / "new"))
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[:2] == [
        "Regressions (pass -> fail): 1",
        "  dynptr/from_mem [x86_64 6.6 -> 6.18]: pass -> fail: program did not fire (hits=0)"
        "  (kernel 6.6.0-72.oe2403sp1 -> 6.18.0)  (hosts: lab-x86_64-trixie)"]
    assert lines[-1] == ("summary: 1 regression(s), 0 new failure(s), 0 fix(es), 0 new skip(s), "
                         "0 changed skip reason(s), 0 xpass, 3 unchanged")
    back = _kmatrix("diff", str(tmp_path / "new"), str(tmp_path / "base"))
    assert back.returncode == 0 and "Fixes (fail -> pass): 1" in back.stdout


def test_diff_of_sample_against_itself_is_clean() -> None:
    d = diff([sample_run()], [sample_run()])
    assert not (d.regressions or d.fixes or d.new_skips or d.skip_reason_changes or d.added)
    assert [c.case for c in d.xpasses] == ["dynptr/ringbuf"]  # still listed: act on it
    assert d.exit_code == 0


# ---- merge ----------------------------------------------------------------------------------

def test_merge_shards_of_one_host() -> None:
    full = sample_run()
    x86 = full.hosts[0]
    s1, s2 = copy.deepcopy(full), copy.deepcopy(full)
    s1.shard, s2.shard = "1/2", "2/2"
    s1.incomplete = s2.incomplete = False
    s1.hosts = [copy.deepcopy(x86)]
    s2.hosts = [copy.deepcopy(x86), copy.deepcopy(full.hosts[2])]
    s1.hosts[0].cases = [c for c in x86.cases if c.case < "p"]
    s2.hosts[0].cases = [c for c in x86.cases if c.case >= "p"]
    s1.hosts[0].round_trips, s2.hosts[0].round_trips = 10, 7
    s1.hosts[0].timings, s2.hosts[0].timings = {"build": 1.0}, {"build": 2.0, "run": 1.0}
    s1.started, s2.started = "2025-01-01T00:00:05Z", "2025-01-01T00:00:01Z"
    s1.warnings, s2.warnings = ["w1"], ["w1", "w2"]
    m = merge([s1, s2])
    assert [h.name for h in m.hosts] == ["box-x86", "rv-board"]
    h = m.hosts[0]
    assert [c.case for c in h.cases] == sorted(c.case for c in x86.cases)
    assert h.round_trips == 17 and h.timings == {"build": 3.0, "run": 1.0}
    assert m.shard is None and m.started == "2025-01-01T00:00:01Z"
    assert m.run_id == full.run_id and m.warnings == ["w1", "w2"]
    assert h.complete is True
    assert m.incomplete is True  # rv-board never completed (host error)
    s2.hosts = s2.hosts[:1]
    assert merge([s1, s2]).incomplete is False
    assert m.hosts[1].error and "host key mismatch" in m.hosts[1].error
    # inputs untouched
    assert len(s1.hosts[0].cases) + len(s2.hosts[0].cases) == len(x86.cases)


def test_merge_incomplete_and_missing_shard() -> None:
    a = _run("r", "h", "6.6.0", {"a/x": ("pass", "")})
    a.shard = "1/3"
    b = _run("r", "h", "6.6.0", {"a/y": ("pass", "")})
    b.shard = "2/3"
    m = merge([a, b])
    assert m.incomplete is True and any("3/3 missing" in w for w in m.warnings)
    c = _run("r", "h", "6.6.0", {"a/z": ("pass", "")})
    c.incomplete = True
    assert merge([c]).incomplete is True


def test_merge_arches_and_duplicate_case() -> None:
    x = _run("r1", "hx", "6.6.0", {"a/x": ("fail", "first")})
    x2 = _run("r1", "hx", "6.6.0", {"a/x": ("pass", "")})
    y = _run("r2", "hy", "6.6.0", {"a/x": ("pass", "")}, arch="aarch64")
    m = merge([x, y, x2])
    assert [(h.name, h.arch) for h in m.hosts] == [("hx", "x86_64"), ("hy", "aarch64")]
    assert m.hosts[0].cases[0].verdict == "pass"  # the later input wins
    assert any("appears in several inputs" in w for w in m.warnings)
    assert m.run_id == "r1+r2"
    assert x.hosts[0].cases[0].verdict == "fail"


def test_merge_roundtrips_through_json(tmp_path: Path) -> None:
    m = merge([sample_run()])
    p = write_results(m, tmp_path / "results.json")
    assert read_results(p) == m
