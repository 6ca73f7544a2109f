"""Faults against real parts: a real sshd on loopback, real BPF on this kernel.

Each test asserts what the run reported, that results gathered before the fault
are in results.json and JUnit, the exit code, and the state of the target (this
machine) afterwards.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path

import pytest
from sshd import SshdInfo, free_port, start_sshd

pytestmark = [pytest.mark.sshd, pytest.mark.bpf,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root for sshd and BPF")]

ROOT = Path(__file__).resolve().parent.parent

SLEEP_CASE = '''"""Test-only: sleeps long enough for a fault to be injected mid-run."""
import time

CASE = {"description": "sleeps %(secs)s s", "build": False, "timeout": %(timeout)s}


def run(t):
    time.sleep(%(secs)s)
    t.detail("slept", %(secs)s)
'''


REAL = ("dynptr/from_mem", "kfunc/task_acquire", "xdp_frags/frags_test_run")


def _cases_dir(tmp: Path, extra: dict[str, str], real: tuple[str, ...] = REAL) -> Path:
    """A catalogue: real cases plus test-only ones (family dirs must be real ones)."""
    d = tmp / "cases"
    for cid in real:
        fam, name = cid.split("/")
        (d / fam).mkdir(parents=True, exist_ok=True)
        for suffix in (".bpf.c", ".py"):
            shutil.copy(ROOT / "bpf_cases" / fam / f"{name}{suffix}", d / fam / f"{name}{suffix}")
    for rel, text in extra.items():
        p = d / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    return d


def _hosts(tmp: Path, sshd: SshdInfo, extra: str = "") -> Path:
    p = tmp / "hosts.yaml"
    p.write_text(
        "hosts:\n"
        "  - name: loop\n"
        "    arch: x86_64\n"
        "    address: 127.0.0.1\n"
        f"    port: {sshd.port}\n"
        f"    identity_file: {sshd.user_key_path}\n"
        f"    known_hosts: {sshd.known_hosts_path}\n" + extra
    )
    return p


def _argv(tmp: Path, hosts: Path, cases: Path, *extra: str) -> list[str]:
    return [sys.executable, "-m", "kmatrix", "run", "--hosts", str(hosts), "--cases-dir",
            str(cases), "--output", str(tmp / "out"), "--run-id", "f",
            "--cache-dir", str(tmp / "cache"), *extra]


def _results(tmp: Path) -> dict:
    return json.loads((tmp / "out" / "f" / "results.json").read_text())


def _by_case(data: dict, host: str = "loop") -> dict[str, dict]:
    (h,) = [h for h in data["hosts"] if h["name"] == host]
    return {c["case"]: c for c in h["cases"]}


def _wait_for(pred, timeout: float = 120.0) -> None:
    t0 = time.monotonic()
    while not pred():
        assert time.monotonic() - t0 < timeout, "timed out waiting"
        time.sleep(0.1)


def _done_cases(tmp: Path) -> int:
    try:
        return sum(len(h["cases"]) for h in _results(tmp)["hosts"])
    except (OSError, ValueError, KeyError):
        return 0


_REMOTE_TMP: list[Path] = []


def _fault_after_two_cases(tmp_path: Path, sshd: SshdInfo, cases: Path,
                           fault: Callable[[subprocess.Popen[str]], object],
                           timeout: float = 120) -> tuple[subprocess.Popen[str], str]:
    """Start a run, wait until two cases finished, call fault(proc), wait for the end.
    Returns (the finished process, its stderr)."""
    proc = subprocess.Popen(_argv(tmp_path, _hosts(tmp_path, sshd), cases),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(lambda: _done_cases(tmp_path) >= 2)
        time.sleep(1.0)
        fault(proc)
        _out, err = proc.communicate(timeout=timeout)
    finally:
        if proc.poll() is None:
            proc.kill()
    return proc, err


def _workdirs() -> set[str]:
    """Work directories under the target sessions' private TMPDIR (this test's only)."""
    return {p.name for p in _REMOTE_TMP[-1].glob("kmatrix.*")}


@pytest.fixture
def sshd(tmp_path: Path):
    # The sessions get a TMPDIR of their own: parallel tests cannot see each
    # other's work directories, so "nothing left" is checked exactly.
    remote_tmp = tmp_path / "remote-tmp"
    remote_tmp.mkdir(mode=0o700)
    _REMOTE_TMP.append(remote_tmp)
    info = start_sshd(tmp_path / "sshd", env={"TMPDIR": str(remote_tmp)})
    yield info
    info.stop()


def test_case_past_its_timeout_fails_alone(tmp_path: Path, sshd: SshdInfo) -> None:
    cases = _cases_dir(tmp_path, {"perf/zz_sleep.py": SLEEP_CASE % {"secs": 30, "timeout": 2}})
    before = _workdirs()
    proc = subprocess.run(_argv(tmp_path, _hosts(tmp_path, sshd), cases), capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr
    got = _by_case(_results(tmp_path))
    assert got["perf/zz_sleep"]["state"] == "fail"
    assert "timed out" in got["perf/zz_sleep"]["reason"], got["perf/zz_sleep"]
    for cid in ("dynptr/from_mem", "kfunc/task_acquire", "xdp_frags/frags_test_run"):
        assert got[cid]["state"] == "pass", got[cid]
    junit = ET.parse(tmp_path / "out" / "f" / "x86_64" / "junit.xml").getroot()
    failures = [(tc.get("classname"), tc.get("name")) for tc in junit.iter("testcase")
                if tc.find("failure") is not None]
    assert failures == [("kmatrix.x86_64.loop.perf", "zz_sleep")]
    assert _workdirs() == before  # the target's work directory is gone


def test_connection_drop_mid_run_loses_nothing_and_runs_nothing_twice(
        tmp_path: Path, sshd: SshdInfo) -> None:
    cases = _cases_dir(tmp_path, {
        "perf/zz_sleep.py": SLEEP_CASE % {"secs": 4, "timeout": 30},
        "perf/zzz_after.py": SLEEP_CASE % {"secs": 0, "timeout": 30},
    })
    before = _workdirs()
    # Cases run in id order: two real ones finish, then drop every SSH session
    # while perf/zz_sleep runs.
    proc, err = _fault_after_two_cases(tmp_path, sshd, cases, lambda p: sshd.kill_sessions(),
                                       timeout=300)
    assert proc.returncode == 0, err
    assert "reconnect" in err
    data = _results(tmp_path)
    (h,) = data["hosts"]
    ids = [c["case"] for c in h["cases"]]
    assert sorted(ids) == sorted(set(ids)), "a case was recorded twice"
    assert set(ids) == {"dynptr/from_mem", "kfunc/task_acquire", "xdp_frags/frags_test_run",
                        "perf/zz_sleep", "perf/zzz_after"}
    assert all(c["state"] == "pass" for c in h["cases"]), h["cases"]
    assert h["complete"] and not data["incomplete"]
    # The agent survived the drop: zz_sleep ran once (journal replay, not a rerun).
    assert _by_case(data)["perf/zz_sleep"]["duration"] >= 3.5
    assert _workdirs() == before


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_sigint_writes_partial_results_and_cleans_the_target(tmp_path: Path, sshd: SshdInfo,
                                                              sig: int) -> None:
    cases = _cases_dir(tmp_path, {"perf/zz_sleep.py": SLEEP_CASE % {"secs": 60, "timeout": 120}})
    before = _workdirs()
    proc, err = _fault_after_two_cases(tmp_path, sshd, cases, lambda p: p.send_signal(sig))
    assert proc.returncode == 130, err
    data = _results(tmp_path)
    assert data["incomplete"] is True
    got = _by_case(data)
    # The case that was running is there, marked interrupted, not silently dropped.
    assert got["perf/zz_sleep"]["state"] == "error", got["perf/zz_sleep"]
    assert got["perf/zz_sleep"]["reason"].startswith("interrupted:"), got["perf/zz_sleep"]
    assert {got[c]["state"] for c in ("dynptr/from_mem", "kfunc/task_acquire")} == {"pass"}
    junit = ET.parse(tmp_path / "out" / "f" / "x86_64" / "junit.xml").getroot()
    assert len(list(junit.iter("testcase"))) >= 2
    # The remote agent was stopped and its work directory removed.
    assert _workdirs() == before
    ps = subprocess.run(["pgrep", "-f", "agent.pyz run"], capture_output=True, text=True)
    assert str(tmp_path) not in ps.stdout


def test_unreachable_port_fails_that_host_only(tmp_path: Path, sshd: SshdInfo) -> None:
    cases = _cases_dir(tmp_path, {})
    dead = free_port()
    hosts = _hosts(tmp_path, sshd, extra=(
        "  - name: nowhere\n"
        "    arch: x86_64\n"
        "    address: 127.0.0.1\n"
        f"    port: {dead}\n"
        f"    identity_file: {sshd.user_key_path}\n"
        f"    known_hosts: {sshd.known_hosts_path}\n"
        "    connect_timeout: 3\n"))
    proc = subprocess.run(_argv(tmp_path, hosts, cases), capture_output=True, text=True,
                          timeout=300)
    assert proc.returncode == 2, proc.stderr
    data = _results(tmp_path)
    hosts_by = {h["name"]: h for h in data["hosts"]}
    assert hosts_by["nowhere"]["error"] and str(dead) in hosts_by["nowhere"]["error"]
    assert hosts_by["loop"]["error"] is None and hosts_by["loop"]["complete"]
    assert {c["state"] for c in hosts_by["loop"]["cases"]} == {"pass"}
    junit = ET.parse(tmp_path / "out" / "f" / "x86_64" / "junit.xml").getroot()
    errors = [tc.get("classname") for tc in junit.iter("testcase") if tc.find("error") is not None]
    assert any("nowhere" in (n or "") for n in errors), errors


def test_check_that_raises_mid_case_leaves_nothing_behind(tmp_path: Path,
                                                           sshd: SshdInfo) -> None:
    raising = (ROOT / "bpf_cases" / "kfunc" / "task_acquire.py").read_text().replace(
        "    child = os.fork()", "    raise RuntimeError('forced failure after attach')\n"
        "    child = os.fork()")
    cases = _cases_dir(tmp_path, {"kfunc/zz_raises.py": raising,
                                  "kfunc/zz_raises.bpf.c":
                                  (ROOT / "bpf_cases/kfunc/task_acquire.bpf.c").read_text()})
    proc = subprocess.run(_argv(tmp_path, _hosts(tmp_path, sshd), cases), capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr
    data = _results(tmp_path)
    got = _by_case(data)
    assert got["kfunc/zz_raises"]["state"] == "fail"
    assert "forced failure after attach" in got["kfunc/zz_raises"]["output"] + \
        got["kfunc/zz_raises"]["reason"]
    (h,) = data["hosts"]
    # The controller's before/after inventory found nothing left on the target.
    assert h["facts"]["leftovers"] == [], h["facts"]["leftovers"]
    assert h["error"] is None


@pytest.mark.serial
def test_leftover_bpf_object_is_reported(tmp_path: Path, sshd: SshdInfo) -> None:
    """A case that pins a program on purpose must be reported as left behind."""
    pin = f"/sys/fs/bpf/kmatrix_test_{os.getpid()}"
    leaky = (ROOT / "bpf_cases" / "kfunc" / "task_acquire.py").read_text().replace(
        "    obj = t.load()", "    obj = t.load()\n    _pin(obj)")
    leaky += f"""

def _pin(obj):
    import ctypes
    # BPF_OBJ_PIN keeps the program alive after the agent exits: a deliberate leak.
    lib = ctypes.CDLL("libbpf.so.1", use_errno=True)
    if lib.bpf_obj_pin(obj.prog_fd("on_newtask"), {pin!r}.encode()) != 0:
        raise OSError(ctypes.get_errno(), "bpf_obj_pin failed")
"""
    cases = _cases_dir(tmp_path, {"kfunc/zz_leaky.py": leaky,
                                  "kfunc/zz_leaky.bpf.c":
                                  (ROOT / "bpf_cases/kfunc/task_acquire.bpf.c").read_text()})
    mounted = _ensure_bpffs()
    try:
        proc = subprocess.run(_argv(tmp_path, _hosts(tmp_path, sshd), cases),
                              capture_output=True, text=True, timeout=300)
        assert os.path.exists(pin), proc.stderr
        assert proc.returncode == 2, proc.stderr
        (h,) = _results(tmp_path)["hosts"]
        assert any(pin in x for x in h["facts"]["leftovers"]), h["facts"]["leftovers"]
        assert "left on the target" in (h["error"] or "")
    finally:
        if os.path.exists(pin):
            os.unlink(pin)
        if mounted:
            subprocess.run(["umount", "/sys/fs/bpf"], check=False)


def _ensure_bpffs() -> bool:
    """Mount bpffs on /sys/fs/bpf when this machine has none; True if we did."""
    with open("/proc/mounts") as f:
        if any(line.split()[1:3] == ["/sys/fs/bpf", "bpf"] for line in f):
            return False
    subprocess.run(["mount", "-t", "bpf", "bpf", "/sys/fs/bpf"], check=True)
    return True


HANG_HOST_CASE = '''"""Test-only: the host "dies" (its sshd vanishes) while this case runs."""
import os
import signal
import time

CASE = {"description": "kills the target's sshd, then hangs", "build": False, "timeout": 600}


def _descendants(pid):
    kids = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%%s/stat" %% d) as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            kids.setdefault(ppid, []).append(int(d))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        for k in kids.get(p, []):
            out.append(k)
            todo.append(k)
    return out


def run(t):
    with open(%(pidfile)r, "w") as f:  # the check runs in a child of the agent
        f.write("%%d %%d" %% (os.getpid(), os.getppid()))
    mine = set()
    p = os.getpid()
    while p > 1:
        mine.add(p)
        with open("/proc/%%d/stat" %% p) as f:
            p = int(f.read().rsplit(")", 1)[1].split()[1])
    victims = [%(master)d] + [k for k in _descendants(%(master)d) if k not in mine]
    # The sessions' sshd processes are our ancestors: kill them too, but not us.
    victims += [a for a in mine if a != os.getpid() and _is_sshd(a)]
    for v in victims:
        try:
            os.kill(v, signal.SIGKILL)
        except OSError:
            pass
    time.sleep(600)


def _is_sshd(pid):
    try:
        with open("/proc/%%d/comm" %% pid) as f:
            return f.read().startswith("sshd")
    except OSError:
        return False
'''


def test_dead_host_is_reset_with_reset_cmd_and_the_run_resumes(tmp_path: Path,
                                                                sshd: SshdInfo) -> None:
    pidfile = tmp_path / "agent.pid"
    cases = _cases_dir(tmp_path, {
        "perf/zz_hang_host.py": HANG_HOST_CASE % {"pidfile": str(pidfile),
                                                   "master": sshd.proc.pid},
        "perf/zzz_after.py": SLEEP_CASE % {"secs": 0, "timeout": 30},
    })
    # The "power cycle": kill what ran on the dead box and bring its sshd back.
    reset = tmp_path / "reset.sh"
    reset.write_text("#!/bin/sh\n"
                     f"kill -9 $(cat {pidfile}) 2>/dev/null\n"
                     f"echo reset >> {tmp_path / 'resets'}\n"
                     f"exec /usr/sbin/sshd -f {sshd.dir / 'sshd_config'}\n")
    reset.chmod(0o755)
    hosts = _hosts(tmp_path, sshd, extra=f"    reset_cmd: [{str(reset)!r}]\n")
    before = _workdirs()
    try:
        proc = subprocess.run(_argv(tmp_path, hosts, cases), capture_output=True, text=True,
                              timeout=600)
        assert (tmp_path / "resets").read_text().count("reset") == 1, proc.stderr
        data = _results(tmp_path)
        got = _by_case(data)
        ids = [c["case"] for c in data["hosts"][0]["cases"]]
        assert len(ids) == len(set(ids)), ids
        dead = got["perf/zz_hang_host"]
        # Only sshd died: the target's kernel still answers (it refuses the port with a
        # reset), so the label is ssh-lost, not kernel-dead.
        assert dead["state"] == "error" and dead["reason"].startswith("ssh-lost:"), dead
        assert "still answers" in dead["reason"] and "kernel-dead" not in dead["reason"], dead
        # Cases before the death kept their results; the one after ran on the reset host.
        for cid in ("dynptr/from_mem", "kfunc/task_acquire", "perf/zzz_after",
                    "xdp_frags/frags_test_run"):
            assert got[cid]["state"] == "pass", got[cid]
        assert proc.returncode == 2, proc.stderr
        assert _workdirs() == before, "a work directory survived the reset"
        # bpftool and ip are on this machine: the leftover check after a reset must
        # not claim they are missing.
        assert not any("no bpftool" in w or "no ip command" in w for w in data["warnings"]), \
            data["warnings"]
    finally:
        pid = sshd.dir / "sshd.pid"
        if pid.exists():
            try:
                os.kill(int(pid.read_text()), signal.SIGTERM)
            except (ValueError, ProcessLookupError):
                pass


STUCK_CASE = '''"""Test-only: a check that its own SIGALRM timeout cannot end (as if stuck in the kernel)."""
import signal
import time

CASE = {"description": "blocks SIGALRM and sleeps", "build": False, "timeout": 2}


def run(t):
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGALRM])
    time.sleep(300)
'''


def test_stuck_case_on_a_live_host_is_a_hang_not_a_dead_kernel(tmp_path: Path,
                                                                 sshd: SshdInfo) -> None:
    # Short case timeouts only: the watchdog waits for the longest one plus the grace.
    cases = _cases_dir(tmp_path, {"perf/zz_stuck.py": STUCK_CASE,
                                  "perf/zzz_after.py": SLEEP_CASE % {"secs": 0, "timeout": 5}},
                       real=())
    before = _workdirs()
    t0 = time.monotonic()
    proc = subprocess.run(_argv(tmp_path, _hosts(tmp_path, sshd), cases, "--watchdog-grace", "5"),
                          capture_output=True, text=True, timeout=300)
    assert time.monotonic() - t0 < 60, "the watchdog did not end the stuck case"
    assert proc.returncode == 1, proc.stderr
    got = _by_case(_results(tmp_path))
    stuck = got["perf/zz_stuck"]
    assert stuck["state"] == "fail" and "hung" in stuck["reason"], stuck
    assert "kernel-dead" not in stuck["reason"]
    assert stuck["duration"] >= 2, stuck["duration"]  # from its start, not 0.0
    # The agent was killed and restarted after the stuck case: the rest still ran.
    assert got["perf/zzz_after"]["state"] == "pass", got["perf/zzz_after"]
    assert _workdirs() == before
    ps = subprocess.run(["pgrep", "-f", "agent.pyz run"], capture_output=True, text=True)
    assert not [p for p in ps.stdout.split() if _cmd_has(p, "zz_stuck")]


def _cmd_has(pid: str, needle: str) -> bool:
    try:
        return needle in Path(f"/proc/{pid}/cmdline").read_text()
    except OSError:
        return False


def test_watchdog_uses_the_hung_cases_own_timeout(tmp_path: Path, sshd: SshdInfo) -> None:
    """A plan that also holds a case with a 600 s timeout: the stuck case (timeout 2 s)
    is declared hung after its own 2 s plus the grace, not after 600 s plus the grace."""
    cases = _cases_dir(tmp_path, {"perf/zz_stuck.py": STUCK_CASE,
                                  "perf/zzz_long.py": SLEEP_CASE % {"secs": 0, "timeout": 600}},
                       real=())
    t0 = time.monotonic()
    proc = subprocess.run(_argv(tmp_path, _hosts(tmp_path, sshd), cases, "--watchdog-grace", "5"),
                          capture_output=True, text=True, timeout=300)
    took = time.monotonic() - t0
    assert proc.returncode == 1, proc.stderr
    got = _by_case(_results(tmp_path))
    stuck = got["perf/zz_stuck"]
    assert stuck["state"] == "fail" and "no progress for 7 s" in stuck["reason"], stuck
    assert got["perf/zzz_long"]["state"] == "pass", got["perf/zzz_long"]
    assert took < 120, f"the watchdog waited {took:.0f} s: the plan's longest timeout, not the case's"


DETACH_CASE = '''"""Test-only: starts a process in a session of its own and leaves it running."""
import subprocess

CASE = {"description": "detaches a sleeper", "build": False, "timeout": 10}


def run(t):
    p = subprocess.Popen(["sleep", "300"], start_new_session=True)
    with open("%(pidfile)s", "w") as f:
        f.write(str(p.pid))
'''


def test_a_process_a_case_detaches_is_reported_and_killed(tmp_path: Path,
                                                          sshd: SshdInfo) -> None:
    """setsid takes it out of the agent's process group, not out of the run: it carries
    the run's mark (KMATRIX_WORKDIR), so clean-up finds it, stops it and says so."""
    pidfile = tmp_path / "detached.pid"
    cases = _cases_dir(tmp_path, {"perf/zz_detach.py": DETACH_CASE % {"pidfile": pidfile}},
                       real=())
    proc = subprocess.run(_argv(tmp_path, _hosts(tmp_path, sshd), cases),
                          capture_output=True, text=True, timeout=300)
    pid = int(pidfile.read_text())
    data = _results(tmp_path)
    (host,) = data["hosts"]
    left = host["facts"]["leftovers"]
    assert any(f"process {pid} (sleep) of this run, ended by SIGTERM" == x for x in left), left
    assert "left on the target" in (host["error"] or ""), host["error"]
    assert proc.returncode == 2, proc.stderr
    assert not Path(f"/proc/{pid}").exists() or \
        Path(f"/proc/{pid}/stat").read_text().split(")")[1].split()[0] == "Z"


STUBBORN_CASE = '''"""Test-only: a check that ignores SIGTERM, so the agent's clean-up takes long."""
import signal
import time

CASE = {"description": "ignores SIGTERM and sleeps", "build": False, "timeout": 120}


def run(t):
    signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGTERM])
    time.sleep(90)
'''


def test_a_second_interrupt_still_writes_the_final_results(tmp_path: Path,
                                                           sshd: SshdInfo) -> None:
    cases = _cases_dir(tmp_path, {"perf/zz_stubborn.py": STUBBORN_CASE})
    def twice(p: subprocess.Popen[str]) -> None:
        p.send_signal(signal.SIGINT)
        time.sleep(0.5)
        p.send_signal(signal.SIGINT)  # impatient: abandon the clean-up

    proc, err = _fault_after_two_cases(tmp_path, sshd, cases, twice, timeout=60)
    assert proc.returncode == 130, err
    data = _results(tmp_path)
    assert data["incomplete"] is True and data["finished"], data
    assert any("second interrupt" in w for w in data["warnings"]), data["warnings"]
    got = _by_case(data)
    assert {got[c]["state"] for c in ("dynptr/from_mem", "kfunc/task_acquire")} == {"pass"}
    junit = ET.parse(tmp_path / "out" / "f" / "x86_64" / "junit.xml").getroot()
    assert len(list(junit.iter("testcase"))) >= 2
    # The abandoned agent is this test's to stop (its command line names tmp_path).
    subprocess.run(["pkill", "-KILL", "-f", str(tmp_path)], capture_output=True)


def test_two_concurrent_runs_on_one_target_blame_nobody(tmp_path: Path, sshd: SshdInfo) -> None:
    """Run A holds BPF objects while run B starts and finishes on the same target: B
    must not call A's live objects its leftovers (Debian's bpftool names no holder), and
    A must not blame B's. Each agent records the ids of what it created."""
    # A loads only after B's preflight inventory, and holds past B's clean-up.
    holder = (ROOT / "bpf_cases" / "kfunc" / "task_acquire.py").read_text().replace(
        "    obj = t.load()", "    import time\n    time.sleep(5)\n    obj = t.load()\n"
        "    time.sleep(14)")
    a_cases = _cases_dir(tmp_path / "a", {
        "kfunc/zz_holder.py": holder.replace('"timeout": 60', '"timeout": 90'),
        "kfunc/zz_holder.bpf.c": (ROOT / "bpf_cases/kfunc/task_acquire.bpf.c").read_text()},
        real=())
    b_cases = _cases_dir(tmp_path / "b", {"perf/zz_sleep.py": SLEEP_CASE % {"secs": 10,
                                                                            "timeout": 60}})
    hosts = _hosts(tmp_path, sshd)
    a = subprocess.Popen(_argv(tmp_path / "a", hosts, a_cases), stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(2)  # A is connected; its case loads its object a few seconds later
        b = subprocess.run(_argv(tmp_path / "b", hosts, b_cases), capture_output=True,
                           text=True, timeout=300)
        a_out, a_err = a.communicate(timeout=300)
    finally:
        if a.poll() is None:
            a.kill()
    for name, rc, err in (("A", a.returncode, a_err), ("B", b.returncode, b.stderr)):
        assert rc == 0, f"run {name}: {err[-2000:]}"
    for run in ("a", "b"):
        (h,) = _results(tmp_path / run)["hosts"]
        assert h["facts"]["leftovers"] == [] and h["error"] is None, h["facts"]["leftovers"]
    (hb,) = _results(tmp_path / "b")["hosts"]
    assert hb["facts"]["leftover_check"]["ignored_foreign_objects"] >= 1, hb["facts"]


def test_ctrl_c_with_a_sigterm_blocking_case_leaves_no_agent(tmp_path: Path,
                                                             sshd: SshdInfo) -> None:
    """The agent ignores the SIGTERM clean-up sends (its case blocks it): clean-up
    escalates to SIGKILL, says so, and no process of the run is left on the target."""
    cases = _cases_dir(tmp_path, {"perf/zz_stubborn.py": STUBBORN_CASE})
    proc, err = _fault_after_two_cases(tmp_path, sshd, cases,
                                       lambda p: p.send_signal(signal.SIGINT))
    assert proc.returncode == 130, err
    (h,) = _results(tmp_path)["hosts"]
    killed = [x for x in h["facts"]["leftovers"] if x.startswith("process ")]
    assert any(x.endswith("ended by SIGKILL") for x in killed), h["facts"]["leftovers"]
    ps = subprocess.run(["pgrep", "-f", "agent.pyz run"], capture_output=True, text=True)
    alive = [p for p in ps.stdout.split() if str(tmp_path) in _cmdline(p)]
    assert alive == [], alive


def _cmdline(pid: str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_text().replace("\0", " ")
    except OSError:
        return ""
