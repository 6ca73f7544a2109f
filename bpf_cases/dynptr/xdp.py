"""dynptr: bpf_dynptr_from_xdp across a multi-buffer packet's frags, run by BPF_PROG_TEST_RUN."""

import errno
import mmap

CASE = {
    "description": "bpf_dynptr_from_xdp in xdp.frags on a >4k packet: bpf_dynptr_read/slice/"
                   "write across the head->frag boundary and at the end of the last frag",
    "requires": {"probes": ["dynptr"], "kfuncs": ["bpf_dynptr_from_xdp", "bpf_dynptr_slice"],
                 "btf_funcs": ["bpf_dynptr_read", "bpf_dynptr_write"]},
}

MARK, TAIL, SIZE = b"KMxXFRG!", b"KMxTAIL!", max(9000, 2 * mmap.PAGESIZE + 1024)
PACKET = b"\xff" * 6 + b"\x02\x00\x00\x00\x00\x01\x08\x00" + \
    bytes((i * 13 + 5) & 0xFF for i in range(SIZE - 14))


def run(t):
    obj = t.load()
    obj.test_run("xdp_dynptr", data=PACKET, data_out_size=SIZE)
    linear = t.detail("linear_len", obj.bss.linear_len)
    t.expect(linear < SIZE, "no frags: the linear part is %d of %d bytes" % (linear, SIZE))
    pkt = PACKET[:linear - 4] + MARK + PACKET[linear + 4:SIZE - 8] + TAIL
    obj.bss.boundary, obj.bss.pkt_len = linear, SIZE
    out = obj.test_run("xdp_dynptr", data=pkt, data_out_size=SIZE)
    t.expect_eq([out["retval"], obj.bss.runs], [2, 2], "retval (XDP_PASS), runs")
    t.expect_values(obj.bss, from_xdp_rc=0, read_rc=0, across=MARK, sliced=MARK, slice_copied=True,
                    read_tail_rc=0, tail=TAIL, write_rc=0, past_end_rc=-errno.E2BIG)
    t.expect_eq(out["data"], pkt[:linear - 4] + bytes(~c & 0xFF for c in MARK) + pkt[linear + 4:],
                "output packet")
