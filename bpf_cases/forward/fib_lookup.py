"""forward: bpf_fib_lookup returns the route's egress device and the neighbour's MACs."""

import socket

CASE = {
    "description": "bpf_fib_lookup from an XDP program (BPF_PROG_TEST_RUN in a private netns "
                   "with forwarding on): a routed destination gives SUCCESS with the egress "
                   "ifindex and the source and next-hop MACs; an unrouted one NOT_FWDED",
    "requires": {"config": ["CONFIG_VETH"]},
}

OUR_MAC, GW_MAC = "02:00:00:00:00:10", "02:00:00:00:00:20"
ROUTED, UNROUTED = "10.88.0.9", "10.99.0.9"
SUCCESS, NOT_FWDED = 0, 4  # BPF_FIB_LKUP_RET_*


def _mac(text):
    return bytes(int(x, 16) for x in text.split(":"))


def run(t):
    veth = t.net.veth_pair(t)
    with veth.ns.inside():
        ip = t.net.ip
        ip("link", "set", "dev", veth.a, "address", OUR_MAC)
        ip("addr", "add", "10.77.0.1/24", "dev", veth.a)
        ip("addr", "add", "10.66.0.1/24", "dev", veth.b)
        ip("route", "add", "10.88.0.0/24", "via", "10.77.0.2", "dev", veth.a)
        ip("neigh", "replace", "10.77.0.2", "lladdr", GW_MAC, "dev", veth.a, "nud", "permanent")
        with open("/proc/sys/net/ipv4/ip_forward", "w") as f:  # this namespace's own
            f.write("1")
    obj = t.load()
    obj.bss.in_ifindex = veth.ifindex_b
    obj.bss.src_ip = socket.inet_aton("10.66.0.7")

    def lookup(dst):
        obj.bss.dst_ip = socket.inet_aton(dst)
        # The test run's packet comes in on the loopback of the caller's namespace,
        # and the lookup uses that namespace's routes.
        with veth.ns.inside():
            return obj.test_run("lookup", data=bytes(64))

    out = lookup(ROUTED)
    t.expect_eq(out["retval"], 2, "retval (XDP_PASS)")
    t.expect_eq(obj.bss.rc, SUCCESS, "rc for %s" % ROUTED)
    t.expect_eq(obj.bss.out_ifindex, veth.ifindex_a, "egress ifindex (kmx0)")
    t.expect_eq(obj.bss.smac, _mac(OUR_MAC), "smac (kmx0's)")
    t.expect_eq(obj.bss.dmac, _mac(GW_MAC), "dmac (the gateway's neighbour entry)")
    lookup(UNROUTED)
    t.expect_eq(obj.bss.rc, NOT_FWDED, "rc for %s" % UNROUTED)
    t.expect_eq(obj.bss.runs, 2, "runs")
