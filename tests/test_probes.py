"""Capability probes (kmatrix/agent/probes.py): real attempts on this kernel, and the
verdict rules against the kernel answers recorded on older generations (faked sys)."""

from __future__ import annotations

import errno
import os
from typing import Any, Optional

import pytest

from kmatrix.agent import btf, kversion, preflight, probes, requires

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="bpf(2) needs root")


@pytest.fixture(scope="module")
def real() -> dict[str, Any]:
    ctx = probes.Context(btf.vmlinux_func_ids, lambda: preflight.kernel_config()[0])
    return probes.Probes(ctx).all()


@pytest.mark.bpf
@needs_root
def test_every_probe_answers_on_this_kernel(real: dict[str, Any]) -> None:
    assert set(real) == set(probes.PROBES)
    for name, r in real.items():
        assert r["state"] in ("yes", "no", "blocked", "unknown"), (name, r)
        assert r["sentence"], name
        assert r["class"] == {"no": "kernel-lacks", "blocked": "environment-blocks"}.get(
            r["state"]), (name, r)


@pytest.mark.bpf
@needs_root
def test_this_kernel_has_the_load_only_features(real: dict[str, Any]) -> None:
    # 6.18 (this machine): atomics, cpu v4, dynptr, kfunc calls and frags all load.
    if btf_release() < (6, 6):
        pytest.skip("needs a >= 6.6 kernel")
    for name in ("atomics", "cpu_v4", "dynptr", "kfunc_call", "xdp_frags"):
        assert real[name]["state"] == "yes", (name, real[name])


@pytest.mark.bpf
@needs_root
def test_trampoline_probe_agrees_with_ftrace_fact(real: dict[str, Any]) -> None:
    ft = preflight.ftrace(preflight.kernel_config()[0])
    if ft["usable"] is False:
        # This machine: tracefs refuses access, and so does the fentry load.
        assert real["trampoline"]["state"] == "blocked", real["trampoline"]
        assert "EPERM" in real["trampoline"]["sentence"]
    elif ft["usable"]:
        assert real["trampoline"]["state"] in ("yes", "no"), real["trampoline"]


def btf_release() -> tuple[int, ...]:
    got = kversion.parse_release(os.uname().release)
    assert got is not None
    return got


class FakeSys:
    """Answers prog loads and attaches as a given kernel did."""

    def __init__(self, load: tuple[int, int, str], attach: tuple[int, int] = (7, 0),
                 load_frags: Optional[tuple[int, int, str]] = None) -> None:
        self.load = load
        self.attach = attach
        self.load_frags = load_frags
        self.calls: list[tuple[int, int]] = []

    def prog_load(self, prog_type: int, code: bytes, attach_type: int = 0,
                  attach_btf_id: int = 0, flags: int = 0) -> tuple[int, int, str]:
        self.calls.append((prog_type, flags))
        if flags and self.load_frags is not None:
            return self.load_frags
        return self.load

    def array_map(self) -> tuple[int, int]:
        return (9, 0)

    def raw_tp_open(self, prog_fd: int) -> tuple[int, int]:
        return self.attach


CTX = probes.Context(lambda: {"bpf_fentry_test1": 42}, lambda: {"CONFIG_BPF": "y"})
NO_FD = -1


def run(name: str, sys_: FakeSys, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.setattr(probes, "_close", lambda fd: None)
    return probes.PROBES[name](sys_, CTX)


@pytest.mark.parametrize("name,answer,state,words", [
    # Linux 5.10 (Debian bullseye), as its verifier answered:
    ("atomics", (NO_FD, errno.EINVAL, "0: (db) r1 = atomic64_fetch_add((u64 *)(r10 -8), r1)\n"
                 "BPF_STX uses reserved fields\nprocessed 2 insns"), "no",
     ["BPF_STX uses reserved fields", "5.12"]),
    ("cpu_v4", (NO_FD, errno.EINVAL, "1: (91) ...\nBPF_LDX uses reserved fields\n"), "no",
     ["BPF_LDX uses reserved fields"]),
    ("cpu_v4", (NO_FD, 524, ""), "no", ["JIT cannot compile cpu v4"]),
    ("dynptr", (NO_FD, errno.EINVAL, "4: (85) call unknown#197\ninvalid func unknown#197\n"),
     "no", ["invalid func unknown#197", "5.19"]),
    ("get_func_arg", (NO_FD, errno.EINVAL, "invalid func unknown#183\n"), "no",
     ["unknown#183", "bpf_get_func_arg"]),
    ("kfunc_call", (NO_FD, errno.EINVAL, "0: (85) call ...\nBPF_CALL uses reserved fields\n"),
     "no", ["reserved fields", "5.13"]),
    ("kfunc_call", (NO_FD, errno.EINVAL, "JIT does not support calling kernel function\n"),
     "no", ["JIT cannot call kernel functions"]),
    ("kfunc_call", (NO_FD, errno.EACCES, "calling kernel function bpf_fentry_test1 is not "
                    "allowed\nprocessed 1 insns"), "yes", ["is not allowed"]),
    ("kfunc_call", (NO_FD, errno.EINVAL, "JIT is required for calling kernel function\n"),
     "blocked", ["JIT"]),
    # This machine: ftrace blocked, the fentry load is refused with EPERM.
    ("trampoline", (NO_FD, errno.EPERM, ""), "blocked", ["EPERM"]),
    ("get_func_arg", (NO_FD, errno.EPERM, ""), "blocked", ["EPERM"]),
    # An unexpected refusal decides nothing.
    ("atomics", (NO_FD, errno.EINVAL, "R1 !read_ok\n"), "unknown", ["R1 !read_ok"]),
    ("atomics", (5, 0, ""), "yes", ["loads"]),
])
def test_verdict_rules(name: str, answer: tuple[int, int, str], state: str, words: list[str],
                       monkeypatch: pytest.MonkeyPatch) -> None:
    r = run(name, FakeSys(answer), monkeypatch)
    assert r["state"] == state, r
    for w in words:
        assert w in r["sentence"], r


def test_trampoline_enotsupp_on_attach_is_kernel_lacks(monkeypatch: pytest.MonkeyPatch) -> None:
    # arm64 before 6.4 loads the fentry program, then the attach returns -524.
    r = run("trampoline", FakeSys((5, 0, ""), attach=(-1, 524)), monkeypatch)
    assert r == {"state": "no", "class": "kernel-lacks", "sentence": r["sentence"]}
    assert "no BPF trampoline on" in r["sentence"] and "-524 ENOTSUPP" in r["sentence"]


def test_trampoline_attaches(monkeypatch: pytest.MonkeyPatch) -> None:
    assert run("trampoline", FakeSys((5, 0, "")), monkeypatch)["state"] == "yes"


def test_xdp_frags_flag_refused_is_kernel_lacks(monkeypatch: pytest.MonkeyPatch) -> None:
    sys_ = FakeSys((5, 0, ""), load_frags=(NO_FD, errno.EINVAL, ""))
    r = run("xdp_frags", sys_, monkeypatch)
    assert r["state"] == "no" and "BPF_F_XDP_HAS_FRAGS" in r["sentence"], r
    # The control load without the flag came first, so EINVAL is the flag's.
    assert sys_.calls == [(probes.PROG_XDP, 0), (probes.PROG_XDP, probes.F_XDP_HAS_FRAGS)]


def test_no_attach_target_is_unknown() -> None:
    ctx = probes.Context(lambda: {}, lambda: None)
    r = probes.probe_trampoline(FakeSys((5, 0, "")), ctx)  # type: ignore[arg-type]
    assert r["state"] == "unknown" and "bpf_fentry_test1" in r["sentence"]


def test_a_raising_probe_is_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(sys_: Any, ctx: Any) -> dict[str, Any]:
        raise RuntimeError("kaputt")

    monkeypatch.setitem(probes.PROBES, "atomics", boom)
    p = probes.Probes(CTX)
    p.sys = FakeSys((5, 0, ""))  # type: ignore[assignment]
    r = p.get("atomics")
    assert r["state"] == "unknown" and "kaputt" in r["sentence"]


@pytest.mark.parametrize("state,cls,expect", [
    ("no", "kernel-lacks", ("kernel-lacks", "trampoline probe: gone")),
    ("blocked", "environment-blocks", ("environment-blocks", "trampoline probe: gone")),
    ("yes", None, None),
    ("unknown", None, None),
])
def test_requires_uses_probe(state: str, cls: Optional[str], expect: Any) -> None:
    res = {"state": state, "class": cls, "sentence": "gone"}
    got = requires.evaluate({"probes": ["trampoline"]}, {}, None, lambda n: res)
    assert got == expect


def test_requires_prefers_the_ftrace_sentence_over_a_blocked_probe() -> None:
    facts = {"ftrace": {"usable": False, "class": "environment-blocks", "reason": "tracefs EPERM"}}
    blocked = {"state": "blocked", "class": "environment-blocks", "sentence": "EPERM"}
    got = requires.evaluate({"probes": ["trampoline"], "ftrace": True}, facts, None,
                            lambda n: blocked)
    assert got == ("environment-blocks", "tracefs EPERM")


def test_requires_validates_probe_names() -> None:
    assert requires.validate({"probes": ["trampoline"]}) == []
    [(key, msg)] = requires.validate({"probes": ["teleport"]})
    assert key == "probes" and "unknown probe teleport" in msg
