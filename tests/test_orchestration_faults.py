"""The runner's orchestration through Machine and Session, against simulated
targets with injected faults (tests/faultsim.py): reconnect and journal replay,
a dead kernel restarted by reset_cmd and resumed from the plan, a host that
cannot be restarted, refused connects, and Ctrl-C. No root, no sshd, no BPF;
the end-to-end versions over real sshd and BPF are in test_faults.py."""

from __future__ import annotations

import io
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from faultsim import FakeTarget, simulated_targets

from kmatrix import results
from kmatrix.catalog import load_catalog
from kmatrix.inventory import Host
from kmatrix.progress import Progress
from kmatrix.runner import Run, RunOptions
from kmatrix.suite import Suite

pytestmark = pytest.mark.fast

CHECK = '"""{name}"""\nCASE = {{"description": "{name}", "build": False}}\n\n\ndef run(t):\n    pass\n'
NAMES = ("a_one", "b_two", "c_three", "d_four")


def _catalogue(tmp: Path) -> list[Any]:
    fam = tmp / "cases" / "kfunc"
    fam.mkdir(parents=True)
    for n in NAMES:
        (fam / f"{n}.py").write_text(CHECK.format(name=n))
    return load_catalog(tmp / "cases")


def _run(tmp: Path, target: FakeTarget, *, reset: bool, stop: Any = None,
         attempts: int = 1) -> tuple[Any, Any]:
    cases = _catalogue(tmp)
    reset_cmd = [sys.executable, "-c", f"open({str(target.reset_file)!r}, 'w').close()"]
    host = Host(name="sim", arch="x86_64", address="192.0.2.1", transport="faultsim",
                build="remote", libbpf="system", reset_cmd=reset_cmd if reset else None)
    opts = RunOptions(out_dir=tmp / "out", cache_dir=tmp / "cache", run_id="r",
                      reconnect_attempts=attempts)
    if stop is not None:
        opts.stop = stop
    run = Run([host], cases, Suite(name="t"), opts, Progress(stream=io.StringIO(), quiet=True))
    with simulated_targets({"sim": target}):
        res = run.execute()
    (hr,) = res.hosts
    return res, hr


def _states(hr: Any) -> dict[str, str]:
    return {c.case.split("/")[1]: c.state for c in hr.cases}


def test_a_drop_reconnects_and_replays_the_journal(tmp_path: Path) -> None:
    target = FakeTarget(tmp_path / "reset", drop_after=2)
    _res, hr = _run(tmp_path, target, reset=False)
    assert hr.error is None, hr.error
    assert _states(hr) == dict.fromkeys(NAMES, results.PASS)
    assert len(hr.cases) == len(NAMES)  # nothing recorded twice
    assert target.connects == 2 and len(target.plans) == 1  # one launch: the agent lived
    after = {c.case.split("/")[1]: c.details.get("after_drop") for c in hr.cases}
    assert after == {"a_one": None, "b_two": None, "c_three": True, "d_four": True}


def test_a_dead_kernel_is_reset_blamed_and_resumed_from_the_plan(tmp_path: Path) -> None:
    target = FakeTarget(tmp_path / "reset", die_after=1)
    _res, hr = _run(tmp_path, target, reset=True)
    states = _states(hr)
    assert states == {"a_one": "pass", "b_two": "error", "c_three": "pass", "d_four": "pass"}
    b = next(c for c in hr.cases if c.case.endswith("b_two"))
    assert b.reason.startswith("kernel-dead:"), b.reason
    assert target.boots == 2 and len(target.plans) == 2
    # The second launch's plan lists what is left and names what already ran.
    second = target.plans[1]
    assert [e["id"] for e in second["cases"]] == ["kfunc/c_three", "kfunc/d_four"]
    assert set(second["resume_after"]) == {"kfunc/a_one", "kfunc/b_two"}
    assert {c.case.split("/")[1]: c.details.get("boot") for c in hr.cases
            if c.state == "pass"} == {"a_one": 1, "c_three": 2, "d_four": 2}


def test_a_host_that_cannot_be_restarted_says_what_did_not_run(tmp_path: Path) -> None:
    target = FakeTarget(tmp_path / "reset", die_after=1)
    _res, hr = _run(tmp_path, target, reset=False)
    states = _states(hr)
    assert states["a_one"] == "pass" and states["b_two"] == "error"
    for n in ("c_three", "d_four"):
        c = next(c for c in hr.cases if c.case.endswith(n))
        assert c.state == "error" and "could not be brought back" in c.reason
    assert len(target.plans) == 1


def test_a_refused_first_connect_is_a_host_error_not_retried(tmp_path: Path) -> None:
    target = FakeTarget(tmp_path / "reset", refuse_connects=1)
    _res, hr = _run(tmp_path, target, reset=False)
    assert hr.error and "connection refused" in hr.error
    assert hr.cases == [] and target.plans == []


def test_reconnects_follow_the_session_policy(tmp_path: Path) -> None:
    # The drop, then one refused connect: the second of two attempts gets through.
    target = FakeTarget(tmp_path / "reset", drop_after=1)
    orig = target.events

    def events(plan: dict) -> Any:
        for line, fault in orig(plan):
            if fault == "drop":
                target.refuse_connects = 1
            yield line, fault

    target.events = events  # type: ignore[method-assign]
    _res, hr = _run(tmp_path, target, reset=False, attempts=2)
    assert hr.error is None and _states(hr) == dict.fromkeys(NAMES, results.PASS)
    assert target.connects == 2


def test_ctrl_c_stops_between_events_and_keeps_what_finished(tmp_path: Path) -> None:
    stop = threading.Event()
    target = FakeTarget(tmp_path / "reset")
    orig = target.events

    def events(plan: dict) -> Any:
        for line, fault in orig(plan):
            if '"result"' in line and "b_two" in line:
                stop.set()  # as the signal handler does
            yield line, fault

    target.events = events  # type: ignore[method-assign]
    _res, hr = _run(tmp_path, target, reset=False, stop=stop)
    states = _states(hr)
    assert states.get("a_one") == "pass"
    assert "c_three" not in states and "d_four" not in states
    assert hr.complete is False


def test_warnings_travel_one_channel(tmp_path: Path) -> None:
    """An expired expectation met by a host thread lands once in the run's warnings."""
    from kmatrix.suite import load_suite

    suite_file = tmp_path / "s.yaml"
    suite_file.write_text("name: s\nexpectations:\n"
                          "  - case: kfunc/b_two\n    state: xfail\n    reason: r\n"
                          "    link: https://example.org/a\n    expires: 2020-01-31\n")
    cases = _catalogue(tmp_path)
    suite = load_suite(suite_file, [c.id for c in cases])
    hosts = [Host(name=f"sim{i}", arch="x86_64", address="192.0.2.1", transport="faultsim",
                  build="remote", libbpf="system") for i in (1, 2)]
    opts = RunOptions(out_dir=tmp_path / "out", cache_dir=tmp_path / "cache", run_id="r")
    run = Run(hosts, cases, suite, opts, Progress(stream=io.StringIO(), quiet=True))
    targets = {h.name: FakeTarget(tmp_path / h.name) for h in hosts}
    with simulated_targets(targets):
        res = run.execute()
    expired = [w for w in res.warnings if "expired on 2020-01-31" in w]
    assert sorted(w.split(":")[0] for w in expired) == ["sim1", "sim2"], res.warnings
    assert all(f"{suite_file}:3" in w for w in expired)
