"""Golden-file and unit tests for kmatrix.detectors and the runner's use of it.

Each sample under tests/data/golden/{dmesg,console}/NAME.log is scanned and its
findings are compared with NAME.expected.json next to it. A sample uses the
custom rules in tests/data/golden/rules/NAME.yaml when that file exists, the
shipped defaults otherwise. After a deliberate change to the detectors, rewrite
the expected files with

    KMATRIX_UPDATE_GOLDEN=1 .venv/bin/python -m pytest -q tests/test_detectors.py

and review the diff: it is the change in verdicts.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Optional

import pytest
from hypothesis import given
from hypothesis import strategies as st

from kmatrix import detectors, results
from kmatrix.detectors import (
    KINDS,
    Finding,
    HealthRules,
    classify_timeout,
    describe_taint,
    load_rules,
    message,
    new_taint,
    scan_console,
    scan_dmesg,
    scan_lines,
    summarize,
    taint_bits,
)
from kmatrix.errors import InputError
from kmatrix.hostrecord import judge_health
from kmatrix.machine import LabMachine
from kmatrix.results import CaseResult

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
GOLDEN = TESTS / "data" / "golden"
BAD = TESTS / "data" / "bad" / "health"
SAMPLES = sorted((GOLDEN / "dmesg").glob("*.log")) + sorted((GOLDEN / "console").glob("*.log"))
BAD_FILES = sorted(BAD.glob("*.yaml"))
UPDATE = os.environ.get("KMATRIX_UPDATE_GOLDEN") == "1"

TW, TD, TO, TE, TL = 1 << 9, 1 << 7, 1 << 12, 1 << 13, 1 << 14  # taint bits W D O E L


def _rel(p: Path) -> str:
    return p.relative_to(TESTS).as_posix()


def _rules_file(sample: Path) -> Optional[Path]:
    p = GOLDEN / "rules" / f"{sample.stem}.yaml"
    return p if p.is_file() else None


def _read(sample: Path) -> str:
    # Consoles carry CRLF and escape sequences: keep every byte's meaning.
    return sample.read_bytes().decode("utf-8", "replace")


def _scan(sample: Path) -> tuple[list[Finding], list[Finding], HealthRules]:
    """(every finding, the ones the public entry point reports, rules used)."""
    rf = _rules_file(sample)
    rules = load_rules(rf) if rf else detectors.default_rules()
    text = _read(sample)
    if sample.parent.name == "console":
        return scan_lines(text.split("\n"), rules, console=True), scan_console(text, rules), rules
    lines = text.split("\n")
    return scan_lines(lines, rules), scan_dmesg(lines, rules), rules


def _verdict(sample: Path, found: list[Finding], reported: list[Finding]) -> dict[str, Any]:
    rf = _rules_file(sample)
    out = []
    for f in found:
        ex = f.excerpt.split("\n")
        out.append({
            "kind": f.kind,
            "line_no": f.line_no,
            "message": f.message,
            "fatal": f.fatal,
            "allowed": f.allowed,
            "excerpt_start": f.excerpt_start,
            "excerpt_lines": len(ex),
            "excerpt_last": message(ex[-1]),
        })
    return {
        "sample": _rel(sample),
        "rules": _rel(rf) if rf else "default",
        "findings": out,
        "summary": summarize(reported),
    }


# -- golden files ----------------------------------------------------------------


def test_golden_corpus_covers_every_kind_and_arch() -> None:
    kinds: set[str] = set()
    for sample in SAMPLES:
        kinds |= {f.kind for f in _scan(sample)[0]}
    assert kinds == set(KINDS)
    consoles = [p.name for p in SAMPLES if p.parent.name == "console"]
    for arch in (r"x86(_64)?", r"(aarch64|arm64)", r"riscv64"):
        assert any(re.match(arch + "_", n) for n in consoles), arch
    # Both a sample that must stay silent and one where an allow rule acts.
    assert any(not _scan(p)[0] for p in SAMPLES)
    assert any(f.allowed for p in SAMPLES for f in _scan(p)[0])


@pytest.mark.parametrize("sample", SAMPLES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_golden(sample: Path) -> None:
    found, reported, _ = _scan(sample)
    # The public entry points report exactly the findings no allow entry covers.
    assert [f.to_dict() for f in reported] == [f.to_dict() for f in found if f.allowed is None]
    lines = _read(sample).split("\n")
    for f in found:
        assert f.kind in KINDS
        assert f.fatal == (f.kind == "panic")  # no custom rule here makes another kind fatal
        assert 1 <= f.excerpt_start <= f.line_no <= len(lines)
        assert f.message and f.message in message(lines[f.line_no - 1])
        # The excerpt is the sample's own lines (escape sequences removed).
        ex = f.excerpt.split("\n")
        assert f.excerpt_start + len(ex) - 1 <= len(lines)
        assert message(ex[f.line_no - f.excerpt_start]).endswith(f.message)
    got = _verdict(sample, found, reported)
    expected = sample.with_suffix(".expected.json")
    if UPDATE:
        expected.write_text(json.dumps(got, indent=2, ensure_ascii=False) + "\n")
    if not expected.is_file():
        pytest.fail(f"{_rel(expected)} is missing: run with KMATRIX_UPDATE_GOLDEN=1, then review it")
    assert got == json.loads(expected.read_text())


def test_no_stale_expected_files() -> None:
    samples = {p.with_suffix(".expected.json") for p in SAMPLES}
    for sub in ("dmesg", "console"):
        for exp in (GOLDEN / sub).glob("*.expected.json"):
            assert exp in samples, f"{_rel(exp)} has no sample"
    for rf in (GOLDEN / "rules").glob("*.yaml"):
        assert (GOLDEN / "dmesg" / f"{rf.stem}.log").is_file() or \
            (GOLDEN / "console" / f"{rf.stem}.log").is_file(), f"{_rel(rf)} has no sample"


# -- what the golden samples stand for, spelled out ----------------------------------


def test_allow_rule_hides_the_known_warning_only() -> None:
    found, reported, _ = _scan(GOLDEN / "dmesg" / "allowlisted_warning.log")
    allowed = [f for f in found if f.allowed]
    assert len(allowed) == 1 and "skb_warn_bad_offload" in allowed[0].message
    assert "https://gitee.com/openeuler/kernel/issues/I9KMX1" in allowed[0].allowed
    assert "veth GSO offload warning" in allowed[0].allowed
    assert [f.message for f in reported] == [
        "WARNING: CPU: 1 PID: 2611 at kernel/bpf/core.c:2301 bpf_prog_select_runtime+0x1c3/0x1e0"]
    # Under the defaults both warnings count.
    lines = _read(GOLDEN / "dmesg" / "allowlisted_warning.log").split("\n")
    assert len(scan_dmesg(lines)) == 2


def test_allow_rule_never_hides_a_panic() -> None:
    found, reported, rules = _scan(GOLDEN / "dmesg" / "panic_not_hidden.log")
    # The excerpt-wide entry matches the panic's excerpt, and still the panic stays.
    panic = next(f for f in found if f.kind == "panic")
    assert any(a.regex.search(line) for a in rules.allow for line in panic.excerpt.split("\n"))
    assert panic.fatal and panic.allowed is None
    assert [f.kind for f in reported] == ["panic"]
    state, reason = classify_timeout(False, reported, 60)
    assert state == "error" and reason.startswith("kernel-dead:") and "panic_on_warn" in reason


def test_user_space_look_alikes_are_not_splats() -> None:
    for name in ("benign_lookalikes", "kmsg_raw", "kernel_bug_oops_decoded"):
        found = _scan(GOLDEN / "dmesg" / f"{name}.log")[0]
        assert all("fake" not in f.message and "user" not in f.message
                   and "daemon" not in f.message for f in found), name


# -- message(): the prefixes of every log format -----------------------------------


@pytest.mark.parametrize("line", [
    "WARNING: CPU: 1 PID: 2 at a.c:3 f+0x1/0x2",
    "<4>WARNING: CPU: 1 PID: 2 at a.c:3 f+0x1/0x2",
    "<4>[   12.345678] WARNING: CPU: 1 PID: 2 at a.c:3 f+0x1/0x2",
    "4,123,456789,-;WARNING: CPU: 1 PID: 2 at a.c:3 f+0x1/0x2",
    "4,123,456789,c,caller=T812;WARNING: CPU: 1 PID: 2 at a.c:3 f+0x1/0x2",
    "[   12.345678] WARNING: CPU: 1 PID: 2 at a.c:3 f+0x1/0x2",
    "[   12.345678][  T812] WARNING: CPU: 1 PID: 2 at a.c:3 f+0x1/0x2",
    "[Wed May 22 10:52:31 2024] WARNING: CPU: 1 PID: 2 at a.c:3 f+0x1/0x2",
    "[Thu May  2 08:01:05 2024] WARNING: CPU: 1 PID: 2 at a.c:3 f+0x1/0x2",
    "May 22 10:43:12 kmatrix-x86 kernel: WARNING: CPU: 1 PID: 2 at a.c:3 f+0x1/0x2",
    "May 22 10:43:12.123456 kmatrix-x86 kernel: WARNING: CPU: 1 PID: 2 at a.c:3 f+0x1/0x2",
    "2024-05-22T11:02:40,118530+08:00 WARNING: CPU: 1 PID: 2 at a.c:3 f+0x1/0x2",
    "2024-05-22T11:02:40+0800 kmatrix-x86 kernel: WARNING: CPU: 1 PID: 2 at a.c:3 f+0x1/0x2",
    "kern  :warn  : [   12.345678] WARNING: CPU: 1 PID: 2 at a.c:3 f+0x1/0x2",
    "\x1b[33m[   12.345678] \x1b[0mWARNING: CPU: 1 PID: 2 at a.c:3 f+0x1/0x2\r",
])
def test_message_strips_prefixes(line: str) -> None:
    assert message(line) == "WARNING: CPU: 1 PID: 2 at a.c:3 f+0x1/0x2"
    assert [f.kind for f in scan_dmesg([line])] == ["warning"]


@pytest.mark.parametrize("line", [
    "12,800,55123456,-;WARNING: CPU: 0 PID: 1 at fake.c:1 f+0x0/0x0",  # facility user
    "<12>[   55.1] BUG: kernel NULL pointer dereference, address: 0",
    "30,801,55123999,-;Kernel panic - not syncing: from systemd-journald",  # daemon
    "user  :warn  : [   55.100000] BUG: soft lockup - CPU#0 stuck for 1s! [x:1]",
    "Spectre V2 : WARNING: Unprivileged eBPF is enabled with eIBRS on",
    "kmatrix_test: prog handle_BUG: BUG: counter stays 0",
    "kmatrix-case[2281]: WARNING: CPU: 0 PID: 1 at fake.c:1 f+0x0/0x0",
    "May 22 10:43:12 kmatrix-x86 sshd[3602]: WARNING: CPU: 0 PID: 1 at a.c:1 f",
    "WARNING: this is not a kernel warning banner",
])
def test_look_alikes_and_user_records(line: str) -> None:
    assert scan_dmesg([line]) == []


def test_new_warning_banner_of_6_19() -> None:
    for line in ("WARNING: kernel/bpf/core.c:2301 at bpf_prog_select_runtime+0x1c3/0x1e0,"
                 " CPU#1: python3/2611",
                 "WARNING: at bpf_prog_select_runtime+0x1c3/0x1e0, CPU#0: swapper/0/1",
                 "WARNING: at kernel/sched/core.c:1234 resched_curr()"):  # 2.6/3.x
        assert [f.kind for f in scan_dmesg([line])] == ["warning"], line


def test_agent_items_with_embedded_newlines_count_as_lines() -> None:
    found = scan_dmesg(["kmatrix_test: start", "first\nBUG: scheduling while atomic: x/1/0x2"])
    assert [(f.kind, f.line_no) for f in found] == [("bug", 3)]


def test_console_kernel_line_after_user_text_and_carriage_returns() -> None:
    text = ("[    1.000000] Linux version 6.6.0\n[    1.100000] Run /sbin/init\n"
            "[    1.200000] random: crng init done\n"
            "building 10%\rbuilding 99%\r[   42.000001] Kernel panic - not syncing: sysrq triggered crash\n"
            "kmatrix login: [   43.000001] BUG: scheduling while atomic: kworker/0:1/9/0x2\n"
            "BUG: printed by a user program, no timestamp\n")
    assert [(f.kind, f.line_no) for f in scan_console(text)] == [("panic", 4), ("bug", 5)]
    # bytes from a serial log file work, too
    assert [f.kind for f in scan_console(text.encode())] == ["panic", "bug"]  # type: ignore[arg-type]


def test_hostile_console_input_is_cut_and_fast() -> None:
    junk = "\x00\x1b[31m" + "A" * 1_000_000 + "\x1b]0;" + "B" * 300
    text = "\n".join([junk, "[    1.0] BUG: " + "x" * 50_000, "\x1b" * 10_000] * 50)
    t0 = time.monotonic()
    found = scan_console(text)
    assert time.monotonic() - t0 < 10
    assert [f.kind for f in found] == ["bug"] * 50
    assert all(len(line) <= detectors.MAX_EXCERPT_LINE
               for f in found for line in f.excerpt.split("\n"))


@given(st.lists(st.text(max_size=200), max_size=40))
def test_scan_never_raises(lines: list[str]) -> None:
    for f in scan_lines(lines) + scan_lines(lines, console=True):
        assert f.kind in KINDS and f.line_no >= f.excerpt_start >= 1


# -- rules files ---------------------------------------------------------------------


def test_shipped_rules_load_and_allow_only_our_module_taint() -> None:
    rules = load_rules(detectors.DEFAULT_RULES_FILE)
    assert len(rules.deny) == len(detectors.builtin_deny())
    assert set(rules.taint_allow) == {"O", "E"}
    assert all(a.reason and a.link.startswith("https://") for a in rules.allow)


def test_custom_rules_deny_kind_filter_excerpt_match_and_defaults_off(tmp_path: Path) -> None:
    f = tmp_path / "health.yaml"
    f.write_text(
        "deny:\n"
        "  - {pattern: '^bpf_testmod: .* failed', kind: bug}\n"
        "allow:\n"
        "  - pattern: '^WARNING: CPU'\n"
        "    kind: lockup\n"  # only lockups: must not cover a warning
        "    reason: wrong kind on purpose\n"
        "    link: https://example.org/1\n"
        "  - pattern: '^RIP: 0010:skb_warn_bad_offload'\n"
        "    match: excerpt\n"
        "    reason: noise seen on the RIP line\n"
        "    link: https://example.org/2\n"
        "taint_allow: {W: the suite provokes warnings on purpose}\n")
    rules = load_rules(f)
    lines = _read(GOLDEN / "dmesg" / "allowlisted_warning.log").split("\n")
    found = scan_lines(lines + ["bpf_testmod: test 3 failed"], rules)
    assert [(x.kind, bool(x.allowed)) for x in found] == [
        ("warning", True), ("warning", False), ("bug", False)]
    assert "noise seen on the RIP line (https://example.org/2)" == found[0].allowed
    assert rules.deny[-1].source == f"{f}:2"
    assert new_taint(0, TW | TO, rules.taint_allow) == []

    off = tmp_path / "off.yaml"
    off.write_text("defaults: false\ndeny:\n  - {pattern: '^kmx: dead', kind: panic}\n")
    rules = load_rules(off)
    assert rules.taint_allow == {}
    assert scan_dmesg(lines, rules) == []
    assert [(x.kind, x.fatal) for x in scan_dmesg(["kmx: dead"], rules)] == [("panic", True)]
    assert new_taint(0, TO, rules.taint_allow) == ["O"]


def _expectation(path: Path) -> tuple[int, str]:
    m = re.match(r"# expect: (\d+): (\S+):\s*$", path.read_text().splitlines()[0])
    assert m, f"{path.name}: first line must be '# expect: LINE: FIELD:'"
    return int(m.group(1)), m.group(2)


def test_enough_bad_rule_files() -> None:
    assert len(BAD_FILES) >= 25


@pytest.mark.parametrize("path", BAD_FILES, ids=lambda p: p.stem)
def test_bad_rules_file_one_line_error(path: Path) -> None:
    line, fld = _expectation(path)
    with pytest.raises(InputError) as ei:
        load_rules(path)
    msg = str(ei.value)
    assert "\n" not in msg
    assert msg.startswith(f"{path}:{line}: {fld}: "), msg
    assert ei.value.line == line and ei.value.field == fld
    assert len(msg) > len(f"{path}:{line}: {fld}: ") + 5  # carries a message


def test_bad_rules_no_traceback_in_a_process() -> None:
    marker = Path("/tmp/kmatrix-pwned-health")
    marker.unlink(missing_ok=True)
    code = ("import sys\n"
            "from kmatrix.detectors import load_rules\n"
            "from kmatrix.errors import KmatrixError\n"
            "for f in sys.argv[1:]:\n"
            "    try:\n"
            "        load_rules(f)\n"
            "    except KmatrixError as e:\n"
            "        print(e)\n")
    r = subprocess.run([sys.executable, "-c", code, *map(str, BAD_FILES)],
                       capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.returncode == 0 and "Traceback" not in r.stderr, r.stderr
    assert len(r.stdout.strip().splitlines()) == len(BAD_FILES)
    assert not marker.exists()  # the !!python tag never ran


def test_unreadable_rules_files(tmp_path: Path) -> None:
    latin = tmp_path / "latin1.yaml"
    latin.write_bytes(b"allow: []\n# r\xe9sum\xe9\n")
    for p, fld in ((latin, "file"), (tmp_path / "missing.yaml", "file"), (tmp_path, "file")):
        with pytest.raises(InputError) as ei:
            load_rules(p)
        assert ei.value.field == fld and "\n" not in str(ei.value)
        assert str(ei.value).startswith(str(p))


# -- taint -----------------------------------------------------------------------------


def test_taint_bits_and_descriptions() -> None:
    assert taint_bits(0) == []
    assert taint_bits(TW | TD | TO | TE) == ["D", "W", "O", "E"]
    assert taint_bits(1 << 25) == ["bit25"]
    assert describe_taint(["W", "D"]) == "W (kernel issued warning), D (kernel died recently (OOPS or BUG))"
    assert describe_taint(["bit25"]) == "bit25"
    for bad in (-1, True, "512", 1.5, None):
        with pytest.raises(ValueError):
            taint_bits(bad)  # type: ignore[arg-type]


def test_new_taint() -> None:
    assert new_taint(0, TW) == ["W"]
    assert new_taint(TW, TW) == []  # already there before the case
    assert new_taint(TW, TW | TD) == ["D"]
    assert new_taint(0, TO | TE) == []  # our own test module, allowed by default
    assert new_taint(0, TO | TE | TL) == ["L"]
    assert new_taint(TO, 0) == []  # bits never clear, but a lower mask says nothing new
    assert new_taint(0, TW, {"W": "warnings provoked on purpose"}) == []
    assert new_taint(0, TO, {}) == ["O"]  # an empty allow-list allows nothing
    assert new_taint(0, 1 << 25) == ["bit25"]  # unknown bits fail too
    assert new_taint(0.0, float(TW)) == ["W"]  # JSON may carry 512.0
    assert new_taint("0\n", f"{TW}\n") == ["W"]  # the file's own text


@pytest.mark.parametrize("before,after", [
    (None, TW), (TW, None), (None, None), (-1, TW), (0, -TW), (True, TW), (0, float("inf")),
    (0, float("nan")), (0, 2.5), ("", TW), ("0x200", TW), (0, "²"), (0, 1 << 80), ([], TW), (0, {}),
])
def test_new_taint_unreadable_masks_say_nothing(before: Any, after: Any) -> None:
    assert new_taint(before, after) == []


# -- timeouts --------------------------------------------------------------------------


def _console(name: str) -> list[Finding]:
    return scan_console(_read(GOLDEN / "console" / name))


def test_classify_timeout_hung_case_on_a_live_host() -> None:
    assert classify_timeout(True, [], 30) == (
        "fail", "timeout: the case ran past its 30 s limit; the host still answers")
    state, reason = classify_timeout(True, None)
    assert state == "fail" and "its time limit" in reason
    clean = _console("x86_64_clean_boot.log")
    assert clean == [] and classify_timeout(True, clean, 5)[0] == "fail"


def test_classify_timeout_live_host_with_a_non_fatal_splat() -> None:
    lockup = [f for f in _console("x86_64_soft_lockup_panic.log") if not f.fatal]
    state, reason = classify_timeout(True, lockup, 90)
    assert state == "fail"
    assert reason.endswith("console: lockup: watchdog: BUG: soft lockup - CPU#0 stuck for 22s! "
                           "[python3:514]")


def test_classify_timeout_panicked_and_rebooted() -> None:
    state, reason = classify_timeout(True, _console("x86_64_null_deref_login.log"), 60)
    assert state == "error"
    assert reason.startswith("kernel-dead: the kernel panicked while the case ran and the host "
                             "rebooted; console: panic: Kernel panic - not syncing: Fatal exception; "
                             "oops: BUG: kernel NULL pointer dereference")


@pytest.mark.parametrize("name", [
    "arm64_null_deref_oops.log", "aarch64_kernel_bug.log", "riscv64_oops_progress.log",
    "riscv64_panic.log", "x86_sysrq_panic.log", "aarch64_hung_task_no_timestamps.log"])
def test_classify_timeout_dead_host_names_the_panic_first(name: str) -> None:
    found = _console(name)
    state, reason = classify_timeout(False, found, 120)
    assert state == "error"
    panic = next(f for f in found if f.fatal)
    assert reason.startswith("kernel-dead: the host stopped answering after the case ran past "
                             f"its 120 s limit; console: panic: {panic.message}")


def test_classify_timeout_dead_host_without_evidence() -> None:
    assert classify_timeout(False, [], 10)[1].endswith("; nothing on the console explains it")
    assert classify_timeout(False, None, 10)[1].endswith("; no console to tell why")
    assert classify_timeout(False, None)[0] == "error"


def test_summarize_limits_itself() -> None:
    lines = _read(GOLDEN / "dmesg" / "ubsan.log").split("\n") * 3
    found = scan_dmesg(lines)
    assert len(found) == 6
    assert summarize(found).endswith(" (+3 more)")
    assert summarize(found, limit=6).count("ubsan: UBSAN: ") == 6
    assert summarize([]) == ""


# -- the runner's use ------------------------------------------------------------------


def _case(state: str = results.PASS, reason: str = "", **kw: Any) -> CaseResult:
    return CaseResult(case="kfunc/task_acquire", family="kfunc", state=state, reason=reason,
                      reason_class="kernel-lacks" if state == results.SKIP else None, **kw)


def _agent_dmesg(name: str) -> list[str]:
    # What the agent ships: /dev/kmsg messages without their record headers.
    return [message(x) for x in _read(GOLDEN / "dmesg" / name).split("\n") if x]


def test_judge_health_clean_case_stays_pass() -> None:
    cr = _case(details={"taint": {"before": 0, "after": 0}}, dmesg=_agent_dmesg("benign_lookalikes.log"))
    judge_health(cr)
    assert (cr.state, cr.reason) == ("pass", "")
    assert "splats" not in cr.details


def test_judge_health_our_module_taint_is_allowed() -> None:
    cr = _case(details={"taint": {"before": 0, "after": TO | TE}})
    judge_health(cr)
    assert cr.state == "pass"


@pytest.mark.parametrize("after,letter", [(TW, "W (kernel issued warning)"),
                                          (TD, "D (kernel died recently (OOPS or BUG))")])
def test_judge_health_new_taint_fails_a_pass(after: int, letter: str) -> None:
    cr = _case(reason="attached and triggered",
               details={"taint": {"before": TO, "after": TO | TE | after}})
    judge_health(cr)
    assert cr.state == "fail" and cr.reason_class is None
    assert cr.reason == ("the kernel became tainted during the case: " + letter
                         + " (the check itself said pass: attached and triggered)")


def test_judge_health_taint_already_set_or_unreadable() -> None:
    for taint in ({"before": TW, "after": TW}, {"before": None, "after": TW}, {"before": 0},
                  {"before": "?", "after": TW}, {"before": True, "after": TW}, "garbage",
                  {"before": -5, "after": TW}):
        cr = _case(details={"taint": taint})
        judge_health(cr)
        assert cr.state == "pass", taint


def test_judge_health_splat_fails_a_pass_and_keeps_the_excerpt() -> None:
    cr = _case(dmesg=_agent_dmesg("warning_call_trace.log"))
    judge_health(cr)
    assert cr.state == "fail"
    assert cr.reason.startswith("kernel splat in dmesg: warning: WARNING: CPU: 1 PID: 2817 at "
                                "kernel/bpf/helpers.c:2741")
    assert cr.reason.endswith("(the check itself said pass)")
    (splat,) = cr.details["splats"]
    assert splat["kind"] == "warning" and "---[ end trace" in splat["excerpt"]


def test_judge_health_skip_becomes_fail_and_fail_keeps_its_reason() -> None:
    cr = _case(results.SKIP, "kernel-lacks: no bpf_task_acquire", dmesg=_agent_dmesg("rcu_stall.log"))
    judge_health(cr)
    assert cr.state == "fail" and cr.reason_class is None
    assert "rcu_stall: rcu: INFO: rcu_preempt self-detected stall on CPU" in cr.reason
    assert cr.reason.endswith("(the check itself said skip: kernel-lacks: no bpf_task_acquire)")

    cr = _case(results.FAIL, "counter was 0", dmesg=_agent_dmesg("kasan_use_after_free.log"),
               details={"taint": {"before": 0, "after": 1 << 5}})
    judge_health(cr)
    assert cr.state == "fail"
    assert cr.reason.startswith("counter was 0; the kernel became tainted during the case: B (")
    assert "; kernel splat in dmesg: kasan: BUG: KASAN: slab-use-after-free" in cr.reason


def test_judge_health_allowed_splat_with_custom_rules() -> None:
    rules = load_rules(GOLDEN / "rules" / "allowlisted_warning.yaml")
    dmesg = _agent_dmesg("allowlisted_warning.log")[:16]  # the known warning only
    cr = _case(dmesg=dmesg)
    judge_health(cr, rules)
    assert cr.state == "pass"
    cr = _case(dmesg=dmesg)
    judge_health(cr)  # the shipped defaults do not know this warning
    assert cr.state == "fail"


def test_judge_health_lists_only_five_splats() -> None:
    cr = _case(dmesg=_agent_dmesg("ubsan.log") * 4)
    judge_health(cr)
    assert len(cr.details["splats"]) == 5 and "(+5 more)" in cr.reason


def test_console_verdict_reads_the_serial_log_since_the_last_boot(tmp_path: Path) -> None:
    log = tmp_path / "serial.log"
    old = _read(GOLDEN / "console" / "x86_sysrq_panic.log")
    new = _read(GOLDEN / "console" / "aarch64_kernel_bug.log")
    # Consoles write CRLF: the offset is the byte size of the first boot's log.
    log.write_bytes((old + new).replace("\n", "\r\n").encode())
    lab = SimpleNamespace(guest=SimpleNamespace(serial_log=log),
                          _console_offset=len(old.replace("\n", "\r\n").encode()),
                          health_rules=None)
    text, headline = LabMachine.console(lab)  # type: ignore[arg-type]
    assert headline.startswith("bug: kernel BUG at kernel/bpf/cpumask.c:52!"), headline
    assert text.startswith("bug: ")
    assert "kernel BUG at kernel/bpf/cpumask.c:52!" in text
    assert "panic: " in text and "sysrq triggered crash" not in text

