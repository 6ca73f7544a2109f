"""The diff gate, end to end: two real runs over the loopback sshd, one case broken on purpose.

Run 1 (base) runs a fixed slice of the real catalogue. Run 2 (new) uses a copy of it where one
check that passed in run 1 ends in `t.fail(...)` after doing its real work, so the
program still loads, attaches and fires on this kernel and only the verdict
changes. `kmatrix diff base new` must list that regression and exit 1. Run 3 is
the same broken catalogue with a suite that expects the failure (xfail): the run
gates green and the diff against base is not a regression.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from loopback import Loopback, can_run, copy_cases

pytestmark = [pytest.mark.sshd, pytest.mark.bpf,
              pytest.mark.skipif(can_run() is not None, reason=str(can_run()))]

ROOT = Path(__file__).resolve().parent.parent
PREFERRED = "dynptr/from_mem"
# A fixed slice of the catalogue, so the test stays fast and does not move with new cases.
SUBSET = ("dynptr/from_mem", "dynptr/ringbuf", "kfunc/task_acquire", "perf/arm_spe",
          "trampoline/fentry_fexit")

BREAK = '''

# --- appended by tests/test_diff_e2e.py: the check does its real work, then fails ---
_kmatrix_real_run = run


def run(t):
    _kmatrix_real_run(t)
    t.fail("deliberately broken by tests/test_diff_e2e.py")
'''


def _subset(dest: Path) -> Path:
    return copy_cases(dest, SUBSET)


def _verdicts(run_dir: Path) -> dict[str, dict]:
    data = json.loads((run_dir / "results.json").read_text())
    (host,) = data["hosts"]
    assert host["error"] is None, host["error"]
    return {c["case"]: c for c in host["cases"]}


class Runs:
    lb: Loopback
    broken: str
    base: Path
    new: Path
    xfail: Path
    new_rc: int
    xfail_rc: int


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    tmp = tmp_path_factory.mktemp("diff-e2e")
    r = Runs()
    r.lb = Loopback(tmp)
    try:
        good = _subset(tmp / "good_cases")
        base = r.lb.run("base", "--cases-dir", str(good))
        assert base.returncode == 0, base.stdout + base.stderr
        r.base = r.lb.run_dir("base")
        passed = sorted(c for c, v in _verdicts(r.base).items() if v["verdict"] == "pass")
        assert passed, "the base run must have a passing case to break"
        r.broken = PREFERRED if PREFERRED in passed else passed[0]

        cases = tmp / "bpf_cases"
        _subset(cases)
        check = cases / f"{r.broken}.py"
        check.write_text(check.read_text() + BREAK)
        new = r.lb.run("new", "--cases-dir", str(cases))
        r.new_rc, r.new = new.returncode, r.lb.run_dir("new")
        print(new.stdout + new.stderr)

        suites = tmp / "suites"
        suites.mkdir()
        (suites / "known-broken.yaml").write_text(
            "name: known-broken\n"
            "description: the broken case is a known failure\n"
            "expectations:\n"
            f"  - case: {r.broken}\n"
            "    state: xfail\n"
            "    reason: broken on purpose by the diff end-to-end test\n"
            "    link: https://example.invalid/kmatrix/diff-e2e\n")
        xf = r.lb.run("xfail", "--cases-dir", str(cases), "--suites-dir", str(suites),
                      "--suite", "known-broken")
        r.xfail_rc, r.xfail = xf.returncode, r.lb.run_dir("xfail")
        print(xf.stdout + xf.stderr)
        yield r
    finally:
        r.lb.stop()


def test_broken_case_really_ran_and_failed(runs: Runs) -> None:
    new = _verdicts(runs.new)[runs.broken]
    assert new["state"] == "fail" and new["verdict"] == "fail"
    assert new["reason"] == "deliberately broken by tests/test_diff_e2e.py"
    # The real check ran before the appended failure: it recorded what the program saw.
    assert new["details"], "the real check must have run first"
    assert runs.new_rc == 1, "a failure no expectation covers is a regression: exit 1"
    others = {c: v["verdict"] for c, v in _verdicts(runs.new).items() if c != runs.broken}
    base = {c: v["verdict"] for c, v in _verdicts(runs.base).items() if c != runs.broken}
    assert others == base


def test_diff_lists_the_regression_and_gates(runs: Runs) -> None:
    proc = runs.lb.kmatrix("diff", str(runs.base), str(runs.new))
    text = proc.stdout
    (runs.lb.dir / "diff-base-new.txt").write_text(text)
    print(f"$ kmatrix diff base new   (exit {proc.returncode})\n{text}{proc.stderr}")
    assert proc.returncode == 1, text + proc.stderr
    lines = text.splitlines()
    assert lines[0] == "Regressions (pass -> fail): 1"
    assert lines[1].strip().startswith(f"{runs.broken} [x86_64 ")
    assert "pass -> fail: deliberately broken by tests/test_diff_e2e.py" in lines[1]
    assert "(hosts: loop)" in lines[1]
    assert lines[-1].startswith("summary: 1 regression(s), 0 new failure(s), 0 fix(es)")


def test_diff_the_other_way_is_a_fix_and_passes(runs: Runs) -> None:
    proc = runs.lb.kmatrix("diff", str(runs.new), str(runs.base))
    print(proc.stdout)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "Fixes (fail -> pass): 1" in proc.stdout
    assert f"{runs.broken} [x86_64 " in proc.stdout


def test_same_results_diff_clean(runs: Runs) -> None:
    proc = runs.lb.kmatrix("diff", str(runs.base), str(runs.base / "results.json"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    n = len(_verdicts(runs.base))
    assert proc.stdout.strip() == (f"summary: 0 regression(s), 0 new failure(s), 0 fix(es), "
                                   f"0 new skip(s), 0 changed skip reason(s), 0 xpass, "
                                   f"{n} unchanged")


def test_expected_failure_does_not_gate(runs: Runs) -> None:
    """The same breakage, covered by a suite expectation: xfail, exit 0, no regression."""
    xf = _verdicts(runs.xfail)[runs.broken]
    assert (xf["state"], xf["verdict"]) == ("fail", "xfail")
    assert xf["expectation"]["link"] == "https://example.invalid/kmatrix/diff-e2e"
    assert runs.xfail_rc == 0
    proc = runs.lb.kmatrix("diff", str(runs.base), str(runs.xfail))
    print(proc.stdout)
    assert proc.returncode == 0, proc.stdout
    assert "Other changes: 1" in proc.stdout and "pass -> xfail" in proc.stdout
