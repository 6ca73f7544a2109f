"""forward: native XDP_REDIRECT through a devmap from one veth pair to another."""

import struct

CASE = {
    "description": "native XDP on veths: bpf_redirect_map through a DEVMAP sends the check's "
                   "frames from kmx1 out of kmx2; kmx3's XDP program and an AF_PACKET socket "
                   "there see every one, intact",
    "requires": {"config": ["CONFIG_VETH"]},
}

XDP_REDIRECT = 4


def run(t):
    # kmx0 -> kmx1 (redirect) -> out of kmx2 -> kmx3 (catch), one namespace.
    frames = t.net.frames(4, 200, dst=3)
    first = t.net.veth_pair(t, names=("kmx0", "kmx1"))
    second = t.net.veth_pair(t, names=("kmx2", "kmx3"), ns=first.ns)
    obj = t.load()
    with first.ns.inside():  # a devmap resolves the ifindex in the updater's namespace
        obj.update("tx_port", struct.pack("=I", 0), struct.pack("=I", second.ifindex_a))
    # A veth sends XDP frames to its peer's XDP queue: 5.10 needs a program there.
    t.net.xdp_attach(t, second, second.b, obj, "catch_redirected")
    t.net.xdp_attach(t, first, first.b, obj, "redirect")
    t.detail("xdp_modes", [t.net.xdp_mode(first, first.b), t.net.xdp_mode(second, second.b)])
    rx = t.net.packet_socket(t, first.ns, "kmx3", t.net.KMX_ETHERTYPE)
    first.send(frames)
    got = t.net.recv_frames(rx, len(frames))
    t.expect_eq(sorted(got), sorted(frames), "frames at kmx3")
    t.expect_values(obj.bss, redirected=len(frames), verdict=XDP_REDIRECT,
                    caught=len(frames), caught_bytes=sum(len(f) for f in frames))
