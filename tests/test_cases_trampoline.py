"""trampoline cases for real on this kernel, through the agent.

Where tracing programs cannot attach (this CI host: ftrace is blocked, loads of
tracing/extension programs fail with EPERM) every case must skip as
environment-blocks with the precise reason; where they can, they must pass.
The QEMU lab runs them for real (tests/test_lab_e2e.py and `runners/run`).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from agent_support import NEEDS_BPF, bundle, passed, results, run_agent, run_family

from kmatrix.agent import preflight
from kmatrix.catalog import load_catalog

ROOT = Path(__file__).resolve().parent.parent
FAMILY = "trampoline"
FTRACE_CASES = ["trampoline/fentry_fexit", "trampoline/fmod_ret", "trampoline/many_args",
                "trampoline/many_args_mmap", "trampoline/module_fentry"]

pytestmark = NEEDS_BPF


@pytest.fixture(scope="module")
def family_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    run = run_family(tmp_path_factory.mktemp(FAMILY), FAMILY, all_built=False)
    cfg, _src = preflight.kernel_config()
    return dict(run, ftrace=preflight.ftrace(cfg))


def test_all_compiled_and_ran(family_run: dict) -> None:
    assert {k: o.output for k, o in family_run["outcomes"].items() if not o.ok} == {}
    assert set(FTRACE_CASES + ["trampoline/freplace"]) <= set(family_run["res"])


@pytest.mark.parametrize("cid", FTRACE_CASES)
def test_ftrace_cases(family_run: dict, cid: str) -> None:
    r = family_run["res"][cid]
    ft = family_run["ftrace"]
    if ft["usable"] is False:
        # The skip quotes the preflight probe word for word (EPERM on this host).
        assert r["state"] == "skip", json.dumps(r, indent=1)
        assert r["reason_class"] == ft["class"] == "environment-blocks"
        assert r["reason"] == ft["reason"]
        assert "available_filter_functions" in r["reason"]
    elif cid == "trampoline/module_fentry" and not os.path.exists("/sys/module/veth/initstate"):
        assert r["state"] == "skip" and r["reason_class"] == "environment-blocks"
        assert "built into this kernel" in r["reason"]
    else:
        passed(r)


def test_fentry_fexit_values_when_it_runs(family_run: dict) -> None:
    r = family_run["res"]["trampoline/fentry_fexit"]
    if r["state"] != "pass":
        pytest.skip(f"fentry does not run here: {r['reason']}")
    d = r["details"]
    assert d["test6 fentry args"] == [16, 17, 18, 19, 20, 21]
    assert d["test6 fexit args, ret"][1] == 111 and d["test8 fexit args, ret"][0] == [1, 0]


def test_freplace(family_run: dict) -> None:
    r = family_run["res"]["trampoline/freplace"]
    if r["state"] == "pass":
        d = r["details"]
        assert (d["verdict_before"], d["verdict_replaced"], d["verdict_after_detach"]) == (2, 1, 2)
        return
    # Extension programs do not need ftrace, but this host's policy refuses their
    # load outright; the case must say so, after proving the target program ran.
    assert r["state"] == "skip", json.dumps(r, indent=1)
    assert r["reason_class"] == "environment-blocks"
    assert "EPERM" in r["reason"] and "policy" in r["reason"]
    assert r["details"]["verdict_before"] == 2
    assert family_run["ftrace"]["usable"] is False  # the same sandbox blocks tracing


def test_blocked_ftrace_load_is_a_policy_naming_the_errno(family_run: dict,
                                                         tmp_path: Path) -> None:
    """With the ftrace requirement and the trampoline probe removed the case runs into
    the refusal itself: an EPERM load is this machine's policy, never a missing
    feature nor a fail: environment-blocks naming EPERM, keeping the libbpf log."""
    if family_run["ftrace"]["usable"] is not False:
        pytest.skip("ftrace is usable here; nothing to provoke")
    root = tmp_path / "bpf_cases" / FAMILY
    root.mkdir(parents=True)
    for ext in (".bpf.c", ".py"):
        shutil.copy(ROOT / "bpf_cases" / FAMILY / f"many_args{ext}", root / f"many_args{ext}")
    cases = load_catalog(tmp_path / "bpf_cases")
    cases[0].meta["requires"] = {"btf_funcs": ["bpf_modify_return_test2"]}
    pyz, _w, _o = bundle(cases, tmp_path, tmp_path / "cache")
    events, _out, proc = run_agent(pyz)
    assert proc.returncode == 0, proc.stderr
    r = results(events)["trampoline/many_args"]
    assert (r["state"], r["reason_class"]) == ("skip", "environment-blocks"), r
    assert "-1 EPERM (Operation not permitted)" in r["reason"]
    assert "CAP_BPF/CAP_SYS_ADMIN" in r["reason"]
    assert "libbpf" in r["verifier_log"]
