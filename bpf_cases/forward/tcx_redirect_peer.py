"""forward: tcx ingress link (6.6+) with bpf_redirect_peer into a veth peer in another netns."""

CASE = {
    "description": "tcx ingress link (BPF_LINK_CREATE, BPF_TCX_INGRESS) on a veth moves the "
                   "check's frames with bpf_redirect_peer to the ingress of another veth's "
                   "peer in a second netns; they arrive intact",
    # tcx is where the kernel has its link code; BTF names it (a real attach follows).
    "requires": {"config": ["CONFIG_VETH"], "btf_funcs": ["tcx_link_attach"]},
}

TC_ACT_REDIRECT = 7


def run(t):
    wire, cont, rx = t.net.two_hops(t)
    frames = t.net.frames(4, 100, dst=3)
    obj = t.load()
    obj.bss.target_ifindex = cont.ifindex_a
    with wire.ns.inside():  # the ifindex is the namespace's own
        t.net.link_create(t, obj.prog_fd("tcx_to_peer"), wire.ifindex_a,
                          t.net.BPF_TCX_INGRESS, "tcx ingress of kmx0")
    wire.send(frames, dev="kmx1")
    got = t.net.recv_frames(rx, len(frames))
    t.expect_eq(sorted(got), sorted(frames), "frames at kmx3 in the other netns")
    t.expect_values(obj.bss, seen=len(frames), verdict=TC_ACT_REDIRECT)
