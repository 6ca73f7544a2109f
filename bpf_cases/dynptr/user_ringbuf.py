"""dynptr: user ring buffer samples written by the check, drained by bpf_user_ringbuf_drain."""

import os
import struct

CASE = {
    "description": "BPF_MAP_TYPE_USER_RINGBUF written with libbpf user_ring_buffer__*, drained "
                   "from raw_tp/sys_enter by bpf_user_ringbuf_drain through dynptrs",
    "requires": {"probes": ["dynptr"],
                 "btf_funcs": ["bpf_user_ringbuf_drain", "bpf_dynptr_read"]},
    "timeout": 60,
}

N = 37


def _signed(v):
    return v - (1 << 64) if v >= (1 << 63) else v


def run(t):
    obj = t.load()
    vals = [(i * 2654435761 + os.getpid()) & 0xFFFFFFFF for i in range(N)]
    try:
        obj.user_ringbuf_write("urb", [struct.pack("=QQ", i, v) for i, v in enumerate(vals)])
    except AttributeError as e:
        t.skip("environment-blocks", "the target's libbpf cannot write a user ring buffer: %s"
               % e)
    t.attach(obj, "on_sys_enter")
    obj.bss_set_u64(1, os.getpid())
    done, _flt, drc, count, total, disorder, rerr, drc2 = t.wait_bss(obj, 8)
    t.detail("drain_rc", _signed(drc))
    t.detail("second_drain_rc", _signed(drc2))
    t.detail("samples", count)
    t.detail("sum", total)
    t.expect(done == 1, "raw_tp/sys_enter program did not fire")
    t.expect(_signed(drc) == N, "bpf_user_ringbuf_drain returned %d, %d samples were written"
             % (_signed(drc), N))
    t.expect(rerr == 0, "bpf_dynptr_read failed on %d samples" % rerr)
    t.expect(count == N, "callback saw %d samples, %d were written" % (count, N))
    t.expect(disorder == 0, "%d samples arrived out of order" % disorder)
    t.expect(total == sum(vals), "sum of drained values %d, expected %d" % (total, sum(vals)))
    t.expect(_signed(drc2) == 0, "draining the empty buffer returned %d" % _signed(drc2))
