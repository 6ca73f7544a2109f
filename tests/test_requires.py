"""agent/requires.py against fake facts: each requirement, its reason class and sentence."""

from __future__ import annotations

from typing import Any

import pytest

from kmatrix.agent import requires as rq


def facts(**over: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "uname": {"machine": "x86_64", "release": "6.6.0-28.0.0.34.oe2403.x86_64"},
        "kernel_config": {"CONFIG_DEBUG_INFO_BTF": "y", "CONFIG_BPF_JIT": "y",
                          "CONFIG_FOO": "m", "CONFIG_OFF": "n"},
        "kernel_config_source": "/boot/config-6.6.0",
        "btf": {"present": True},
        "pmus": ["cpu", "software", "arm_spe_0"],
        "bpf_jit_enable": 1,
        "ftrace": {"usable": True, "reason": "ok", "class": None},
    }
    base.update(over)
    return base


def names() -> set[str]:
    return {"bpf_task_acquire", "bpf_task_release", "bpf_fentry_test1"}


def test_nothing_required_runs() -> None:
    assert rq.evaluate({}, facts()) is None
    assert rq.evaluate({"kfuncs": ["bpf_task_acquire"], "ftrace": True, "jit": True,
                        "kernel": ">=6.1,<6.9", "config": ["CONFIG_FOO"],
                        "pmu": ["arm_spe_*"], "arch": ["x86_64"]}, facts(), names) is None


def test_arch() -> None:
    cls, why = rq.evaluate({"arch": ["aarch64"]}, facts())
    assert cls == "environment-blocks" and why == "case is for aarch64; this target is x86_64"


@pytest.mark.parametrize("spec,ok", [(">=6.1", True), (">=6.7", False), ("<6.6", False),
                                     ("==6.6", True), (">=5.10,<6.6.1", True), ("!=6.6", False)])
def test_kernel_range(spec: str, ok: bool) -> None:
    out = rq.evaluate({"kernel": spec}, facts())
    if ok:
        assert out is None
    else:
        assert out is not None and out[0] == "kernel-lacks"
        assert spec in out[1] and "6.6.0-28.0.0.34.oe2403.x86_64" in out[1]


def test_config() -> None:
    cls, why = rq.evaluate({"config": ["CONFIG_FOO", "CONFIG_OFF", "CONFIG_NONE"]}, facts())
    assert cls == "kernel-lacks"
    assert "CONFIG_OFF, CONFIG_NONE" in why and "/boot/config-6.6.0" in why
    # An unreadable config is not a reason to skip.
    assert rq.evaluate({"config": ["CONFIG_NONE"]}, facts(kernel_config=None)) is None


def test_kfuncs_and_btf_funcs() -> None:
    cls, why = rq.evaluate({"kfuncs": ["bpf_task_acquire", "bpf_cpumask_create"]},
                           facts(), names)
    assert (cls, why) == ("kernel-lacks", "kernel BTF has no kfunc bpf_cpumask_create")
    cls, why = rq.evaluate({"btf_funcs": ["bpf_fentry_test9", "x"]}, facts(), names)
    assert (cls, why) == ("kernel-lacks", "kernel BTF has no functions bpf_fentry_test9, x")
    cls, why = rq.evaluate({"kfuncs": ["a"]}, facts(btf={"present": False}), names)
    assert cls == "kernel-lacks" and "no BTF" in why


def test_btf_names_only_called_when_needed() -> None:
    calls = []

    def counting() -> set[str]:
        calls.append(1)
        return names()

    rq.evaluate({"ftrace": True}, facts(), counting)
    assert calls == []
    rq.evaluate({"kfuncs": ["bpf_task_acquire"]}, facts(), counting)
    assert calls == [1]


def test_unreadable_btf() -> None:
    def boom() -> set[str]:
        raise OSError(13, "Permission denied")

    cls, why = rq.evaluate({"kfuncs": ["a"]}, facts(), boom)
    assert cls == "kernel-lacks" and "unreadable" in why


def test_pmu_is_hardware_missing() -> None:
    cls, why = rq.evaluate({"pmu": ["arm_spe_*"]}, facts(pmus=["software", "breakpoint"]))
    assert cls == "hardware-missing"
    assert why == ("no PMU matching arm_spe_* in /sys/bus/event_source/devices "
                   "(have: software, breakpoint)")


def test_jit_and_ftrace_are_environment() -> None:
    assert rq.evaluate({"jit": True}, facts(bpf_jit_enable=0)) == (
        "environment-blocks", "the BPF JIT is off (net.core.bpf_jit_enable=0)")
    assert rq.evaluate({"jit": True}, facts(bpf_jit_enable=None)) is None
    ft = {"usable": False, "class": "environment-blocks",
          "reason": "ftrace unusable: reading /sys/kernel/tracing/available_filter_functions "
                    "fails with EPERM (Operation not permitted)"}
    assert rq.evaluate({"ftrace": True}, facts(ftrace=ft)) == ("environment-blocks", ft["reason"])
    nocfg = {"usable": False, "class": "kernel-lacks",
             "reason": "kernel built without CONFIG_FUNCTION_TRACER"}
    assert rq.evaluate({"ftrace": True}, facts(ftrace=nocfg))[0] == "kernel-lacks"
    # Unknown (could not probe): let the case run and report what the kernel says.
    assert rq.evaluate({"ftrace": True}, facts(ftrace={"usable": None, "reason": "?"})) is None


def test_kernel_lacks_wins_over_environment() -> None:
    ft = {"usable": False, "reason": "blocked"}
    cls, _ = rq.evaluate({"ftrace": True, "btf_funcs": ["nope"]}, facts(ftrace=ft), names)
    assert cls == "kernel-lacks"


def test_lazy_facts_mapping() -> None:
    class Lazy(dict):
        def __missing__(self, key: str) -> Any:
            if key == "pmus":
                self[key] = ["software"]
                return self[key]
            raise KeyError(key)

    out = rq.evaluate({"pmu": ["arm_spe_*"]}, Lazy(uname={"machine": "aarch64"}))
    assert out is not None and out[0] == "hardware-missing"


@pytest.mark.parametrize("req,key", [
    ({"kfuncs": "bpf_task_acquire"}, "kfuncs"),
    ({"ftrace": "yes"}, "ftrace"),
    ({"arch": ["arm64"]}, "arch"),
    ({"config": ["DEBUG_INFO_BTF"]}, "config"),
    ({"kernel": "6.1+"}, "kernel"),
    ({"kernel": 6.1}, "kernel"),
    ({"frobs": []}, "frobs"),
])
def test_validate(req: dict, key: str) -> None:
    problems = rq.validate(req)
    assert [k for k, _ in problems] == [key]


def test_validate_good() -> None:
    assert rq.validate({"arch": ["x86_64"], "kfuncs": ["a"], "btf_funcs": ["b"],
                        "pmu": ["arm_spe_*"], "config": ["CONFIG_X"], "ftrace": True,
                        "jit": False, "kernel": ">=5.15, <6.9"}) == []


@pytest.mark.parametrize("spec,release,ok", [
    ("6.18", "6.18.44-vendor", True),  # a bare version is that series, as in suites
    ("==6.18", "6.18.44-vendor", True),
    ("=6.18", "6.18.44", True),
    ("6.18", "6.19.0", False),
    ("!=6.18", "6.18.44", False),
    ("==6.18.3", "6.18.44", False),
    (">=6.1,<6.9", "6.6.0-28.oe2403", True),
    ("< 6.9", "6.9.1", False),
    ("*", "5.10.0-35-amd64", True),
])
def test_kernel_series_agrees_with_suites(spec: str, release: str, ok: bool) -> None:
    # One rule for both: a case's requires.kernel and a suite's kernel range.
    from kmatrix.expectations import VersionRange

    got = rq.evaluate({"kernel": spec}, facts(uname={"machine": "x86_64", "release": release}))
    assert (got is None) is ok
    assert VersionRange.parse(spec).contains(release) is ok
    assert rq.validate({"kernel": spec}) == []


def test_kernel_series_on_this_host() -> None:
    # The reported disagreement: this host's own major.minor must not skip the case.
    import os

    release = os.uname().release
    series = ".".join(release.split(".")[:2])
    assert rq.evaluate({"kernel": series}, facts(uname={"machine": "x86_64",
                                                        "release": release})) is None


def test_reason_classes_defined_once() -> None:
    # One definition (agent/reasons.py); every other module imports the names.
    import ast
    from pathlib import Path

    from kmatrix.agent import reasons

    root = Path(rq.__file__).resolve().parent.parent
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in reasons.REASON_CLASSES:
                found.append(path.relative_to(root).as_posix())
    assert found == ["agent/reasons.py"] * 3


def test_standalone_scripts_get_the_reason_classes(tmp_path: Any) -> None:
    # preflight.py and probes.py also run concatenated (bundle.agent_source), outside the
    # agent package: the reason names must resolve there too.
    import subprocess
    import sys

    from kmatrix.bundle import agent_source

    script = agent_source("btf.py", "probes.py") + \
        b"\nprint(KERNEL_LACKS, ENVIRONMENT_BLOCKS)\n"
    out = subprocess.run([sys.executable, "-"], input=script, capture_output=True, check=True)
    assert out.stdout.split() == [b"kernel-lacks", b"environment-blocks"]
    # preflight.py's main prints the facts; its ftrace verdict uses the names.
    out = subprocess.run([sys.executable, "-"], input=agent_source("preflight.py"),
                         capture_output=True, check=True)
    assert out.stdout.startswith(b"{")
