"""forward: tc (clsact) ingress bpf_redirect to another veth's egress."""

CASE = {
    "description": "tc clsact ingress program (bpf_tc_attach) on a veth sends the check's frames "
                   "out of another veth with bpf_redirect; they arrive intact at its peer in a "
                   "second netns, counted as transmitted by the veth they left through",
    "requires": {"config": ["CONFIG_VETH", "CONFIG_NET_SCH_INGRESS", "CONFIG_NET_CLS_BPF"]},
}

TC_ACT_REDIRECT = 7


def run(t):
    # kmx1 -> kmx0 (ingress: the program) -> out of kmx2 -> kmx3 in namespace B.
    wire, out, rx = t.net.two_hops(t)
    frames = t.net.frames(4, 100, dst=3)
    obj = t.load()
    obj.bss.target_ifindex = out.ifindex_a
    t.net.tc_attach(t, wire.ns, wire.ifindex_a, obj.prog_fd("to_egress"))
    t.net.disable_ipv6(wire.ns, "kmx2")  # its counter then moves only with our frames
    tx_before = t.net.dev_stats(wire.ns, "kmx2")["tx_packets"]
    wire.send(frames, dev="kmx1")
    got = t.net.recv_frames(rx, len(frames))
    t.expect_eq(sorted(got), sorted(frames), "frames at kmx3 in the other netns")
    t.expect_values(obj.bss, seen=len(frames), verdict=TC_ACT_REDIRECT)
    t.expect_eq(t.net.dev_stats(wire.ns, "kmx2")["tx_packets"] - tx_before, len(frames),
                "packets kmx2 transmitted")
