"""Result files from elsewhere (issue 22): report, diff and merge read them with
one schema (kmatrix.report.schema), a size and depth bound, regular files only,
and write whatever text they hold safely. Every bad input is one line and exit 2,
never a traceback or a hang; odd text in a good file is written escaped."""

from __future__ import annotations

import copy
import json
import os
import resource
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest

MEMORY_LIMIT = 1536 << 20

GOOD: dict[str, Any] = {
    "run_id": "r", "suite": "bpf-core", "started": "2026-01-01T00:00:00Z", "finished": "",
    "incomplete": False, "shard": None, "kmatrix_version": "0.1", "warnings": [],
    "hosts": [{"name": "h", "arch": "x86_64", "kernel": "6.1", "os_release": "x",
               "env_tags": [], "facts": {}, "properties": {}, "error": None,
               "complete": True, "timings": {}, "round_trips": 1,
               "cases": [{"case": "fam/a", "family": "fam", "state": "fail",
                          "reason": "r", "reason_class": None, "duration": 0.1,
                          "details": {}, "verifier_log": "", "dmesg": [], "output": "",
                          "verdict": "fail", "expectation": None, "attempts": 1,
                          "description": "d"}]}],
}


def _with(path: str, value: Any) -> dict[str, Any]:
    """GOOD with the field at `path` (dot-separated; digits index lists) set."""
    d = copy.deepcopy(GOOD)
    *parents, last = path.split(".")
    cur: Any = d
    for p in parents:
        cur = cur[int(p)] if p.isdigit() else cur[p]
    cur[int(last) if last.isdigit() else last] = value
    return d


def _deep(n: int) -> Any:
    v: Any = 1
    for _ in range(n):
        v = [v]
    return v


TYPE_CONFUSED = {
    "top_is_list": [GOOD],
    "run_id_number": _with("run_id", 7),
    "hosts_object": _with("hosts", {"h": 1}),
    "host_is_string": _with("hosts", ["h"]),
    "host_name_list": _with("hosts.0.name", ["h"]),
    "cases_string": _with("hosts.0.cases", "many"),
    "case_is_number": _with("hosts.0.cases", [5]),
    "case_id_dict": _with("hosts.0.cases.0.case", {"a": 1}),
    "state_unknown": _with("hosts.0.cases.0.state", "exploded"),
    "duration_string": _with("hosts.0.cases.0.duration", "fast"),
    "details_list": _with("hosts.0.cases.0.details", [1, 2]),
    "dmesg_numbers": _with("hosts.0.cases.0.dmesg", [1, 2]),
    "reason_object": _with("hosts.0.cases.0.reason", {"x": 1}),
    "attempts_string": _with("hosts.0.cases.0.attempts", "2"),
    "expectation_string": _with("hosts.0.cases.0.expectation", "xfail"),
    "verdict_unknown": _with("hosts.0.cases.0.verdict", "maybe"),
    "reason_class_unknown": _with("hosts.0.cases.0.reason_class", "cosmic-rays"),
    "facts_list": _with("hosts.0.facts", [1]),
    "properties_nested": _with("hosts.0.properties", {"a": {"b": 1}}),
    "timings_string": _with("hosts.0.timings", {"boot": "slow"}),
    "warnings_numbers": _with("warnings", [1]),
    "incomplete_string": _with("incomplete", "yes"),
    "deep_details": _with("hosts.0.cases.0.details", {"x": _deep(200)}),
    "deep_everything": _deep(100000),
}


def _bounded() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def _km(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kmatrix", *args], capture_output=True,
                          text=True, timeout=timeout, preexec_fn=_bounded)


def _commands(bad: Path, good: Path, out: Path) -> list[list[str]]:
    return [["report", str(bad), "--output", str(out / "rep")],
            ["diff", str(good), str(bad)],
            ["diff", str(bad), str(good)],
            ["merge", str(bad), "--output", str(out / "merged")]]


def _one_line_refusal(p: subprocess.CompletedProcess[str], bad: Path) -> None:
    lines = p.stderr.strip().splitlines()
    assert p.returncode == 2, (p.returncode, p.stderr[-2000:])
    assert len(lines) == 1 and str(bad) in lines[0], p.stderr[-2000:]
    assert "internal error" not in p.stderr and "Traceback" not in p.stderr


@pytest.fixture
def good(tmp_path: Path) -> Path:
    p = tmp_path / "good.json"
    p.write_text(json.dumps(GOOD))
    return p


@pytest.mark.parametrize("name", sorted(TYPE_CONFUSED))
def test_type_confused_or_deep_results_are_one_line(name: str, tmp_path: Path,
                                                    good: Path) -> None:
    bad = tmp_path / f"{name}.json"
    bad.write_text(json.dumps(TYPE_CONFUSED[name]) if name != "deep_everything"
                   else "[" * 100000 + "]" * 100000)
    for argv in _commands(bad, good, tmp_path):
        _one_line_refusal(_km(*argv), bad)


def test_a_fifo_is_refused_not_waited_on(tmp_path: Path, good: Path) -> None:
    fifo = tmp_path / "results.json"
    os.mkfifo(fifo)
    for argv in _commands(fifo, good, tmp_path):
        p = _km(*argv, timeout=30)
        _one_line_refusal(p, fifo)
        assert "not a regular file" in p.stderr


def test_an_oversized_results_file_is_refused_before_it_is_read(tmp_path: Path,
                                                                good: Path) -> None:
    big = tmp_path / "big.json"
    with open(big, "wb") as f:  # sparse: 510 MB on paper, nothing on disk
        f.truncate(510 << 20)
    for argv in _commands(big, good, tmp_path):
        p = _km(*argv)
        _one_line_refusal(p, big)
        assert "MiB bound" in p.stderr


ODD = "lone \ud800 surrogate, ESC \x1b[31m, NUL \x00, BEL \x07, C1 \x9b, \ufffe end"


def test_odd_text_in_a_good_file_is_written_escaped(tmp_path: Path, good: Path) -> None:
    d = _with("hosts.0.cases.0.reason", ODD)
    d["hosts"][0]["cases"][0]["output"] = ODD
    d["hosts"][0]["cases"][0]["details"] = {ODD: ODD}
    d["hosts"][0]["name"] = "h\x1b\ud800"
    odd = tmp_path / "odd.json"
    # json.dumps writes the lone surrogate as \\ud800, as a foreign tool would.
    odd.write_text(json.dumps(d))
    rep = tmp_path / "rep"
    p = _km("report", str(odd), "--output", str(rep))
    assert p.returncode == 0, p.stderr
    for f in ("report.md", "report.html"):
        text = (rep / f).read_text(encoding="utf-8")
        assert "\x1b" not in text and "\x00" not in text, f
    p = _km("diff", str(good), str(odd))
    assert p.returncode in (0, 1), p.stderr
    assert "\x1b" not in p.stdout and "Traceback" not in p.stderr
    p = _km("merge", str(odd), "--output", str(tmp_path / "merged"))
    assert p.returncode == 0, p.stderr
    (junit,) = (tmp_path / "merged").rglob("junit.xml")
    ET.parse(junit)  # XML-invalid characters never reach the file
    again = json.loads((tmp_path / "merged" / "results.json").read_text())
    assert "\\ud800" in again["hosts"][0]["cases"][0]["reason"]


def test_a_full_output_disk_is_one_line(tmp_path: Path, good: Path) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a small tmpfs")
    full = tmp_path / "full"
    full.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(full)], check=True)
    try:
        big = tmp_path / "big.json"
        big.write_text(json.dumps(GOOD))
        fd = os.open(full / "filler", os.O_WRONLY | os.O_CREAT)  # leave the outputs no room
        try:
            while os.write(fd, b"x" * 512):
                pass
        except OSError:
            pass
        finally:
            os.close(fd)
        for argv in (["merge", str(big), "--output", str(full / "m")],
                     ["report", str(big), "--output", str(full / "r")]):
            p = _km(*argv)
            assert p.returncode == 2, p.stderr
            assert p.stderr.startswith("kmatrix: cannot write ") and "No space left" in p.stderr
            assert len(p.stderr.strip().splitlines()) == 1 and "internal error" not in p.stderr
    finally:
        subprocess.run(["umount", str(full)], check=False)
