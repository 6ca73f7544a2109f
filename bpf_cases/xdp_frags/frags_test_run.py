"""xdp_frags: xdp.frags program on a 9000-byte packet via BPF_PROG_TEST_RUN."""

import mmap

CASE = {
    "description": "xdp.frags with BPF_PROG_TEST_RUN on 9000 bytes: get_buff_len and "
                   "load/store_bytes across head->frag and frag->frag boundaries",
    "requires": {"probes": ["xdp_frags"],
                 "btf_funcs": ["bpf_xdp_get_buff_len", "bpf_xdp_load_bytes",
                               "bpf_xdp_store_bytes"]},
}

MARK_A, MARK_B = b"KMxHEAD!", b"KMxFRAG!"


def _packet(size):
    # Ethernet header, then a byte pattern so misplaced bytes show up.
    return b"\xff" * 6 + b"\x02\x00\x00\x00\x00\x01\x08\x00" + \
        bytes((i * 7 + 3) & 0xFF for i in range(size - 14))


def _flip(b):
    return bytes(~c & 0xFF for c in b)


def run(t):
    obj = t.load()
    bss = obj.bss
    # Test run of an XDP program has no attach point: BPF_PROG_TEST_RUN is the trigger.
    size = 9000
    out = obj.test_run("xdp_frags", data=_packet(size), data_out_size=size)
    t.expect_eq([bss.runs, bss.buff_len, out["retval"]], [1, size, 2],
                "first run: runs, buff_len, retval (XDP_PASS)")
    if bss.linear_len + mmap.PAGESIZE + 16 > size:
        # Big pages (64K) leave no frag->frag boundary in 9000 bytes: grow the packet.
        size = t.detail("grown_to", bss.linear_len + mmap.PAGESIZE + 1024)
        obj.test_run("xdp_frags", data=_packet(size), data_out_size=size)
    linear = bss.linear_len
    t.expect(linear < size, "the packet was not split into frags (linear %d of %d)"
             % (linear, size))
    # test_run puts the first `linear` bytes in the head, then page-sized frags.
    a, b = linear, linear + mmap.PAGESIZE
    bss.boundary_a, bss.boundary_b = a, b
    pkt = bytearray(_packet(size))
    pkt[a - 4:a + 4], pkt[b - 4:b + 4] = MARK_A, MARK_B
    t.detail("boundaries", [a, b])
    t.detail("page_size", mmap.PAGESIZE)
    out = obj.test_run("xdp_frags", data=bytes(pkt), data_out_size=size)
    t.expect_eq(bss.buff_len, size, "buff_len")
    t.expect_eq(bss.linear_len, linear, "linear_len")
    for rc in ("load_a_rc", "load_b_rc", "store_a_rc", "store_b_rc"):
        t.expect_eq(bss[rc], 0, rc)
    t.expect_eq([bss.read_a, bss.read_b], [MARK_A, MARK_B], "read")  # across both boundaries
    pkt[a - 4:a + 4], pkt[b - 4:b + 4] = _flip(MARK_A), _flip(MARK_B)
    t.expect_eq(len(out["data"]), size, "data_out_len")
    t.expect_eq(out["data"], bytes(pkt), "output packet")
