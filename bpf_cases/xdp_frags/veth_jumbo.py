"""xdp_frags: native xdp.frags on a real veth pair (MTU 9000) in a netns the case owns."""

import struct
import time

CASE = {
    "description": "veth pair with MTU 9000 in a private netns: xdp.frags attached in native "
                   "mode counts jumbo frames sent over AF_PACKET, their bytes and trailers",
    "requires": {"probes": ["xdp_frags"], "config": ["CONFIG_VETH"],
                 "btf_funcs": ["bpf_xdp_get_buff_len", "bpf_xdp_load_bytes"]},
}

MTU = 9000
# Frame lengths on the wire: the largest the MTU allows, one that needs two frags on
# 4K pages, and one that fits the linear part.
SIZES = (MTU + 14, 6000, 300)
HEAD = b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x88\xb5"  # dst, src, EtherType


def run(t):
    veth = t.net.veth_pair(t, mtu=MTU)
    obj = t.load()
    # The receiving end gets the program: frames sent on kmx0 arrive on kmx1.
    t.net.xdp_attach(t, veth, veth.b, obj, "count_jumbo", t.net.XDP_FLAGS_DRV_MODE)
    t.detail("xdp_mode", t.net.xdp_mode(veth, veth.b))
    # Each frame: the header, a pattern, then its own length as a trailer.
    veth.send([HEAD + bytes((i * 13 + n) & 0xFF for i in range(n - 22)) + struct.pack("=Q", n)
               for n in SIZES])
    t.wait(lambda: obj.bss.frames >= len(SIZES), trigger=lambda: time.sleep(0.01))
    t.expect_values(obj.bss, frames=len(SIZES), bytes=sum(SIZES), largest=SIZES[0],
                    trailers_ok=len(SIZES))
    t.expect_ge(obj.bss.multi_buffer, 1, "multi_buffer")
    t.detail("smallest_linear, other_frames", [obj.bss.smallest_linear, obj.bss.other_frames])
