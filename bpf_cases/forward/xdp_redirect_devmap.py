"""forward: native XDP_REDIRECT through a devmap from one veth pair to another."""

import struct

CASE = {
    "description": "native XDP on veths: bpf_redirect_map through a DEVMAP sends the check's "
                   "frames from kmx1 out of kmx2; kmx3's XDP program and an AF_PACKET socket "
                   "there see every one, intact",
    "requires": {"config": ["CONFIG_VETH"]},
}

HEAD = b"\x02\x00\x00\x00\x00\x03\x02\x00\x00\x00\x00\x01\x88\xb5"  # dst, src, EtherType
FRAMES = [HEAD + bytes([n]) * (46 + 200 * n) for n in range(4)]
XDP_REDIRECT = 4


def run(t):
    # kmx0 -> kmx1 (redirect) -> out of kmx2 -> kmx3 (catch), one namespace.
    first = t.net.veth_pair(t, names=("kmx0", "kmx1"))
    second = t.net.veth_pair(t, names=("kmx2", "kmx3"), ns=first.ns)
    obj = t.load()
    with first.ns.inside():  # a devmap resolves the ifindex in the updater's namespace
        obj.update("tx_port", struct.pack("=I", 0), struct.pack("=I", second.ifindex_a))
    # A veth transmits XDP frames into its peer's XDP receive queue: the peer needs a
    # program on older kernels (5.10).
    t.net.xdp_attach(t, second, second.b, obj, "catch_redirected")
    t.net.xdp_attach(t, first, first.b, obj, "redirect")
    t.detail("xdp_modes", [t.net.xdp_mode(first, first.b), t.net.xdp_mode(second, second.b)])
    rx = t.net.packet_socket(first.ns, "kmx3", 0x88B5)
    t.defer(rx.close)
    first.send(FRAMES)
    got = t.net.recv_frames(rx, len(FRAMES))
    t.expect_eq(sorted(got), sorted(FRAMES), "frames at kmx3")
    t.expect_values(obj.bss, redirected=len(FRAMES), verdict=XDP_REDIRECT,
                    caught=len(FRAMES), caught_bytes=sum(len(f) for f in FRAMES))
