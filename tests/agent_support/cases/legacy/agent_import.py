# ruff: noqa: UP031  (target code: Python 3.7, %-formatting as the checks of that time)
"""Test-only, kept verbatim from before issue 12: xdp_frags/frags_unaware_refused written against the old
API (`__u64 res[N]`, bss_u64/bss_set_u64, wait_bss, t.expect, CASE["expect_reject"],
`from kmatrix_agent import ...`); it must keep passing (tests/test_case_api.py).

xdp_frags: a frags-unaware XDP program must be refused on a jumbo-MTU veth.
"""

import errno
import time

try:
    from kmatrix_agent import net
except ImportError:  # run from a checkout
    from kmatrix.agent import net

CASE = {
    "description": "plain SEC(\"xdp\") in native mode on a veth whose peer has MTU 9000 is "
                   "refused with ERANGE (\"Peer MTU is too large\"); xdp.frags is accepted "
                   "and runs on a jumbo frame",
    "requires": {"probes": ["xdp_frags"],
                 "config": ["CONFIG_VETH"]},
    "timeout": 60,
}

MTU = 9000
# veth's own words (extack) since 4.x; libbpf prints them as "Kernel error message".
EXTACK = "MTU is too large"


def run(t):
    veth = net.veth_pair(t, mtu=MTU)
    obj = t.load()
    try:
        net.xdp_attach(t, veth, veth.b, obj, "unaware", net.XDP_FLAGS_DRV_MODE)
    except net.AttachFailed as e:
        name = errno.errorcode.get(e.errno, str(e.errno))
        said = [ln.strip() for ln in (e.log or "").splitlines() if "error message" in ln]
        t.detail("refused_errno", name)
        t.detail("kernel_message", said[0] if said else None)
        t.expect(e.errno == errno.ERANGE, "refused, but with %s instead of -ERANGE"
                 % net.errno_text(e.errno))
        t.expect(any(EXTACK in s for s in said),
                 "refused with ERANGE, but libbpf logged no kernel message containing %r (log: %s)"
                 % (EXTACK, " / ".join(ln.strip() for ln in (e.log or "").splitlines()[-3:])))
    else:
        t.fail("a frags-unaware XDP program was attached in native mode to a veth whose peer "
               "has MTU %d; the kernel must refuse it" % MTU)
    # The same device takes the frags-aware program, and a jumbo frame reaches it.
    net.xdp_attach(t, veth, veth.b, obj, "aware", net.XDP_FLAGS_DRV_MODE)
    frame = b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x88\xb5" + b"\x5a" * MTU
    veth.send([frame])
    res = t.wait_bss(obj, 2, done=lambda r: r[1] >= 1, trigger=lambda: time.sleep(0.01), timeout=5.0)
    t.detail("runs", {"unaware": res[0], "aware": res[1]})
    t.expect(res[1] >= 1, "the frags-aware program never ran on the %d-byte frame" % len(frame))
    t.expect(res[0] == 0, "the refused program ran %d times" % res[0])
