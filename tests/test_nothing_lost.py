"""Nothing lost (issue 22): an agent event of any size is bounded and kept, and a
check cannot take the agent, or the rest of the host's run, down with it.

Over a real sshd on loopback, with the real agent."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest
from sshd import SshdInfo, start_sshd
from test_faults import _argv, _by_case, _cases_dir, _hosts, _results

from kmatrix.inventory import Host
from kmatrix.transport import open_transport
from kmatrix.transport.base import OVERSIZE

pytestmark = [pytest.mark.sshd,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root for sshd")]

CHECK = '''"""Test-only."""
CASE = {"description": "%(what)s", "build": False, "timeout": 60}


def run(t):
%(body)s
'''


def _case(what: str, body: str) -> str:
    return CHECK % {"what": what, "body": "\n".join("    " + ln for ln in body.splitlines())}


@pytest.fixture
def sshd(tmp_path: Path):
    info = start_sshd(tmp_path / "sshd")
    yield info
    info.stop()


def _run(tmp_path: Path, sshd: SshdInfo, cases: Path) -> tuple[subprocess.CompletedProcess[str],
                                                               dict[str, dict]]:
    proc = subprocess.run(_argv(tmp_path, _hosts(tmp_path, sshd), cases),
                          capture_output=True, text=True, timeout=600)
    assert "Traceback" not in proc.stderr, proc.stderr
    return proc, _by_case(_results(tmp_path))


def test_huge_reason_and_detail_are_clipped_and_kept(tmp_path: Path, sshd: SshdInfo) -> None:
    cases = _cases_dir(tmp_path, {
        "dynptr/a_long_reason.py": _case("fails with a 5 MB reason", 't.fail("R" * 5000000)'),
        "dynptr/b_big_detail.py": _case("a 50 MB detail", 't.detail("big", "x" * 50000000)\n'
                                                          't.detail("small", 7)'),
        "dynptr/c_escapes.py": _case("a detail that grows six-fold as JSON",
                                     't.detail("nul", "\\0" * 3000000)\n'
                                     't.fail("\\0" * 3000000)'),
        "dynptr/d_after.py": _case("runs after them", 't.detail("ran", True)'),
    }, real=())
    proc, by = _run(tmp_path, sshd, cases)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert set(by) == {"dynptr/a_long_reason", "dynptr/b_big_detail", "dynptr/c_escapes",
                       "dynptr/d_after"}, by.keys()
    a = by["dynptr/a_long_reason"]
    assert a["state"] == "fail" and "of 5000000 characters cut" in a["reason"], a["reason"][:300]
    assert len(a["reason"]) < 10000
    b = by["dynptr/b_big_detail"]
    assert b["state"] == "pass" and b["details"]["small"] == 7, b["details"].keys()
    assert "characters cut" in b["details"]["big"] and len(b["details"]["big"]) < 10000
    c = by["dynptr/c_escapes"]
    assert c["state"] == "fail" and "characters cut" in c["reason"], c["reason"][:300]
    assert by["dynptr/d_after"]["state"] == "pass"


def test_an_unbounded_line_is_read_with_a_bound(tmp_path: Path) -> None:
    """The controller's reader keeps a line's head and counts the rest: a 64 MB
    line costs a few MiB, not 64, and the next line still arrives."""
    t = open_transport(Host(name="self", arch="x86_64", transport="local"))
    t.connect()
    try:
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        s = t.stream([sys.executable, "-c", "import sys\n"
                      "for _ in range(64): sys.stdout.write('y' * (1 << 20))\n"
                      "sys.stdout.write('\\nnext\\n' + 'z' * (5 << 20))"], idle_timeout=60)
        lines = list(s.lines())
        grew_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before
    finally:
        t.close()
    assert len(lines) == 3, [ln[:40] for ln in lines]
    assert lines[0].startswith(OVERSIZE + str(64 << 20) + " yyy"), lines[0][:40]
    assert lines[1] == "next"
    assert lines[2].startswith(OVERSIZE + str(5 << 20) + " zzz")
    assert grew_kib < 40 * 1024, grew_kib


CRASHERS = {
    "dynptr/a_sys_exit.py": _case("calls sys.exit(0)", "import sys\nsys.exit(0)"),
    "dynptr/b_os_exit.py": _case("calls os._exit(0)", "import os\nos._exit(0)"),
    "dynptr/c_kill_self.py": _case("SIGKILLs its own process",
                                   "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)"),
    "dynptr/d_close_fds.py": _case("closes every fd from 3", "import os\nos.closerange(3, 65536)"),
    "dynptr/e_rm_workdir.py": _case("removes the agent's work directory",
                                    "import os, shutil\n"
                                    "shutil.rmtree(os.environ['KMATRIX_WORKDIR'])"),
    "dynptr/f_after.py": _case("runs after them", 't.detail("ran", True)'),
}


def test_a_crashing_check_takes_only_its_own_case(tmp_path: Path, sshd: SshdInfo) -> None:
    cases = _cases_dir(tmp_path, CRASHERS, real=())
    proc, by = _run(tmp_path, sshd, cases)
    assert proc.returncode == 2, proc.stdout + proc.stderr  # errors, no failures
    want = {"dynptr/a_sys_exit": "sys.exit(0)", "dynptr/b_os_exit": "exit status 0",
            "dynptr/c_kill_self": "SIGKILL", "dynptr/d_close_fds": "file descriptors",
            "dynptr/e_rm_workdir": "removed the agent's work directory"}
    for cid, words in want.items():
        assert by[cid]["state"] == "error" and words in by[cid]["reason"], by[cid]
    assert by["dynptr/f_after"]["state"] == "pass", by["dynptr/f_after"]
    (host,) = _results(tmp_path)["hosts"]
    assert not host.get("error"), host.get("error")
    assert host["facts"]["leftovers"] == [], host["facts"]["leftovers"]


def test_a_check_that_kills_the_agent_is_named_and_the_plan_resumes(tmp_path: Path,
                                                                     sshd: SshdInfo) -> None:
    cases = _cases_dir(tmp_path, {
        "dynptr/a_before.py": _case("runs first", 't.detail("ran", True)'),
        "dynptr/b_kill_agent.py": _case("SIGKILLs the agent",
                                        "import os, signal\n"
                                        "os.kill(os.getppid(), signal.SIGKILL)\n"
                                        "import time\ntime.sleep(5)"),
        "dynptr/c_after.py": _case("runs after", 't.detail("ran", True)'),
    }, real=())
    proc, by = _run(tmp_path, sshd, cases)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert by["dynptr/a_before"]["state"] == "pass"
    b = by["dynptr/b_kill_agent"]
    assert b["state"] == "error" and b["reason"].startswith("agent-died:"), b
    assert by["dynptr/c_after"]["state"] == "pass", by["dynptr/c_after"]
    (host,) = _results(tmp_path)["hosts"]
    assert not host.get("error"), host.get("error")
    # The dead agent's work directory is removed with the run's others.
    assert host["facts"]["leftovers"] == [], host["facts"]["leftovers"]
