"""Output directories are claimed exclusively (issue 22): `run`, `merge` and
`report` never overwrite an existing run, and two commands started together
cannot both write into one directory."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from sshd import SshdInfo, start_sshd
from test_faults import _cases_dir, _hosts

pytestmark = [pytest.mark.sshd,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root for sshd")]

QUICK = '''"""Test-only."""
CASE = {"description": "quick", "build": False}


def run(t):
    t.detail("pid", __import__("os").getpid())
'''


def _km(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kmatrix", *args], capture_output=True,
                          text=True, timeout=300, cwd=cwd)


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory):
    info = start_sshd(tmp_path_factory.mktemp("sshd"))
    yield info
    info.stop()


def _run_argv(tmp: Path, sshd: SshdInfo, run_id: str) -> list[str]:
    cases = _cases_dir(tmp, {"dynptr/quick.py": QUICK}, real=()) \
        if not (tmp / "cases").exists() else tmp / "cases"
    hosts = tmp / "hosts.yaml" if (tmp / "hosts.yaml").exists() else _hosts(tmp, sshd)
    return [sys.executable, "-m", "kmatrix", "run", "--hosts", str(hosts), "--cases-dir",
            str(cases), "--output", str(tmp / "out"), "--run-id", run_id,
            "--cache-dir", str(tmp / "cache"), "-q"]


def test_two_runs_with_one_run_id_started_together_never_share_it(tmp_path: Path,
                                                                   sshd: SshdInfo) -> None:
    for i in range(3):
        argv = _run_argv(tmp_path, sshd, f"same{i}")
        go = threading.Barrier(2)
        procs: list[subprocess.CompletedProcess[str]] = []

        def one(go: threading.Barrier, argv: list[str],
                procs: list[subprocess.CompletedProcess[str]]) -> None:
            go.wait()
            procs.append(subprocess.run(argv, capture_output=True, text=True, timeout=300))

        threads = [threading.Thread(target=one, args=(go, argv, procs)) for _ in range(2)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        codes = sorted(p.returncode for p in procs)
        assert codes == [0, 2], [(p.returncode, p.stderr) for p in procs]
        loser = next(p for p in procs if p.returncode == 2)
        assert "exists" in loser.stderr and len(loser.stderr.strip().splitlines()) == 1, \
            loser.stderr
        data = json.loads((tmp_path / "out" / f"same{i}" / "results.json").read_text())
        assert data["hosts"][0]["cases"][0]["state"] == "pass"


def test_merge_into_an_existing_run_is_refused(tmp_path: Path, sshd: SshdInfo) -> None:
    for rid in ("a", "b"):
        p = subprocess.run(_run_argv(tmp_path, sshd, rid), capture_output=True, text=True,
                           timeout=300)
        assert p.returncode == 0, p.stderr
    a = tmp_path / "out" / "a"
    before = {f: f.read_bytes() for f in a.rglob("*") if f.is_file()}
    p = _km("merge", str(a), str(tmp_path / "out" / "b"), "--output", str(a))
    assert p.returncode == 2 and "already holds a run" in p.stderr, p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
    assert {f: f.read_bytes() for f in a.rglob("*") if f.is_file()} == before
    # Into a new directory, or an empty existing one, it works.
    empty = tmp_path / "empty"
    empty.mkdir()
    for out in (tmp_path / "merged", empty):
        p = _km("merge", str(a), str(tmp_path / "out" / "b"), "--output", str(out))
        assert p.returncode == 0, p.stderr
        assert json.loads((out / "results.json").read_text())["hosts"]
    p = _km("merge", str(a), "--output", str(empty))
    assert p.returncode == 2 and "already holds a run" in p.stderr, p.stderr


def test_concurrent_reports_into_one_directory_write_matching_pairs(tmp_path: Path,
                                                                   sshd: SshdInfo) -> None:
    for rid in ("r1", "r2"):
        p = subprocess.run(_run_argv(tmp_path, sshd, rid), capture_output=True, text=True,
                           timeout=300)
        assert p.returncode == 0, p.stderr
    rep = tmp_path / "rep"
    for _ in range(3):
        procs = [subprocess.Popen([sys.executable, "-m", "kmatrix", "report",
                                   str(tmp_path / "out" / rid), "--output", str(rep)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                 for rid in ("r1", "r2")]
        for p in procs:
            assert p.wait(timeout=120) == 0
        md, html = (rep / "report.md").read_text(), (rep / "report.html").read_text()
        (which,) = [rid for rid in ("r1", "r2") if rid in md]
        assert which in html and ({"r1", "r2"} - {which}).pop() not in html
