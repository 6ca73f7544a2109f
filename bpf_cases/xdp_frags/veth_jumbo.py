"""xdp_frags: native xdp.frags on a real veth pair (MTU 9000) in a netns the case owns."""

import struct
import time

try:
    from kmatrix_agent import net
except ImportError:  # run from a checkout
    from kmatrix.agent import net

CASE = {
    "description": "veth pair with MTU 9000 in a private netns: xdp.frags attached in native "
                   "mode counts jumbo frames sent over AF_PACKET, their bytes and trailers",
    "requires": {"probes": ["xdp_frags"],
                 "btf_funcs": ["bpf_xdp_get_buff_len", "bpf_xdp_load_bytes"],
                 "config": ["CONFIG_VETH"]},
    "timeout": 60,
}

MTU = 9000
ETHERTYPE = 0x88B5
# Frame lengths on the wire (header included): the largest the MTU allows, one
# that needs two frags on 4K pages, and one that fits the linear part.
SIZES = (MTU + 14, 6000, 300)


def _frame(size, seq):
    # dst, src (locally administered), EtherType, a pattern, then the length as trailer.
    head = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + struct.pack("!H", ETHERTYPE)
    body = bytes(((i + seq) * 13) & 0xFF for i in range(size - len(head) - 8))
    return head + body + struct.pack("=Q", size)


def run(t):
    veth = net.veth_pair(t, mtu=MTU)
    obj = t.load()
    # The receiving end gets the program: frames sent on kmx0 arrive on kmx1.
    net.xdp_attach(t, veth, veth.b, obj, "count_jumbo", net.XDP_FLAGS_DRV_MODE)
    t.detail("xdp_mode", net.xdp_mode(veth, veth.b))
    frames = [_frame(s, i) for i, s in enumerate(SIZES)]
    want = sum(len(f) for f in frames)

    def sent(res):
        return res[0] >= len(frames)

    veth.send(frames)
    res = t.wait_bss(obj, 7, done=sent, trigger=lambda: time.sleep(0.01), timeout=5.0)
    frames_seen, nbytes, multi, largest, min_linear, trailers, other = res
    t.detail("frames", frames_seen)
    t.detail("bytes", nbytes)
    t.detail("multi_buffer_frames", multi)
    t.detail("largest", largest)
    t.detail("smallest_linear", min_linear)
    t.detail("trailers_ok", trailers)
    t.detail("other_frames", other)
    t.expect(frames_seen == len(frames), "the XDP program counted %d of our %d frames"
             % (frames_seen, len(frames)))
    t.expect(nbytes == want, "the XDP program counted %d bytes, we sent %d" % (nbytes, want))
    t.expect(largest == SIZES[0], "largest frame seen %d bytes, sent %d" % (largest, SIZES[0]))
    t.expect(multi >= 1, "no frame arrived as multi-buffer (linear part >= frame length)")
    t.expect(trailers == len(frames), "bpf_xdp_load_bytes read the right trailer in %d of %d "
             "frames" % (trailers, len(frames)))
