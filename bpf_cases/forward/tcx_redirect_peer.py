"""forward: tcx ingress link (6.6+) with bpf_redirect_peer into a veth peer in another netns."""

CASE = {
    "description": "tcx ingress link (BPF_LINK_CREATE, BPF_TCX_INGRESS) on a veth moves the "
                   "check's frames with bpf_redirect_peer to the ingress of another veth's "
                   "peer in a second netns; they arrive intact",
    # tcx is where the kernel has its link code; BTF names it (a real attach follows).
    "requires": {"config": ["CONFIG_VETH"], "btf_funcs": ["tcx_link_attach"]},
}

ETHERTYPE = 0x88B5
HEAD = b"\x02\x00\x00\x00\x00\x03\x02\x00\x00\x00\x00\x01\x88\xb5"  # dst, src, EtherType
FRAMES = [HEAD + bytes([n]) * (46 + 100 * n) for n in range(4)]
TC_ACT_REDIRECT = 7


def run(t):
    wire = t.net.veth_pair(t, names=("kmx0", "kmx1"))
    other = t.net.netns(t)
    cont = t.net.veth_pair(t, names=("kmx2", "kmx3"), ns=wire.ns, peer_ns=other)
    obj = t.load()
    obj.bss.target_ifindex = cont.ifindex_a
    with wire.ns.inside():  # the ifindex is the namespace's own
        t.net.link_create(t, obj.prog_fd("tcx_to_peer"), wire.ifindex_a,
                          t.net.BPF_TCX_INGRESS, "tcx ingress of kmx0")
    rx = t.net.packet_socket(other, "kmx3", ETHERTYPE)
    t.defer(rx.close)
    wire.send(FRAMES, dev="kmx1")
    got = t.net.recv_frames(rx, len(FRAMES))
    t.expect_eq(sorted(got), sorted(FRAMES), "frames at kmx3 in the other netns")
    t.expect_values(obj.bss, seen=len(FRAMES), verdict=TC_ACT_REDIRECT)
