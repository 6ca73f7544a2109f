"""dynptr: bpf_ringbuf_reserve_dynptr/submit/discard; the check consumes the ring buffer."""

import os
import struct

CASE = {
    "description": "bpf_ringbuf_reserve_dynptr + bpf_dynptr_write + submit, record read back; "
                   "a discarded reservation never arrives",
    "requires": {"probes": ["dynptr"],
                 "btf_funcs": ["bpf_ringbuf_reserve_dynptr", "bpf_ringbuf_submit_dynptr",
                               "bpf_ringbuf_discard_dynptr", "bpf_dynptr_write"]},
}

REC = struct.Struct("=QII16sQ")  # struct kmx_rec: magic, tgid, len, comm, seq


def run(t):
    obj = t.load()
    t.attach(obj, "on_sys_enter")
    t.expect_true(t.wait(lambda: obj.bss.done), "fired")
    t.expect_values(obj.bss, reserve_rc=0, write_rc=0, discarded_reserve_rc=0,
                    discarded_write_rc=0)
    # want=2: poll until the time runs out unless the discarded record wrongly shows up.
    records = obj.ringbuf("rb", timeout_ms=100, max_polls=3, want=2)
    if t.expect_eq([len(r) for r in records], [REC.size], "record sizes"):
        magic, tgid, length, comm, seq = REC.unpack(records[0])
        with open("/proc/self/comm", "rb") as f:
            want = [0x6B6D617472697821, os.getpid(), REC.size, f.read().strip()[:15], 42]
        t.expect_eq([magic, tgid, length, comm.split(b"\0", 1)[0], seq], want, "record")
