"""xdp_frags: xdp.frags program on a 9000-byte packet via BPF_PROG_TEST_RUN."""

import mmap
import struct

CASE = {
    "description": "xdp.frags with BPF_PROG_TEST_RUN on 9000 bytes: get_buff_len and "
                   "load/store_bytes across head->frag and frag->frag boundaries",
    "requires": {"probes": ["xdp_frags"],
                 "btf_funcs": ["bpf_xdp_get_buff_len", "bpf_xdp_load_bytes",
                               "bpf_xdp_store_bytes"]},
    "timeout": 60,
}

XDP_PASS = 2
MARK_A = b"KMxHEAD!"
MARK_B = b"KMxFRAG!"


def _signed(v):
    return v - (1 << 64) if v >= (1 << 63) else v


def _packet(size):
    # Ethernet header, then a byte pattern so misplaced bytes show up.
    eth = b"\xff" * 6 + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00"
    body = bytes((i * 7 + 3) & 0xFF for i in range(size - len(eth)))
    return bytearray(eth + body)


def run(t):
    obj = t.load()
    # Test run of an XDP program has no attach point: BPF_PROG_TEST_RUN is the trigger.
    size = 9000
    out = obj.test_run("xdp_frags", data=bytes(_packet(size)), data_out_size=size)
    res = obj.bss_u64(11)
    linear = res[3]
    t.detail("page_size", mmap.PAGESIZE)
    t.detail("linear_len", linear)
    t.expect(res[10] == 1, "program ran %d times, expected 1" % res[10])
    t.expect(res[2] == size, "bpf_xdp_get_buff_len said %d, packet is %d" % (res[2], size))
    t.expect(out["retval"] == XDP_PASS, "retval %d, expected XDP_PASS" % out["retval"])
    if linear + mmap.PAGESIZE + 16 > size:
        # Big pages (64K) leave no frag->frag boundary in 9000 bytes: grow the packet
        # and measure the head again.
        size = linear + mmap.PAGESIZE + 1024
        obj.test_run("xdp_frags", data=bytes(_packet(size)), data_out_size=size)
        linear = obj.bss_u64(11)[3]
        t.detail("grown_to", size)
    t.expect(linear < size, "the packet was not split into frags (linear %d of %d)"
             % (linear, size))
    # test_run puts the first `linear` bytes in the head, then page-sized frags.
    off_a, off_b = linear, linear + mmap.PAGESIZE
    t.detail("boundaries", [off_a, off_b])
    pkt = _packet(size)
    pkt[off_a - 4:off_a + 4] = MARK_A
    pkt[off_b - 4:off_b + 4] = MARK_B
    obj.bss_set_u64(0, off_a)
    obj.bss_set_u64(1, off_b)
    out = obj.test_run("xdp_frags", data=bytes(pkt), data_out_size=size)
    res = obj.bss_u64(11)
    got_a = struct.pack("=Q", res[4])
    got_b = struct.pack("=Q", res[5])
    t.detail("buff_len", res[2])
    t.detail("rcs", {"load_a": _signed(res[6]), "load_b": _signed(res[7]),
                     "store_a": _signed(res[8]), "store_b": _signed(res[9])})
    t.detail("read", [got_a.decode("latin-1"), got_b.decode("latin-1")])
    t.expect(res[2] == size, "bpf_xdp_get_buff_len said %d, packet is %d" % (res[2], size))
    t.expect(res[3] == linear, "linear length changed from %d to %d" % (linear, res[3]))
    for name, idx in (("load_bytes a", 6), ("load_bytes b", 7), ("store_bytes a", 8),
                      ("store_bytes b", 9)):
        t.expect(res[idx] == 0, "bpf_xdp_%s returned %d" % (name.replace(" ", " at "),
                                                             _signed(res[idx])))
    t.expect(got_a == MARK_A, "read %r across head->frag, expected %r" % (got_a, MARK_A))
    t.expect(got_b == MARK_B, "read %r across frag->frag, expected %r" % (got_b, MARK_B))
    data = out["data"]
    t.detail("data_out_len", len(data))
    t.expect(len(data) == size, "output packet is %d bytes, expected %d" % (len(data), size))
    want = bytearray(pkt)
    want[off_a - 4:off_a + 4] = bytes(~c & 0xFF for c in MARK_A)
    want[off_b - 4:off_b + 4] = bytes(~c & 0xFF for c in MARK_B)
    if data != bytes(want):
        first = next(i for i in range(min(len(data), len(want))) if data[i] != want[i])
        t.fail("output packet differs from the expected one first at byte %d" % first)
