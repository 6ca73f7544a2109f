"""xdp_frags: a frags-unaware XDP program is refused on a jumbo-MTU veth; an aware one runs."""

import errno
import time

CASE = {
    "description": "plain SEC(\"xdp\") on a veth whose peer has MTU 9000 is refused (ERANGE, "
                   "\"Peer MTU is too large\"); xdp.frags is accepted and sees a jumbo frame",
    "requires": {"probes": ["xdp_frags"], "config": ["CONFIG_VETH"]},
}

MTU = 9000


def run(t):
    veth = t.net.veth_pair(t, mtu=MTU)
    obj = t.load()
    try:
        t.net.xdp_attach(t, veth, veth.b, obj, "unaware", t.net.XDP_FLAGS_DRV_MODE)
        t.fail("a frags-unaware XDP program was attached in native mode to a veth whose peer "
               "has MTU %d; the kernel must refuse it" % MTU)
    except t.AttachFailed as e:  # with veth's own words, libbpf's "Kernel error message"
        t.expect_eq(errno.errorcode.get(e.errno, e.errno), "ERANGE", "refused_errno")
        t.expect_true(next((ln.strip() for ln in (e.log or "").splitlines() if "error message"
                            in ln and "MTU is too large" in ln), None), "kernel_message")
    t.net.xdp_attach(t, veth, veth.b, obj, "aware", t.net.XDP_FLAGS_DRV_MODE)
    veth.send([b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x88\xb5" + b"\x5a" * MTU])
    t.expect_ge(t.wait(lambda: obj.bss.aware_runs, trigger=lambda: time.sleep(0.01)), 1,
                "aware_runs")
    t.expect_eq(obj.bss.unaware_runs, 0, "unaware_runs")
