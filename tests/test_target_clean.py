"""Targets are left clean even when the controller dies (issue 22): the run's
processes are marked by a cgroup as well as the environment, every work
directory holds a lock file its live run keeps locked, and the next run on the
target reaps and removes what a dead run left, and says so.

Over a real sshd on loopback; the sessions get a private TMPDIR (test_faults)."""

from __future__ import annotations

import fcntl
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest
from sshd import SshdInfo, start_sshd
from test_faults import (
    _REMOTE_TMP,
    _argv,
    _by_case,
    _cases_dir,
    _hosts,
    _results,
    _wait_for,
    _workdirs,
)

pytestmark = [pytest.mark.sshd,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root for sshd")]


@pytest.fixture
def sshd(tmp_path: Path):
    # As test_faults': a private TMPDIR for the sessions, so _workdirs() is exact.
    remote_tmp = tmp_path / "remote-tmp"
    remote_tmp.mkdir(mode=0o700)
    _REMOTE_TMP.append(remote_tmp)
    info = start_sshd(tmp_path / "sshd", env={"TMPDIR": str(remote_tmp)})
    yield info
    info.stop()


def _cgroup2() -> bool:
    with open("/proc/self/mountinfo") as f:
        return any(" - cgroup2 " in line for line in f)


ENV_I_CASE = '''"""Test-only: starts a daemon with an empty environment in a session of its own."""
import subprocess

CASE = {"description": "env -i daemon", "build": False, "timeout": 10}


def run(t):
    p = subprocess.Popen(["env", "-i", "sleep", "300"], start_new_session=True)
    with open("%(pidfile)s", "w") as f:
        f.write(str(p.pid))
'''


@pytest.mark.skipif(not _cgroup2(), reason="no cgroup v2 hierarchy: the environment mark only")
def test_an_env_i_daemon_is_still_found_and_stopped(tmp_path: Path, sshd: SshdInfo) -> None:
    pidfile = tmp_path / "daemon.pid"
    cases = _cases_dir(tmp_path, {"perf/zz_env_i.py": ENV_I_CASE % {"pidfile": pidfile}},
                       real=())
    proc = subprocess.run(_argv(tmp_path, _hosts(tmp_path, sshd), cases),
                          capture_output=True, text=True, timeout=300)
    pid = int(pidfile.read_text())
    (host,) = _results(tmp_path)["hosts"]
    left = host["facts"]["leftovers"]
    assert any(f"process {pid} (sleep) of this run" in x for x in left), left
    assert proc.returncode == 2, proc.stderr
    assert not Path(f"/proc/{pid}").exists() or \
        Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0] == "Z"
    assert _workdirs() == set()
    mount = next(line.split(" - ")[0].split()[4] for line in open("/proc/self/mountinfo")
                 if " - cgroup2 " in line)
    # The run's own cgroup (others may belong to runs of parallel tests).
    assert not (Path(mount) / Path(host["facts"]["workdir"]).name).exists(), \
        "the run's cgroup was left"


SLEEPER = '''"""Test-only."""
import subprocess
import time

CASE = {"description": "sleeps with a child", "build": False, "timeout": 60}


def run(t):
    if %(spawn)s:
        subprocess.Popen(["sleep", "%(secs)s"], start_new_session=True)
    time.sleep(%(secs)s)
'''


def test_a_dead_controllers_work_dir_is_removed_and_reported_by_the_next_run(
        tmp_path: Path, sshd: SshdInfo) -> None:
    cases = _cases_dir(tmp_path, {"perf/sleeper.py": SLEEPER % {"secs": 3, "spawn": True}}, real=())
    hosts = _hosts(tmp_path, sshd)
    first = subprocess.Popen(_argv(tmp_path, hosts, cases), stdout=subprocess.DEVNULL,
                             stderr=subprocess.DEVNULL)
    _wait_for(lambda: bool(_workdirs()) and any(
        (_REMOTE_TMP[-1] / w / "journal.jsonl").exists() for w in _workdirs()), timeout=120)
    (left,) = _workdirs()
    first.kill()  # SIGKILL: no clean-up, no results
    first.wait()
    # Its agent finishes the plan into the journal and exits (releasing the run's
    # lock); the directory stays.
    def unlocked() -> bool:
        with open(_REMOTE_TMP[-1] / left / "run.lock") as f:
            try:
                fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                return False
            return True

    _wait_for(unlocked, timeout=60)
    assert (_REMOTE_TMP[-1] / left).is_dir()
    # Older than the sweep's grace for a run that is just starting.
    old = time.time() - 60
    os.utime(_REMOTE_TMP[-1] / left, (old, old))
    quick = _cases_dir(tmp_path / "second", {"perf/sleeper.py": SLEEPER % {"secs": 0, "spawn": False}},
                       real=())
    argv = _argv(tmp_path, hosts, quick)
    argv[argv.index("--run-id") + 1] = "g"
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"{left}" in proc.stderr and "controller died" in proc.stderr, proc.stderr
    import json
    (host,) = json.loads((tmp_path / "out" / "g" / "results.json").read_text())["hosts"]
    (stale,) = host["facts"]["stale_workdirs"]
    assert stale["removed"] is True and stale["workdir"].endswith(left), stale
    assert _workdirs() == set()


def test_a_live_runs_work_dir_is_not_swept(tmp_path: Path, sshd: SshdInfo) -> None:
    cases = _cases_dir(tmp_path, {"perf/sleeper.py": SLEEPER % {"secs": 20, "spawn": False}}, real=())
    hosts = _hosts(tmp_path, sshd)
    first = subprocess.Popen(_argv(tmp_path, hosts, cases), stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: bool(_workdirs()), timeout=120)
        (live,) = _workdirs()
        old = time.time() - 60
        os.utime(_REMOTE_TMP[-1] / live, (old, old))
        quick = _cases_dir(tmp_path / "second", {"perf/sleeper.py": SLEEPER % {"secs": 0, "spawn": False}},
                           real=())
        argv = _argv(tmp_path, hosts, quick)
        argv[argv.index("--run-id") + 1] = "g"
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert "controller died" not in proc.stderr
        assert (_REMOTE_TMP[-1] / live).is_dir()
        _out, err = first.communicate(timeout=120)
    finally:
        if first.poll() is None:
            first.kill()
    assert first.returncode == 0, err
    assert _by_case(_results(tmp_path))["perf/sleeper"]["state"] == "pass"
    assert _workdirs() == set()


@pytest.mark.parametrize("delay", [0.2, 0.5, 0.9, 1.5])
def test_an_early_ctrl_c_leaves_no_work_dir_and_blames_nothing(tmp_path: Path,
                                                               sshd: SshdInfo,
                                                               delay: float) -> None:
    cases = _cases_dir(tmp_path, {"perf/sleeper.py": SLEEPER % {"secs": 0, "spawn": False}}, real=())
    proc = subprocess.Popen(_argv(tmp_path, _hosts(tmp_path, sshd), cases),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    _out, err = proc.communicate(timeout=120)
    assert proc.returncode in (0, 130, -signal.SIGINT), err
    assert "is python3" not in err and "python3 (>= 3.7) installed" not in err, err
    _wait_for(lambda: _workdirs() == set(), timeout=30)
