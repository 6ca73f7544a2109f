"""trampoline: fentry/fexit on a module function (veth_xmit), triggered by veth traffic."""

import os
import time

try:
    from kmatrix_agent import net
except ImportError:  # run from a checkout
    from kmatrix.agent import net

CASE = {
    "description": "fentry/fexit on veth_xmit from the veth module's BTF, fired by frames sent "
                   "over a veth pair in a private netns",
    "requires": {"probes": ["trampoline"],
                 "config": ["CONFIG_VETH"], "ftrace": True},
    "timeout": 60,
}

FRAME_LEN = 1337  # odd on purpose: only our frames match in the program
FRAMES = 3


def run(t):
    # Creating the pair loads veth.ko (rtnl-link-veth) before libbpf looks for its BTF.
    veth = net.veth_pair(t, mtu=1500)
    if not os.path.isdir("/sys/module/veth"):
        t.skip("environment-blocks", "no /sys/module/veth after creating a veth pair")
    if not os.path.exists("/sys/module/veth/initstate"):
        t.skip("environment-blocks", "veth is built into this kernel (CONFIG_VETH=y), so "
               "veth_xmit is not a module function here")
    if not os.path.exists("/sys/kernel/btf/veth"):
        t.skip("kernel-lacks", "the veth module has no BTF (/sys/kernel/btf/veth missing; "
               "CONFIG_DEBUG_INFO_BTF_MODULES)")
    obj = t.load()
    obj.bss_set_u64(0, FRAME_LEN)
    links = []
    try:
        links.append(t.attach(obj, "on_xmit"))
        links.append(t.attach(obj, "after_xmit"))
        _trigger_and_check(t, obj, veth)
    finally:
        # Programs on a module function pin the module; release them now so the
        # cleanup can unload veth.ko again if this case loaded it.
        for link in links:
            link.destroy()
        obj.close()


def _trigger_and_check(t, obj, veth):
    frame = b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x88\xb5"
    frame += bytes(FRAME_LEN - len(frame))
    veth.send([frame] * FRAMES)
    res = t.wait_bss(obj, 6, done=lambda r: r[1] >= FRAMES and r[3] >= FRAMES,
                     trigger=lambda: time.sleep(0.01), timeout=5.0)
    ret = res[4] - (1 << 64) if res[4] >= (1 << 63) else res[4]
    t.detail("fentry_hits", res[1])
    t.detail("fexit_hits", res[3])
    t.detail("ifindex", {"seen": res[2], "kmx0": veth.ifindex_a})
    t.detail("ret", ret)
    t.expect(res[1] == FRAMES, "fentry on veth_xmit fired %d times for our %d frames"
             % (res[1], FRAMES))
    t.expect(res[3] == FRAMES, "fexit on veth_xmit fired %d times for our %d frames"
             % (res[3], FRAMES))
    t.expect(res[2] == veth.ifindex_a, "veth_xmit ran for ifindex %d, we sent on %d"
             % (res[2], veth.ifindex_a))
    t.expect(ret == 0, "veth_xmit returned %d, expected NETDEV_TX_OK (0)" % ret)
