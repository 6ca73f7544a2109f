"""Expectations: version ranges, matching, expiry, first match, verdicts, exit codes."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kmatrix import errors
from kmatrix.expectations import (
    Expectation,
    ExpectationSet,
    VersionRange,
    apply,
    exit_code,
    parse_release,
    skip_result,
)
from kmatrix.results import CaseResult, HostResult, RunResult
from kmatrix.suite import load_suite

pytestmark = pytest.mark.fast

KNOWN = [
    "kfunc/task_acquire", "dynptr/from_mem", "dynptr/ringbuf", "trampoline/fentry_fexit",
    "xdp_frags/frags_test_run", "perf/cpu_clock", "perf/arm_spe",
]


@pytest.mark.parametrize("release,expected", [
    ("6.1.0-27-amd64", (6, 1, 0)),
    ("6.12.48+deb13-arm64", (6, 12, 48)),
    ("7.2.0-rc1-riscv64", (7, 2, 0)),
    ("6.6.0-28.0.0.34.oe2403.x86_64", (6, 6, 0)),
    ("5.10", (5, 10, 0)),
    ("6", (6, 0, 0)),
    ("", None),
    ("weird", None),
])
def test_parse_release(release: str, expected: object) -> None:
    assert parse_release(release) == expected


@pytest.mark.parametrize("rng,release,ok", [
    (">=6.1,<6.4", "6.1.0-27-arm64", True),
    (">=6.1,<6.4", "6.3.13-arm64", True),
    (">=6.1,<6.4", "6.4.0-1-arm64", False),
    (">=6.1,<6.4", "6.12.48+deb13-arm64", False),  # 12 > 4 numerically, not as text
    (">=6.1,<6.4", "5.19.0", False),
    ("<6.4", "6.1.0-27-arm64", True),
    ("<6.10", "6.9.12", True),
    ("<6.10", "6.10.0", False),
    ("6.1", "6.1.0-27-amd64", True),  # bare version: that major.minor line
    ("6.1", "6.12.1", False),
    ("==6.12", "6.12.48+deb13-arm64", True),
    ("!=6.12", "6.12.48+deb13-arm64", False),
    (">7.1", "7.2.0-rc1-riscv64", True),
    ("<=6.1.5", "6.1.5-1", True),
    ("<=6.1.5", "6.1.6", False),
    (">6.1", "6.1.0", False),
    ("*", "anything at all", True),
    (">=6.1", "", False),  # unknown kernel never matches a constrained range
])
def test_version_range(rng: str, release: str, ok: bool) -> None:
    assert VersionRange.parse(rng).contains(release) is ok


@pytest.mark.parametrize("bad", ["", ">=six", "6.1-", ">>6", "6.1.2.3", "~6.1", None, [], 6.10])
def test_version_range_rejects(bad: object) -> None:
    with pytest.raises(ValueError):
        VersionRange.parse(bad)


@given(st.tuples(st.integers(0, 30), st.integers(0, 30), st.integers(0, 300)),
       st.tuples(st.integers(0, 30), st.integers(0, 30)))
def test_range_halves_partition(v: tuple[int, int, int], bound: tuple[int, int]) -> None:
    # Every release is in exactly one of ">=X" and "<X".
    rel = f"{v[0]}.{v[1]}.{v[2]}-1-amd64"
    b = f"{bound[0]}.{bound[1]}"
    assert VersionRange.parse(f">={b}").contains(rel) != VersionRange.parse(f"<{b}").contains(rel)
    assert VersionRange.parse(f">={b}").contains(rel) == (v >= (bound[0], bound[1], 0))


def _exp(**kw: object) -> Expectation:
    base = dict(case="trampoline/*", arch=("aarch64",), kernel=VersionRange.parse("<6.4"), env=(),
                state="xfail", reason="no direct calls", link="https://example.org/x",
                suite="t", file="s.yaml", line=3)
    base.update(kw)
    return Expectation(**base)  # type: ignore[arg-type]


def test_match_dimensions() -> None:
    e = _exp(env=("lab",))
    assert e.matches("trampoline/fentry_fexit", "aarch64", "6.1.0-27-arm64", ["lab", "tcg"])
    assert not e.matches("kfunc/task_acquire", "aarch64", "6.1.0-27-arm64", ["lab"])
    assert not e.matches("trampoline/fentry_fexit", "x86_64", "6.1.0-27-amd64", ["lab"])
    assert not e.matches("trampoline/fentry_fexit", "aarch64", "6.12.48+deb13-arm64", ["lab"])
    assert not e.matches("trampoline/fentry_fexit", "aarch64", "6.1.0-27-arm64", ["tcg"])
    assert _exp(arch=None).matches("trampoline/fentry_fexit", "riscv64", "6.1.0", [])


def test_env_tags_all_required() -> None:
    e = _exp(env=("lab", "ftrace-blocked"))
    assert not e.matches("trampoline/fentry_fexit", "aarch64", "6.1.0", ["lab"])
    assert e.matches("trampoline/fentry_fexit", "aarch64", "6.1.0", ["ftrace-blocked", "lab", "x"])


def test_first_match_wins_and_expiry_falls_through() -> None:
    first = _exp(reason="first", expires=dt.date(2025, 1, 31))
    second = _exp(reason="second", case="trampoline/fentry_fexit")
    s = ExpectationSet([first, second])
    args = ("trampoline/fentry_fexit", "aarch64", "6.1.0-27-arm64", [])
    warnings: list[str] = []
    assert s.find(*args, today=dt.date(2025, 1, 31), warnings=warnings) is first  # last valid day
    assert warnings == []
    got = s.find(*args, today=dt.date(2025, 2, 1), warnings=warnings)
    assert got is second
    assert len(warnings) == 1 and "expired on 2025-01-31" in warnings[0] and "s.yaml:3" in warnings[0]
    s.find(*args, today=dt.date(2025, 2, 1), warnings=warnings)
    assert len(warnings) == 1  # not repeated


def test_expired_only_expectation_is_not_applied(tmp_path: Path) -> None:
    p = tmp_path / "s.yaml"
    p.write_text(
        "name: s\nexpectations:\n"
        "  - case: perf/arm_spe\n    state: xfail\n    reason: r\n"
        "    link: https://example.org/a\n    expires: 2024-12-31\n"
    )
    suite = load_suite(p, KNOWN)
    exp, warnings = suite.expectation_for("perf/arm_spe", "arm64", "6.6.0", [],
                                          today=dt.date(2025, 1, 1))
    assert exp is None
    assert warnings and f"{p}:3" in warnings[0]
    assert suite.expired(dt.date(2025, 1, 1)) == warnings
    exp, warnings = suite.expectation_for("perf/arm_spe", "aarch64", "6.6.0", [],
                                          today=dt.date(2024, 12, 31))
    assert exp is not None and warnings == []
    cr = apply(CaseResult("perf/arm_spe", "perf", "fail", reason="x"), None)
    assert cr.verdict == "fail"


def _cr(state: str, **kw: object) -> CaseResult:
    return CaseResult(case="trampoline/fentry_fexit", family="trampoline", state=state, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize("state,exp_state,verdict", [
    ("pass", None, "pass"),
    ("fail", None, "fail"),
    ("skip", None, "skip"),
    ("error", None, "error"),
    ("pass", "xfail", "xpass"),
    ("fail", "xfail", "xfail"),
    ("skip", "xfail", "skip"),
    ("error", "xfail", "error"),
])
def test_apply_verdicts(state: str, exp_state: object, verdict: str) -> None:
    exp = _exp() if exp_state else None
    out = apply(_cr(state, reason="r", reason_class="kernel-lacks" if state == "skip" else None), exp)
    assert out.verdict == verdict
    assert out.state == state
    if exp is not None:
        assert out.expectation is not None
        assert out.expectation["link"] == "https://example.org/x"
        assert out.expectation["source"] == "s.yaml:3"
    else:
        assert out.expectation is None


def test_apply_does_not_mutate_input() -> None:
    cr = _cr("fail", details={"a": 1}, dmesg=["x"])
    out = apply(cr, _exp())
    out.details["b"] = 2
    out.dmesg.append("y")
    assert cr.verdict == "" and cr.details == {"a": 1} and cr.dmesg == ["x"]


def test_flaky() -> None:
    out = apply(_cr("pass"), None, attempts=2, passed_on_rerun=True)
    assert (out.verdict, out.attempts) == ("flaky", 2)
    # A rerun pass under an xfail expectation is still flaky, not xpass.
    assert apply(_cr("pass"), _exp(), attempts=3, passed_on_rerun=True).verdict == "flaky"
    # Failing every attempt is still a regression.
    assert apply(_cr("fail"), None, attempts=3).verdict == "fail"


def test_skip_expectation() -> None:
    e = _exp(state="skip", reason="guest has no SPE", reason_class="hardware-missing")
    out = skip_result("perf/arm_spe", e)
    assert out.state == "skip" and out.verdict == "skip"
    assert out.reason_class == "hardware-missing"
    assert out.reason == "suite t: guest has no SPE (https://example.org/x)"
    assert out.family == "perf"
    default_class = apply(_cr("skip"), _exp(state="skip"), suite_name="lab-debian")
    assert default_class.reason_class == "environment-blocks"
    assert default_class.reason.startswith("suite lab-debian: no direct calls")


def _run(*verdicts: str, host_error: str | None = None) -> RunResult:
    cases = [CaseResult(case=f"f/c{i}", family="f", state="pass", verdict=v)
             for i, v in enumerate(verdicts)]
    return RunResult(run_id="r", hosts=[HostResult(name="h", arch="x86_64", cases=cases,
                                                   error=host_error)])


def test_exit_code() -> None:
    assert exit_code(_run("pass", "skip", "xfail", "xpass", "flaky")) == errors.EXIT_OK
    assert exit_code(_run("pass", "fail")) == errors.EXIT_FAIL
    assert exit_code(_run("pass", "error")) == errors.EXIT_INFRA
    assert exit_code(_run("error", "fail")) == errors.EXIT_FAIL  # a regression beats infra
    assert exit_code(_run("pass", host_error="ssh: connection refused")) == errors.EXIT_INFRA
    assert exit_code(RunResult(run_id="empty")) == errors.EXIT_OK
    # Verdict not yet applied: the raw state decides.
    raw = RunResult(run_id="r", hosts=[HostResult(name="h", arch="x86_64", cases=[
        CaseResult(case="f/a", family="f", state="fail")])])
    assert exit_code(raw) == errors.EXIT_FAIL


def test_os_and_release_keys_match_distro_and_full_uname() -> None:
    """openEuler 22.03 SP3's 5.10.0-196 has arm64 trampolines and SP1's 5.10.0-136 does
    not: an expectation can name the distro release and the full `uname -r`."""
    from kmatrix.expectations import Expectation, VersionRange, os_tags

    exp = Expectation(case="trampoline/*", arch=("aarch64",), kernel=VersionRange.parse("*"),
                      env=(), state="xfail", reason="r", link="https://example.org",
                      os=("openEuler 22.03",), release=("5.10.0-136.*",))
    sp1 = os_tags({"ID": "openEuler", "VERSION_ID": "22.03"})
    assert sp1 == ["os:openEuler", "os:openEuler:22.03"]
    assert exp.matches("trampoline/fmod_ret", "aarch64", "5.10.0-136.12.0.86.oe2203sp1.aarch64",
                       sp1)
    assert not exp.matches("trampoline/fmod_ret", "aarch64",
                           "5.10.0-196.0.0.109.oe2203sp3.aarch64", sp1)
    deb = os_tags({"ID": "debian", "VERSION_ID": "11"})
    assert not exp.matches("trampoline/fmod_ret", "aarch64", "5.10.0-136.x", deb)
    assert not exp.matches("trampoline/fmod_ret", "aarch64", "5.10.0-136.x", [])
    bare = Expectation(case="*", arch=None, kernel=VersionRange.parse("*"), env=(),
                       state="xfail", reason="r", link="https://example.org", os=("OPENEULER",))
    assert bare.matches("isa/cpuv4", "riscv64", "6.6.0-72", os_tags({"ID": "openEuler",
                                                                     "VERSION_ID": "24.03"}))
