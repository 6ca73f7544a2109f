"""forward: native XDP_TX on a veth bounces frames back to their sender."""

CASE = {
    "description": "native XDP on a veth pair: XDP_TX sends the check's frames back out of the "
                   "device they arrived on, rewritten (MACs swapped, new EtherType); the peer's "
                   "XDP program and an AF_PACKET socket there see every one",
    "requires": {"config": ["CONFIG_VETH"]},
}

DST, SRC = b"\x02\x00\x00\x00\x00\x02", b"\x02\x00\x00\x00\x00\x01"
FRAMES = [DST + SRC + b"\x88\xb5" + bytes([n]) * (46 + 200 * n) for n in range(4)]
BOUNCED = [SRC + DST + b"\x88\xb6" + f[14:] for f in FRAMES]


def run(t):
    veth = t.net.veth_pair(t)
    obj = t.load()
    # On veth, an XDP_TX frame goes to the peer's XDP receive queue: older kernels
    # (5.10) drop it unless the peer runs an XDP program too.
    t.net.xdp_attach(t, veth, veth.a, obj, "catch_bounced")
    t.net.xdp_attach(t, veth, veth.b, obj, "bounce")
    t.detail("xdp_modes", [t.net.xdp_mode(veth, veth.a), t.net.xdp_mode(veth, veth.b)])
    rx = t.net.packet_socket(veth.ns, veth.a, 0x88B6)
    t.defer(rx.close)
    veth.send(FRAMES)
    got = t.net.recv_frames(rx, len(FRAMES))
    t.expect_eq(sorted(got), sorted(BOUNCED), "bounced frames back at kmx0")
    t.expect_values(obj.bss, bounced=len(FRAMES), caught=len(FRAMES),
                    caught_bytes=sum(len(f) for f in FRAMES))
