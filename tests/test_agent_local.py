"""The agent end to end on this machine: real builds, real BPF loads, real triggers.

Builds every case against this host's /sys/kernel/btf/vmlinux, bundles agent.pyz,
runs `python3 agent.pyz run` as a subprocess and reads its JSON lines.
"""

from __future__ import annotations

import ast
import json
import os
import re
import shutil
import stat
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest
from agent_support import (
    BTF,
    bpftool_ids,
    bundle,
    results,
    run_agent,
    support_catalog,
)

from kmatrix.agent import main as agent_main
from kmatrix.bundle import agent_source, make_plan
from kmatrix.catalog import load_catalog

ROOT = Path(__file__).resolve().parent.parent
AGENT_FILES = sorted((ROOT / "kmatrix" / "agent").glob("*.py"))
CHECK_FILES = sorted((ROOT / "bpf_cases").glob("*/*.py"))

needs_bpf = [
    pytest.mark.bpf,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for BPF"),
    pytest.mark.skipif(not BTF.exists(), reason="needs kernel BTF"),
]


@pytest.mark.parametrize("path", AGENT_FILES + CHECK_FILES, ids=lambda p: p.name)
def test_target_code_is_python37(path: Path) -> None:
    # The agent and the checks run on targets with Python 3.7.
    ast.parse(path.read_text(), filename=str(path), feature_version=(3, 7))


@pytest.fixture(scope="module")
def full_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    tmp = tmp_path_factory.mktemp("agent")
    cases = load_catalog(ROOT / "bpf_cases")
    pyz, workdir, outcomes = bundle(cases, tmp, tmp / "cache")
    events, stdout, proc = run_agent(pyz)
    return {"events": events, "stdout": stdout, "proc": proc, "workdir": workdir,
            "outcomes": outcomes, "cases": cases}


class TestRealCases:
    pytestmark = needs_bpf

    def test_everything_compiled(self, full_run: dict) -> None:
        bad = {k: o.output for k, o in full_run["outcomes"].items() if not o.ok}
        assert bad == {}

    def test_protocol(self, full_run: dict) -> None:
        ev = full_run["events"]
        assert full_run["proc"].returncode == 0, full_run["proc"].stderr
        assert ev[0]["event"] == "hello" and ev[0]["libbpf"]
        assert ev[-1] == {"event": "done", "count": len(full_run["cases"])}
        # the capability probes, measured once before the cases
        assert ev[1]["event"] == "probes" and ev[1]["probes"]["atomics"]["state"] == "yes"
        ids = [c.id for c in full_run["cases"]]
        # start then result, for every case, in plan order
        body = [(e["event"], e["case"]) for e in ev[2:-1]]
        assert body == [x for cid in ids for x in (("start", cid), ("result", cid))]
        fields = {"event", "case", "family", "state", "reason", "reason_class", "duration",
                  "details", "verifier_log", "dmesg", "output"}
        for r in results(ev).values():
            assert set(r) == fields

    @pytest.mark.parametrize("cid", ["kfunc/task_acquire", "dynptr/from_mem", "dynptr/ringbuf",
                                     "xdp_frags/frags_test_run", "perf/cpu_clock"])
    def test_passes(self, full_run: dict, cid: str) -> None:
        r = results(full_run["events"])[cid]
        assert r["state"] == "pass", json.dumps(r, indent=1)

    def test_task_acquire_values(self, full_run: dict) -> None:
        d = results(full_run["events"])["kfunc/task_acquire"]["details"]
        assert d["hits"] >= 1 and d["recorded_pid"] == d["child_pid"] > 0

    def test_xdp_frags_crossed_boundaries(self, full_run: dict) -> None:
        d = results(full_run["events"])["xdp_frags/frags_test_run"]["details"]
        assert d["buff_len"] == d["data_out_len"] >= 9000
        lin = d["linear_len"]
        assert lin < 9000 and d["boundaries"] == [lin, lin + d["page_size"]]
        assert d["read"] == ["KMxHEAD!", "KMxFRAG!"]

    def test_fentry_skips_environment_blocks(self, full_run: dict) -> None:
        r = results(full_run["events"])["trampoline/fentry_fexit"]
        if r["state"] != "skip":
            pytest.skip(f"ftrace is usable on this host: {r['state']} {r['reason']}")
        assert r["reason_class"] == "environment-blocks"
        assert "ftrace" in r["reason"] and "EPERM" in r["reason"]

    def test_arm_spe_hardware_missing(self, full_run: dict) -> None:
        if any(p.startswith("arm_spe_") for p in os.listdir("/sys/bus/event_source/devices")):
            pytest.skip("this host has an arm_spe PMU")
        r = results(full_run["events"])["perf/arm_spe"]
        assert r["state"] == "skip" and r["reason_class"] == "hardware-missing"
        assert "arm_spe_*" in r["reason"]

    def test_journal_matches_stdout(self, full_run: dict) -> None:
        journal = (full_run["workdir"] / "journal.jsonl").read_text()
        assert journal == full_run["stdout"]
        mode = stat.S_IMODE(os.stat(full_run["workdir"] / "journal.jsonl").st_mode)
        assert mode == 0o600

    def test_resume_skips_finished_ids(self, full_run: dict, tmp_path: Path) -> None:
        done = ["dynptr/from_mem", "kfunc/task_acquire"]
        plan = make_plan(full_run["cases"], run_id="resume", workdir=str(tmp_path),
                         arch="x86_64", resume_after=done)
        # A plan next to agent.pyz wins over the one inside it (resume without re-upload).
        pyz = tmp_path / "agent.pyz"
        pyz.write_bytes((full_run["workdir"] / "agent.pyz").read_bytes())
        (tmp_path / "plan.json").write_text(json.dumps(plan))
        events, _out, proc = run_agent(pyz)
        assert proc.returncode == 0, proc.stderr
        got = [e["case"] for e in events if e["event"] == "result"]
        assert got == [c.id for c in full_run["cases"] if c.id not in done]
        assert events[-1]["count"] == len(got)
        assert (tmp_path / "journal.jsonl").read_text().count('"event": "hello"') == 1


@pytest.mark.bpf
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root for BPF")
def test_check_that_raises_leaves_nothing_loaded(tmp_path: Path) -> None:
    """Run the case in this process, so its fds would still be open if cleanup missed one."""
    cases = support_catalog(tmp_path, ["kfunc/raises"])
    pyz, workdir, _ = bundle(cases, tmp_path, tmp_path / "cache")
    plan = json.loads(agent_main.Bundle(str(pyz)).read("plan.json"))
    progs0 = bpftool_ids("prog")
    sink = os.open(str(tmp_path / "events"), os.O_WRONLY | os.O_CREAT, 0o600)
    emitter = agent_main.Emitter(sink, str(workdir / "journal.jsonl"))
    try:
        agent = agent_main.Agent(agent_main.Bundle(str(pyz)), plan, emitter)
        r = agent.run_case(plan["cases"][0])
    finally:
        emitter.close()
        os.close(sink)
    assert r["state"] == "fail"
    assert "RuntimeError" in r["reason"] and "deliberate failure" in r["output"]
    seen = r["details"]["seen"]
    assert seen["prog"] and seen["link"], "the check did load and attach"
    assert r["details"]["hits"] >= 1
    assert not set(seen["prog"]) & progs0
    # Deterministic part: this process holds no BPF prog/link fd any more.
    fdinfo = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            fdinfo.append(Path("/proc/self/fdinfo", fd).read_text())
        except OSError:
            pass
    assert not any("prog_id:" in t or "link_id:" in t for t in fdinfo)
    # The kernel frees a released prog asynchronously (RCU), so give it a moment.
    # Compare the case's own ids, so BPF loaded by tests running in parallel cannot interfere.
    mine_p, mine_l = set(seen["prog"]), set(seen["link"])
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline and (
            mine_p & bpftool_ids("prog") or mine_l & bpftool_ids("link")):
        time.sleep(0.1)
    assert not mine_p & bpftool_ids("prog"), "the case's program is still loaded"
    assert not mine_l & bpftool_ids("link"), "the case's link still exists"



@pytest.mark.bpf
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root for BPF")
def test_compile_failure_fails_alone(tmp_path: Path) -> None:
    cases = support_catalog(tmp_path, ["kfunc/broken", "kfunc/raises", "dynptr/noisy",
                                       "perf/skipper"])
    pyz, _workdir, outcomes = bundle(cases, tmp_path, tmp_path / "cache")
    assert not outcomes["kfunc/broken"].ok and outcomes["kfunc/raises"].ok
    events, _out, proc = run_agent(pyz)
    assert proc.returncode == 0, proc.stderr
    res = results(events)
    broken = res["kfunc/broken"]
    assert broken["state"] == "fail"
    assert "this_symbol_does_not_exist_kmatrix" in broken["output"]
    assert "error" in broken["output"]
    assert res["kfunc/raises"]["state"] == "fail"  # ran (and failed on purpose)
    assert res["kfunc/raises"]["details"]["hits"] >= 1
    assert res["dynptr/noisy"]["state"] == "pass"
    assert "python-level print" in res["dynptr/noisy"]["output"]
    assert res["perf/skipper"]["state"] == "skip"
    assert res["perf/skipper"]["reason_class"] == "hardware-missing"


def test_timeout_and_stray_output(tmp_path: Path) -> None:
    cases = support_catalog(tmp_path, ["perf/slow", "dynptr/noisy"])
    pyz, workdir, _ = bundle(cases, tmp_path, tmp_path / "cache")
    events, stdout, proc = run_agent(pyz)  # json.loads of every line: none is stray
    assert proc.returncode == 0, proc.stderr
    res = results(events)
    assert res["perf/slow"]["state"] == "fail"
    assert "timed out after 1s" in res["perf/slow"]["reason"]
    assert res["dynptr/noisy"]["state"] == "pass"
    assert b"fd-level write" in (workdir / "agent.stdout").read_bytes()


@pytest.mark.bpf
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root for BPF")
def test_remote_build_on_target(tmp_path: Path) -> None:
    """build: remote ships sources; the agent runs bpftool + clang itself."""
    cases = [c for c in load_catalog(ROOT / "bpf_cases") if c.id == "kfunc/task_acquire"]
    cases += support_catalog(tmp_path, ["kfunc/broken"])
    pyz, workdir, _ = bundle(cases, tmp_path, tmp_path / "cache", build="remote")
    events, _out, proc = run_agent(pyz)
    assert proc.returncode == 0, proc.stderr
    res = results(events)
    assert res["kfunc/task_acquire"]["state"] == "pass", res["kfunc/task_acquire"]
    assert res["kfunc/broken"]["state"] == "fail"
    assert "this_symbol_does_not_exist_kmatrix" in res["kfunc/broken"]["output"]
    assert (workdir / "build" / "vmlinux.h").stat().st_size > 0


def test_preflight_facts(tmp_path: Path) -> None:
    src = agent_source("preflight.py")  # as the runner sends it (reasons.py first)
    p = subprocess.run([sys.executable, "-"], input=src, capture_output=True, timeout=120,
                       cwd=tmp_path)
    assert p.returncode == 0, p.stderr
    facts = json.loads(p.stdout)
    try:
        for key in ("uname", "os_release", "kernel_config", "kernel_config_source", "btf",
                    "python", "libbpf", "clang", "bpftool", "pmus", "bpf_jit_enable",
                    "ftrace", "workdir", "inventory"):
            assert key in facts
        assert facts["uname"]["machine"] == os.uname().machine
        assert stat.S_IMODE(os.stat(facts["workdir"]).st_mode) == 0o700
        # Only the run's lock (a later run sweeps an unlocked work directory).
        assert os.listdir(facts["workdir"]) == ["run.lock"]
        assert set(facts["ftrace"]) >= {"usable", "reason"}
        assert set(facts["inventory"]) >= {"progs", "maps", "links", "pinned", "netns",
                                           "veths", "modules"}
        if BTF.exists():
            assert facts["btf"]["present"] and facts["btf"]["size"] == BTF.stat().st_size
    finally:
        shutil.rmtree(facts["workdir"])


def _python37() -> str | None:
    cands = sorted(Path(os.path.expanduser("~/.pyenv/versions")).glob("3.7*/bin/python3"))
    for p in [str(c) for c in cands] + [shutil.which("python3.7")]:
        if not p or not os.access(p, os.X_OK):
            continue
        ok = subprocess.run([p, "-c", "import sys; assert sys.version_info[:2] == (3, 7)"],
                            capture_output=True, timeout=60)
        if ok.returncode == 0:  # pyenv shims exist even when that version is not selected
            return p
    return None


@pytest.mark.bpf
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root for BPF")
@pytest.mark.skipif(_python37() is None, reason="no Python 3.7 interpreter here")
def test_agent_on_python37(full_run: dict, tmp_path: Path) -> None:
    """The oldest target Python really runs the bundle (not just parses it)."""
    pyz = tmp_path / "agent.pyz"
    pyz.write_bytes((full_run["workdir"] / "agent.pyz").read_bytes())
    events, _out, proc = run_agent(pyz, "--workdir", str(tmp_path / "w"), python=_python37())
    assert proc.returncode == 0, proc.stderr
    assert events[0]["python"].startswith("3.7.")
    want = {cid: r["state"] for cid, r in results(full_run["events"]).items()}
    assert {cid: r["state"] for cid, r in results(events).items()} == want


@pytest.mark.bpf
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root for BPF")
def test_resume_comes_only_from_the_plan(full_run: dict, tmp_path: Path) -> None:
    """What already ran travels in plan.resume_after (a re-launch ships a new plan);
    the old --skip/--only flags are gone, so there is no second channel."""
    pyz = tmp_path / "agent.pyz"
    pyz.write_bytes((full_run["workdir"] / "agent.pyz").read_bytes())
    cases = [c for c in full_run["cases"] if c.id in ("kfunc/task_acquire", "dynptr/ringbuf")]
    plan = json.loads(zipfile.ZipFile(pyz).read("plan.json"))
    plan["cases"] = [e for e in plan["cases"] if e["id"] in {c.id for c in cases}]
    plan["resume_after"] = ["dynptr/ringbuf"]
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    events, _out, proc = run_agent(pyz, "--workdir", str(tmp_path / "w"))
    assert proc.returncode == 0, proc.stderr
    assert list(results(events)) == ["kfunc/task_acquire"]
    assert results(events)["kfunc/task_acquire"]["state"] == "pass"
    assert (tmp_path / "w" / "journal.jsonl").exists()
    for flags in (["--skip", "dynptr/ringbuf"], ["--only", "kfunc/task_acquire"], ["--bogus", "x"]):
        _ev, _out, bad = run_agent(pyz, *flags)
        assert bad.returncode == 2 and "usage" in bad.stderr, flags


@pytest.mark.bpf
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root for BPF")
def test_fentry_load_error_names_errno(full_run: dict, tmp_path: Path) -> None:
    """Without the ftrace requirement the load is attempted; the errno must be named:
    EPERM (a blocked ftrace is a policy) as environment-blocks, any other as a fail."""
    r = results(full_run["events"])["trampoline/fentry_fexit"]
    if r["state"] != "skip":
        pytest.skip("ftrace is usable here; nothing to provoke")
    cases = [c for c in full_run["cases"] if c.id == "trampoline/fentry_fexit"]
    plan = make_plan(cases, run_id="x", workdir=str(tmp_path), arch="x86_64")
    plan["cases"][0]["meta"]["requires"] = {}
    (tmp_path / "plan.json").write_text(json.dumps(plan))
    events, _out, proc = run_agent(full_run["workdir"] / "agent.pyz", "--plan",
                                   str(tmp_path / "plan.json"))
    assert proc.returncode == 0, proc.stderr
    r = results(events)["trampoline/fentry_fexit"]
    assert re.search(r"-\d+ E[A-Z]+ \(", r["reason"]), r["reason"]
    if " EPERM " in r["reason"]:
        assert (r["state"], r["reason_class"]) == ("skip", "environment-blocks"), r
    else:
        assert r["state"] == "fail", r
    assert "libbpf" in r["verifier_log"]


@pytest.mark.skipif(os.geteuid() != 0, reason="writing /dev/kmsg needs root")
def test_kmsg_watch_sees_new_lines_only() -> None:
    from kmatrix.agent import dmesg

    with open("/dev/kmsg", "w") as k:
        k.write("kmatrix-test: before the watch\n")
    w = dmesg.KmsgWatch(kernel_only=False)
    kw = dmesg.KmsgWatch()  # the agent's default: kernel records only
    if w.fd is None:
        pytest.skip("/dev/kmsg is not readable here")
    try:
        marker = f"kmatrix-test: during the watch {os.getpid()}"
        with open("/dev/kmsg", "w") as k:
            k.write("<4>WARNING: CPU: 0 PID: 1 at " + marker + "\n")
        lines = w.drain()
        kernel_lines = kw.drain()
    finally:
        w.close()
        kw.close()
    assert any(marker in line for line in lines)
    assert not any("before the watch" in line for line in lines)
    # A user-space writer cannot plant a fake splat in a case's kernel log.
    assert not any(marker in line for line in kernel_lines)


def test_taint_mask_is_read() -> None:
    from kmatrix.agent import dmesg

    want = int(Path("/proc/sys/kernel/tainted").read_text())
    assert dmesg.tainted() == want
