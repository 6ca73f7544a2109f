"""trace: BPF ring buffer, reserve/submit and output, read back in order."""

import os
import struct

CASE = {
    "description": "the BPF ring buffer: records from bpf_ringbuf_reserve/submit and "
                   "bpf_ringbuf_output read back in order by the check",
}

N = 6
MAGIC = 0x52494E4742554621


def run(t):
    obj = t.load()
    obj.bss.want = N
    t.attach(obj, "on_enter")
    t.wait(lambda: obj.bss.seq >= N)
    recs = obj.ringbuf("events", want=N)
    got = [struct.unpack("=IIQ", r[:16]) for r in recs]
    t.expect_eq(len(got), N, "records")
    t.expect_eq([g[1] for g in got], list(range(N)), "seq order")
    t.expect_true(all(g[0] == os.getpid() and g[2] == MAGIC for g in got), "record contents")
    t.expect_values(obj.bss, output_rc=0, dropped=0)
