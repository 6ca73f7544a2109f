"""The simulated transport (bench/simtransport.py, out of the product package) that the scale bench drives.

The trace is the one recorded from a real run over the loopback sshd
(bench/data/loopback-x86_64.jsonl); the runner driving it is the real one.
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from pathlib import Path
from typing import Any

import pytest
from transport_contract import TransportBasics

from bench.simtransport import SimModel, SimTransport, Trace, simulated
from kmatrix.catalog import load_catalog
from kmatrix.errors import TransportError
from kmatrix.inventory import Host
from kmatrix.progress import Progress
from kmatrix.runner import Run, RunOptions
from kmatrix.suite import find_suite, load_suite
from kmatrix.transport import open_transport

ROOT = Path(__file__).resolve().parent.parent
TRACE = ROOT / "bench" / "data" / "loopback-x86_64.jsonl"
FAST = SimModel(latency=0.001, jitter=0.0005, handshake_rtts=1)


@pytest.fixture(scope="module")
def trace() -> Trace:
    return Trace.load(TRACE)


def _host(name: str = "s1") -> Host:
    return Host(name=name, arch="x86_64", transport="sim")


def test_recorded_trace_is_a_whole_agent_run(trace: Trace) -> None:
    facts = json.loads(trace.preflight_stdout.strip().splitlines()[-1])
    assert facts["uname"]["machine"] == "x86_64" and facts["btf"]["present"]
    events = [json.loads(line)["event"] for _t, line in trace.lines]
    assert events[0] == "hello" and events[-1] == "done"
    assert len(trace.results()) == events.count("start") > 0
    times = [t for t, _line in trace.lines]
    assert times == sorted(times)
    assert trace.first_case_event is not None and trace.first_case_event >= times[0]


def test_dump_load_round_trip(trace: Trace, tmp_path: Path) -> None:
    trace.dump(tmp_path / "t.jsonl")
    again = Trace.load(tmp_path / "t.jsonl")
    assert again.lines == trace.lines
    assert again.preflight_stdout == trace.preflight_stdout
    assert (again.put_size, again.host, again.arch) == (trace.put_size, trace.host, trace.arch)


def test_load_names_the_bad_line(tmp_path: Path) -> None:
    p = tmp_path / "bad.jsonl"
    p.write_text('{"kind": "meta", "host": "h", "arch": "x86_64"}\nnot json\n')
    with pytest.raises(ValueError, match=r"bad.jsonl:2: not JSON"):
        Trace.load(p)


def test_preflight_gives_each_host_its_own_workdir(trace: Trace) -> None:
    dirs = set()
    for i in range(3):
        with SimTransport(_host(f"h{i}"), trace, FAST) as t:
            res = t.run(["python3", "-"], stdin=b"", timeout=5)
            facts = json.loads(res.stdout)
            assert res.ok and facts["uname"] == json.loads(
                trace.preflight_stdout.strip().splitlines()[-1])["uname"]
            dirs.add(facts["workdir"])
    assert len(dirs) == 3 and all(d.startswith("/tmp/kmatrix.sim") for d in dirs)


def _launch(t: SimTransport, plan: dict | None) -> tuple[dict, list[dict]]:
    """One agent exec as the runner drives it: facts, then a bundle (or an abort)."""
    with t.stream(["python3", "-c", "LOADER", "10"], idle_timeout=5, stdin=True) as s:
        lines = s.lines()
        facts = json.loads(next(lines))["facts"]
        if plan is None:
            s.send(b'{"abort": "nothing to run"}\n')
        else:
            buf = io.BytesIO()
            with zipfile.ZipFile(buf, "w") as z:
                z.writestr("plan.json", json.dumps(plan))
            s.send(json.dumps({"bundle": len(buf.getvalue())}).encode() + b"\n" + buf.getvalue())
        s.end_input()
        events = [json.loads(line) for line in lines]
    assert s.returncode == 0
    return facts, events


def test_launch_runs_what_the_plan_lists_and_counts_round_trips(trace: Trace) -> None:
    ids = [r["case"] for r in trace.results()]
    with SimTransport(_host(), trace, FAST) as t:
        facts, got = _launch(t, {"cases": [{"id": i} for i in ids[:2]],
                                 "resume_after": [ids[1]]})
        assert facts["workdir"].startswith("/tmp/kmatrix.sim") and facts["btf"]["present"]
        assert {e.get("case") for e in got if "case" in e} == {ids[0]}
        assert got[0]["event"] == "hello" and got[-1]["event"] == "done"
        _facts, rest = _launch(t, None)
        assert [e["event"] for e in rest] == ["aborted"]
        assert t.round_trips == 2  # one exec per launch, the bundle rides on its stdin


def test_latency_is_paid_per_round_trip(trace: Trace) -> None:
    model = SimModel(latency=0.05, jitter=0.0, handshake_rtts=2)
    t0 = time.monotonic()
    with SimTransport(_host(), trace, model) as t:
        t.run(["true"], timeout=5)
        t.run(["true"], timeout=5)
    assert time.monotonic() - t0 >= 0.05 * 4 * 0.95  # handshake (2) + two execs


def test_jitter_is_reproducible_per_host() -> None:
    import random

    m = SimModel(latency=0.02, jitter=0.01, seed=7)
    r1, r2 = random.Random("7:h1"), random.Random("7:h1")
    a = [m.delay(r1) for _ in range(5)]
    b = [m.delay(r2) for _ in range(5)]
    assert a == b and all(0.01 <= d <= 0.03 for d in a) and len(set(a)) > 1


def test_unknown_command_is_an_exit_code_not_a_crash(trace: Trace) -> None:
    with SimTransport(_host(), trace, FAST) as t:
        assert t.run(["no-such-program"], timeout=5).returncode == 127
    with pytest.raises(TransportError):
        t.run(["true"], timeout=5)  # closed


def test_open_transport_builds_sim_hosts_only_while_registered(trace: Trace) -> None:
    with simulated(trace, FAST):
        assert isinstance(open_transport(_host()), SimTransport)
    with pytest.raises(TransportError, match="unknown transport 'sim'"):
        open_transport(_host())


def test_real_runner_over_simulated_hosts(trace: Trace, tmp_path: Path) -> None:
    """The real Run drives several simulated hosts to completion in fixed round trips."""
    cases = load_catalog(ROOT / "bpf_cases")
    # Cases that need no BPF object keep this test free of clang; the trace knows them.
    traced = {r["case"] for r in trace.results()}
    chosen = [c for c in cases if c.id in traced and not c.build]
    if not chosen:
        pytest.skip("the recorded trace has no case without a BPF object")
    suite = load_suite(find_suite("bpf-core", ROOT / "suites"), [c.id for c in cases])
    opts = RunOptions(out_dir=tmp_path / "out", cache_dir=tmp_path / "cache", run_id="sim")
    hosts = [_host(f"sim{i}") for i in range(4)]
    with simulated(trace, FAST, btf=b"BTF blob stand-in"):
        result = Run(hosts, chosen, suite, opts, Progress(stream=io.StringIO(), quiet=True)
                     ).execute()
    assert [h.error for h in result.hosts] == [None] * 4
    recorded = {r["case"]: r["state"] for r in trace.results()}
    for h in result.hosts:
        assert h.complete
        assert {c.case: c.state for c in h.cases} == {c.id: recorded[c.id] for c in chosen}
    assert len({h.round_trips for h in result.hosts}) == 1
    doc = json.loads((tmp_path / "out" / "results.json").read_text())
    assert len(doc["hosts"]) == 4 and not doc["incomplete"]


class TestSimTransportBasics(TransportBasics):
    @pytest.fixture
    def transport(self, trace: Trace) -> Any:
        t = SimTransport(Host(name="c", arch="x86_64", address="10.0.0.1", transport="sim"),
                         trace, SimModel(latency=0.0, jitter=0.0))
        t.connect()
        yield t
        t.close()


class TestFaultTransportBasics(TransportBasics):
    @pytest.fixture
    def transport(self, tmp_path: Path) -> Any:
        from faultsim import FakeTarget, FaultTransport

        t = FaultTransport(Host(name="f", arch="x86_64", address="10.0.0.1"),
                           FakeTarget(tmp_path / "reset"))
        t.connect()
        yield t
        t.close()
