"""maps: per-CPU array values, one per possible CPU, summed in user space."""

import os
import struct

CASE = {
    "description": "a per-CPU array counted from BPF on the CPUs the check runs on: user "
                   "space reads one value per possible CPU and the sum is the call count",
}

GETPPID_NR = {"x86_64": 110, "aarch64": 173, "riscv64": 173}
PER_CPU_CALLS = 20


def possible_cpus():
    """Number of possible CPUs (/sys/devices/system/cpu/possible: "0-3", "0,2-5")."""
    with open("/sys/devices/system/cpu/possible") as f:
        text = f.read().strip()
    top = 0
    for part in text.split(","):
        top = max(top, int(part.split("-")[-1]))
    return top + 1


def run(t):
    ncpu = possible_cpus()
    obj = t.load()
    obj.bss.nr_wanted = GETPPID_NR[t.arch]
    t.attach(obj, "count")
    old = os.sched_getaffinity(0)
    cpus = sorted(old)[:4]  # a few CPUs is enough to show per-CPU slots
    t.defer(os.sched_setaffinity, 0, old)
    for cpu in cpus:
        os.sched_setaffinity(0, {cpu})
        for _ in range(PER_CPU_CALLS):
            os.getppid()
    os.sched_setaffinity(0, old)
    hits = struct.unpack("=%dQ" % ncpu, obj.lookup("counts", struct.pack("=I", 0), 8 * ncpu))
    marks = struct.unpack("=%dQ" % ncpu, obj.lookup("counts", struct.pack("=I", 1), 8 * ncpu))
    t.detail("possible_cpus", ncpu)
    t.detail("per_cpu_hits", [h for h in hits])
    t.expect_eq(obj.bss.calls, PER_CPU_CALLS * len(cpus), "calls")
    t.expect_eq(sum(hits), obj.bss.calls, "sum over CPUs")
    for cpu in cpus:  # each CPU the check was pinned to counted its own calls
        t.expect_eq(hits[cpu], PER_CPU_CALLS, "hits on cpu %d" % cpu)
        t.expect_eq(marks[cpu], cpu + 1, "mark on cpu %d" % cpu)
