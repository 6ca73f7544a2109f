"""trace: perf buffer (BPF_MAP_TYPE_PERF_EVENT_ARRAY) samples read by the check."""

import os
import struct

CASE = {
    "description": "bpf_perf_event_output into a perf event array: samples read back with "
                   "libbpf's perf_buffer, each from the CPU it names",
}

N = 5
MAGIC = 0x50455246425546


def run(t):
    obj = t.load()
    obj.bss.want = N
    t.attach(obj, "on_enter")
    # The buffer's per-CPU events must be in the map before the program sends.
    recs, lost = obj.perfbuf("events", trigger=lambda: t.wait(lambda: obj.bss.seq >= N),
                             want=N)
    got = [(cpu,) + struct.unpack("=IIIIQ", r[:24]) for cpu, r in recs]
    t.expect_eq(len(got), N, "samples")
    t.expect_eq([g[2] for g in got], list(range(N)), "seq order")
    t.expect_true(all(g[1] == os.getpid() and g[5] == MAGIC for g in got), "sample contents")
    t.expect_true(all(g[0] == g[3] for g in got), "sample cpu matches the buffer's cpu")
    t.expect_eq(lost, 0, "lost")
    t.expect_eq(obj.data.last_rc, 0, "last_rc")
