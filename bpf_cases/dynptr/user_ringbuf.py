"""dynptr: user ring buffer samples written by the check, drained by bpf_user_ringbuf_drain."""

import os
import struct

CASE = {
    "description": "BPF_MAP_TYPE_USER_RINGBUF written with libbpf user_ring_buffer__*, drained "
                   "from raw_tp/sys_enter by bpf_user_ringbuf_drain through dynptrs",
    "requires": {"probes": ["dynptr"], "btf_funcs": ["bpf_user_ringbuf_drain", "bpf_dynptr_read"]},
}

N = 37


def run(t):
    obj = t.load()
    vals = [(i * 2654435761 + os.getpid()) & 0xFFFFFFFF for i in range(N)]
    try:
        obj.user_ringbuf_write("urb", [struct.pack("=QQ", i, v) for i, v in enumerate(vals)])
    except AttributeError as e:
        t.skip("environment-blocks", "the target's libbpf cannot write a user ring buffer: %s"
               % e)
    t.attach(obj, "on_sys_enter")
    t.expect_true(t.wait(lambda: obj.bss.done), "fired")
    t.expect_values(obj.bss, drain_rc=N, second_drain_rc=0)  # the second: an empty buffer
    t.expect_values(obj.bss.seen, count=N, sum=sum(vals), out_of_order=0, read_errors=0)
