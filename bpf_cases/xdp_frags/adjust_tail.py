"""xdp_frags: bpf_xdp_adjust_tail shrinking and growing a multi-buffer packet."""

import errno
import mmap

CASE = {
    "description": "bpf_xdp_adjust_tail on a multi-frag packet from BPF_PROG_TEST_RUN: shrink "
                   "that frees the last frag, shrink back into the head, grow into the last "
                   "frag's tailroom, and a grow past it refused with -EINVAL",
    "requires": {"probes": ["xdp_frags"],
                 "btf_funcs": ["bpf_xdp_get_buff_len", "bpf_xdp_adjust_tail"]},
}


def _packet(size):
    return b"\xff" * 6 + b"\x02\x00\x00\x00\x00\x01\x08\x00" + \
        bytes((i * 11 + 5) & 0xFF for i in range(size - 14))


def _adjust(t, obj, pkt, delta):
    """Run the program on `pkt` with `delta`: (rc, buffer length after, output bytes)."""
    obj.bss.delta = delta
    out = obj.test_run("adjust", data=pkt, data_out_size=len(pkt) + max(delta, 0) + 64)
    t.expect_eq(out["retval"], 2, "retval (XDP_PASS)")
    return obj.bss.rc, obj.bss.len_after, out["data"]


def run(t):
    obj = t.load()
    page = mmap.PAGESIZE
    # How much of a packet test_run puts in the head; the rest goes into page-sized frags.
    size = 9000
    _adjust(t, obj, _packet(size), 0)
    if obj.bss.linear_before + page + 64 > size:  # 64K pages: make sure there are two frags
        size = obj.bss.linear_before + page + page // 3
        _adjust(t, obj, _packet(size), 0)
    linear, pkt = obj.bss.linear_before, _packet(size)
    frags = (size - linear + page - 1) // page
    last = size - linear - page * (frags - 1)
    t.detail("packet", {"size": size, "linear": linear, "frags": frags, "last_frag": last})
    t.expect_eq(obj.bss.len_before, size, "bpf_xdp_get_buff_len")
    t.expect(frags >= 2, "the packet has %d frags; the case needs 2" % frags)
    # Shrink by the whole last frag plus 100 bytes of the one before it.
    d = -(last + 100)
    t.expect_eq(_adjust(t, obj, pkt, d), (0, size + d, pkt[:size + d]), "shrink_past_last_frag")
    # Shrink away every frag and 10 bytes of the head.
    d = -(size - linear + 10)
    t.expect_eq(_adjust(t, obj, pkt, d) + (obj.bss.linear_after,),
                (0, linear - 10, pkt[:linear - 10], linear - 10), "shrink_into_head")
    # Grow into the last frag's tailroom: the new bytes read as zeros.
    d = min(1000, page - last)
    t.expect_eq(_adjust(t, obj, pkt, d), (0, size + d, pkt + bytes(d)), "grow_last_frag")
    # Growing past the tailroom would need a new frag: the helper refuses.
    t.expect_eq(_adjust(t, obj, pkt, page - last + 1), (-errno.EINVAL, size, pkt),
                "grow_past_tailroom")
