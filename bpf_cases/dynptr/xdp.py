"""dynptr: bpf_dynptr_from_xdp on a multi-buffer packet from BPF_PROG_TEST_RUN; reads, a slice
and a write straddle the head->frag boundary."""

import errno
import mmap
import struct

CASE = {
    "description": "bpf_dynptr_from_xdp in xdp.frags on a >4k packet: bpf_dynptr_read/slice/"
                   "write across the head->frag boundary and at the end of the last frag",
    "requires": {"probes": ["dynptr"],
                 "kfuncs": ["bpf_dynptr_from_xdp", "bpf_dynptr_slice"],
                 "btf_funcs": ["bpf_dynptr_read", "bpf_dynptr_write"]},
    "timeout": 60,
}

XDP_PASS = 2
MARK = b"KMxXFRG!"
TAIL = b"KMxTAIL!"


def _signed(v):
    return v - (1 << 64) if v >= (1 << 63) else v


def _packet(size):
    eth = b"\xff" * 6 + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00"
    return bytearray(eth + bytes((i * 13 + 5) & 0xFF for i in range(size - len(eth))))


def run(t):
    obj = t.load()
    # No attach point in a test run of XDP: BPF_PROG_TEST_RUN is the trigger.
    size = max(9000, 2 * mmap.PAGESIZE + 1024)
    obj.test_run("xdp_dynptr", data=bytes(_packet(size)), data_out_size=size)
    linear = obj.bss_u64(4)[3]
    t.detail("page_size", mmap.PAGESIZE)
    t.detail("packet_len", size)
    t.detail("linear_len", linear)
    t.expect(obj.bss_u64(3)[2] == 1, "program did not run on the measuring test run")
    t.expect(linear < size, "the packet was not split into frags (linear %d of %d)"
             % (linear, size))
    pkt = _packet(size)
    pkt[linear - 4:linear + 4] = MARK
    pkt[size - 8:] = TAIL
    obj.bss_set_u64(0, linear)
    obj.bss_set_u64(1, size)
    out = obj.test_run("xdp_dynptr", data=bytes(pkt), data_out_size=size)
    res = obj.bss_u64(13)
    across, sliced, tail = (struct.pack("=Q", res[i]) for i in (5, 7, 9))
    rcs = {"from_xdp": _signed(res[4]), "read_across": _signed(res[6]),
           "read_tail": _signed(res[10]), "write_across": _signed(res[11]),
           "read_past_end": _signed(res[12])}
    t.detail("rcs", rcs)
    t.detail("read", [across.decode("latin-1"), sliced.decode("latin-1"),
                      tail.decode("latin-1")])
    t.detail("slice_copied", res[8])
    t.expect(out["retval"] == XDP_PASS, "retval %d, expected XDP_PASS" % out["retval"])
    t.expect(rcs["from_xdp"] == 0, "bpf_dynptr_from_xdp returned %d" % rcs["from_xdp"])
    t.expect(rcs["read_across"] == 0 and across == MARK,
             "bpf_dynptr_read across head->frag gave %r (rc %d), expected %r"
             % (across, rcs["read_across"], MARK))
    t.expect(sliced == MARK, "bpf_dynptr_slice across head->frag gave %r, expected %r"
             % (sliced, MARK))
    t.expect(res[8] == 1, "a slice across non-contiguous bytes must be a copy in the "
             "caller's buffer")
    t.expect(rcs["read_tail"] == 0 and tail == TAIL, "last 8 bytes read %r (rc %d), expected %r"
             % (tail, rcs["read_tail"], TAIL))
    t.expect(rcs["write_across"] == 0, "bpf_dynptr_write across head->frag returned %d"
             % rcs["write_across"])
    t.expect(rcs["read_past_end"] == -errno.E2BIG,
             "a read one byte past the end returned %d, expected -E2BIG"
             % rcs["read_past_end"])
    want = bytearray(pkt)
    want[linear - 4:linear + 4] = bytes(~c & 0xFF for c in MARK)
    data = out["data"]
    t.detail("data_out_len", len(data))
    t.expect(len(data) == size, "output packet is %d bytes, expected %d" % (len(data), size))
    if data != bytes(want):
        first = next((i for i in range(min(len(data), len(want))) if data[i] != want[i]),
                     min(len(data), len(want)))
        t.fail("output packet differs from the expected one first at byte %d" % first)
