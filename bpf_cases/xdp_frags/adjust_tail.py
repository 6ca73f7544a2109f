"""xdp_frags: bpf_xdp_adjust_tail shrinking and growing a multi-buffer packet."""

import errno
import mmap

CASE = {
    "description": "bpf_xdp_adjust_tail on a multi-frag packet from BPF_PROG_TEST_RUN: shrink "
                   "that frees the last frag, shrink back into the head, grow into the last "
                   "frag's tailroom, and a grow past it refused with -EINVAL",
    "requires": {"probes": ["xdp_frags"],
                 "btf_funcs": ["bpf_xdp_get_buff_len", "bpf_xdp_adjust_tail"]},
    "timeout": 60,
}

XDP_PASS = 2


def _signed(v):
    return v - (1 << 64) if v >= (1 << 63) else v


def _packet(size):
    eth = b"\xff" * 6 + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00"
    return eth + bytes((i * 11 + 5) & 0xFF for i in range(size - len(eth)))


class Runner(object):
    def __init__(self, t, obj):
        self.t = t
        self.obj = obj

    def adjust(self, pkt, delta):
        """Run the program with `delta`; returns (rc, res, output bytes)."""
        self.obj.bss_set_u64(0, delta)
        out = self.obj.test_run("adjust", data=pkt, data_out_size=len(pkt) + max(delta, 0) + 64)
        res = self.obj.bss_u64(7)
        self.t.expect(out["retval"] == XDP_PASS, "retval %d, expected XDP_PASS" % out["retval"])
        return _signed(res[1]), res, out["data"]


def run(t):
    obj = t.load()
    page = mmap.PAGESIZE
    r = Runner(t, obj)
    # How much of a packet test_run puts in the head; the rest goes into page-sized frags.
    size = 9000
    _rc, res, _ = r.adjust(_packet(size), 0)
    linear = res[4]
    if linear + page + 64 > size:  # 64K pages: make sure there are two frags
        size = linear + page + page // 3
        _rc, res, _ = r.adjust(_packet(size), 0)
        linear = res[4]
    frag_bytes = size - linear
    nfrags = (frag_bytes + page - 1) // page
    last = frag_bytes - page * (nfrags - 1)
    t.detail("page_size", page)
    t.detail("packet", {"size": size, "linear": linear, "frags": nfrags, "last_frag": last})
    t.expect(res[2] == size, "bpf_xdp_get_buff_len said %d, packet is %d" % (res[2], size))
    t.expect(nfrags >= 2, "the packet has %d frags; the case needs 2" % nfrags)
    pkt = _packet(size)

    steps = {}

    # 1. Shrink by the whole last frag plus 100 bytes of the one before it.
    delta = -(last + 100)
    rc, res, data = r.adjust(pkt, delta)
    steps["shrink_past_last_frag"] = {"delta": delta, "rc": rc, "len": res[3]}
    t.expect(rc == 0, "shrinking by %d returned %d" % (-delta, rc))
    t.expect(res[3] == size + delta, "after shrinking by %d the buffer is %d bytes, expected %d"
             % (-delta, res[3], size + delta))
    t.expect(data == pkt[:size + delta], "after shrinking by %d the packet is not its own "
             "prefix (%d bytes out)" % (-delta, len(data)))

    # 2. Shrink away every frag and 10 bytes of the head.
    delta = -(frag_bytes + 10)
    rc, res, data = r.adjust(pkt, delta)
    steps["shrink_into_head"] = {"delta": delta, "rc": rc, "len": res[3], "linear": res[5]}
    t.expect(rc == 0, "shrinking by %d returned %d" % (-delta, rc))
    t.expect(res[3] == linear - 10 and res[5] == linear - 10,
             "after dropping all frags the buffer is %d bytes (linear %d), expected %d"
             % (res[3], res[5], linear - 10))
    t.expect(data == pkt[:linear - 10], "after dropping all frags the packet is not its prefix")

    # 3. Grow into the last frag's tailroom: the new bytes read as zeros.
    room = page - last
    grow = min(1000, room)
    rc, res, data = r.adjust(pkt, grow)
    steps["grow_last_frag"] = {"delta": grow, "rc": rc, "len": res[3], "tailroom": room}
    t.expect(rc == 0, "growing by %d (tailroom %d) returned %d" % (grow, room, rc))
    t.expect(res[3] == size + grow, "after growing by %d the buffer is %d bytes, expected %d"
             % (grow, res[3], size + grow))
    t.expect(data == pkt + b"\0" * grow, "after growing by %d the packet is not the original "
             "plus zeros (%d bytes out)" % (grow, len(data)))

    # 4. Growing past the tailroom would need a new frag: the helper refuses.
    rc, res, data = r.adjust(pkt, room + 1)
    steps["grow_past_tailroom"] = {"delta": room + 1, "rc": rc, "len": res[3]}
    t.detail("steps", steps)
    t.expect(rc == -errno.EINVAL, "growing past the tailroom by 1 returned %d, expected -EINVAL"
             % rc)
    t.expect(res[3] == size and data == pkt, "a refused grow changed the packet")
