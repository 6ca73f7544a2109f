"""prog cases (tail calls, tail calls from subprograms, bpf_loop, global functions) for
real on this kernel through the agent: values when they pass, true skips otherwise."""

from __future__ import annotations

import pytest
from agent_support import NEEDS_BPF, passed, run_family, true_verdict

pytestmark = NEEDS_BPF


@pytest.fixture(scope="module")
def res(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    return run_family(tmp_path_factory.mktemp("prog"), "prog")["res"]


def test_tail_call_chain(res: dict) -> None:
    passed(res["prog/tail_call"])
    d = res["prog/tail_call"]["details"]
    assert (d["entry_runs"], d["step_runs"], d["last_runs"]) == (1, 1, 1)
    assert (d["step_depth"], d["last_depth"], d["empty_slot_fell_through"]) == (2, 3, 1)


def test_tail_call_from_subprogram(res: dict) -> None:
    r = res["prog/tail_call_subprog"]
    # A JIT that cannot mix the two (arm64 before 6.0 ...) names the verifier's refusal;
    # with the JIT off the interpreter refuses it.
    if true_verdict(r, ["cannot mix tail calls and bpf-to-bpf calls", "BPF JIT disabled"]):
        d = r["details"]
        assert (d["sub_before"], d["callee_runs"], d["callee_sum"]) == (39, 1, 42)
        assert d["after_tail_call"] == 0


def test_bpf_loop(res: dict) -> None:
    r = res["prog/bpf_loop"]
    if true_verdict(r, ["bpf_loop probe: no bpf_loop (helper #181"]):
        d = r["details"]
        assert (d["full_ret"], d["full_calls"], d["full_sum"]) == (1000, 1000, 499500)
        assert (d["early_ret"], d["early_calls"], d["early_sum"]) == (10, 10, 45)


def test_global_functions(res: dict) -> None:
    passed(res["prog/global_func"])
    d = res["prog/global_func"]["details"]
    assert (d["scaled_out"], d["picked_out"], d["clamped_out"]) == (43, 50, 1012)
