"""perf: `perf lock contention -b` (BPF mode) over a lock-contending workload the case runs."""

import os
import re
import sys

CASE = {
    "description": "perf lock contention -b (BPF programs on the contention_begin/end "
                   "tracepoints) reports contended kernel locks for a workload of threads "
                   "hammering mmap/munmap and one file",
    "requires": {"kernel": ">=5.19"},
    "timeout": 120,
    "build": False,
}

# Threads that fight over the mm's mmap_lock (mmap/munmap/page faults) and one
# inode lock (appends to a shared file) for about two seconds.
WORKLOAD = r"""
import mmap, os, sys, threading, time
path = sys.argv[1]
stop = time.monotonic() + 2.0
def maps():
    while time.monotonic() < stop:
        m = mmap.mmap(-1, 1 << 20)
        for off in range(0, 1 << 20, 4096):
            m[off] = 1
        m.close()
def writes():
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    while time.monotonic() < stop:
        os.write(fd, b"x" * 4096)
        os.ftruncate(fd, 0)
    os.close(fd)
ts = [threading.Thread(target=f) for f in (maps, maps, maps, writes, writes, writes)]
for t in ts: t.start()
for t in ts: t.join()
"""
ROW = re.compile(r"^\s*(\d+)\s+\S+\s+\S+\s+\S+\s+(\S+)\s+(\S.*)$")


def run(t):
    perfev = t.perfev
    if perfev.perf_tool() is None:
        t.skip("environment-blocks", "the perf tool is not installed on the target")
    d = t.case_files()
    script = os.path.join(d, "contend.py")
    with open(script, "w") as f:
        f.write(WORKLOAD)
    rc, out, err = perfev.run_perf(["lock", "contention", "-b", "-E", "20", "--",
                                    sys.executable, script, os.path.join(d, "shared")],
                                   timeout=100, cwd=d)
    text = (out + "\n" + err).strip()
    t.detail("perf_rc", rc)
    lines = [ln for ln in text.splitlines() if ln.strip()]
    t.detail("perf_output_tail", lines[-25:])
    if "BUILD_BPF_SKEL" in text:
        t.skip("environment-blocks", "this perf was built without BUILD_BPF_SKEL, so "
               "`perf lock contention -b` is not available (%s)"
               % _version(perfev))
    if re.search(r"perf not found for kernel|No such file or directory.*perf_", text):
        t.skip("environment-blocks", "the installed perf does not match the running kernel: %s"
               % (lines[0] if lines else "?"))
    t.expect(rc == 0, "perf lock contention -b exited %d: %s" % (rc, " / ".join(lines[-5:])))
    rows = []
    for ln in lines:
        m = ROW.match(ln)
        if m:
            rows.append({"contended": int(m.group(1)), "type": m.group(2),
                         "caller": m.group(3).strip()})
    t.detail("rows", rows[:20])
    t.expect(rows, "perf lock contention -b ran but reported no contended lock for a workload "
             "of six threads fighting over mmap_lock and an inode lock")
    t.expect(sum(r["contended"] for r in rows) > 0, "every reported lock has 0 contentions")


def _version(perfev):
    try:
        rc, out, _err = perfev.run_perf(["--version"], timeout=20)
        return out.strip() if rc == 0 else "perf --version failed"
    except OSError as e:
        return str(e)
