"""forward: tc (clsact) ingress bpf_redirect_peer into a veth peer in another netns."""

CASE = {
    "description": "tc clsact ingress program (bpf_tc_attach) on a veth moves the check's frames "
                   "with bpf_redirect_peer straight to the ingress of another veth's peer in a "
                   "second netns; they arrive intact and the host-side veth transmits none",
    "requires": {"config": ["CONFIG_VETH", "CONFIG_NET_SCH_INGRESS", "CONFIG_NET_CLS_BPF"]},
}

ETHERTYPE = 0x88B5
HEAD = b"\x02\x00\x00\x00\x00\x03\x02\x00\x00\x00\x00\x01\x88\xb5"  # dst, src, EtherType
FRAMES = [HEAD + bytes([n]) * (46 + 100 * n) for n in range(4)]
TC_ACT_REDIRECT = 7


def run(t):
    # kmx1 -> kmx0 (ingress: the program) ... kmx2 | kmx3 in namespace B.
    wire = t.net.veth_pair(t, names=("kmx0", "kmx1"))
    other = t.net.netns(t)
    cont = t.net.veth_pair(t, names=("kmx2", "kmx3"), ns=wire.ns, peer_ns=other)
    obj = t.load()
    obj.bss.target_ifindex = cont.ifindex_a
    t.net.tc_attach(t, wire.ns, wire.ifindex_a, obj.prog_fd("to_peer"))
    rx = t.net.packet_socket(other, "kmx3", ETHERTYPE)
    t.defer(rx.close)
    t.net.disable_ipv6(wire.ns, "kmx2")  # its counter then moves only with our frames
    tx_before = t.net.dev_stats(wire.ns, "kmx2")["tx_packets"]
    wire.send(FRAMES, dev="kmx1")
    got = t.net.recv_frames(rx, len(FRAMES))
    t.expect_eq(sorted(got), sorted(FRAMES), "frames at kmx3 in the other netns")
    t.expect_values(obj.bss, seen=len(FRAMES), verdict=TC_ACT_REDIRECT)
    t.expect_eq(t.net.dev_stats(wire.ns, "kmx2")["tx_packets"] - tx_before, 0,
                "packets kmx2 transmitted (a peer redirect skips it)")
