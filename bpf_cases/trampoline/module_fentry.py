"""trampoline: fentry/fexit on a module function (veth_xmit), triggered by veth traffic."""

import os
import time

CASE = {
    "description": "fentry/fexit on veth_xmit from the veth module's BTF, fired by frames sent "
                   "over a veth pair in a private netns",
    "requires": {"probes": ["trampoline"], "config": ["CONFIG_VETH"], "ftrace": True},
}

FRAME_LEN = 1337  # odd on purpose: only our frames match in the program
FRAMES = 3


def run(t):
    # Creating the pair loads veth.ko (rtnl-link-veth) before libbpf looks for its BTF.
    veth = t.net.veth_pair(t, mtu=1500)
    if not os.path.isdir("/sys/module/veth"):
        t.skip("environment-blocks", "no /sys/module/veth after creating a veth pair")
    if not os.path.exists("/sys/module/veth/initstate"):
        t.skip("environment-blocks", "veth is built into this kernel (CONFIG_VETH=y), so "
               "veth_xmit is not a module function here")
    if not os.path.exists("/sys/kernel/btf/veth"):
        t.skip("kernel-lacks", "the veth module has no BTF (/sys/kernel/btf/veth missing; "
               "CONFIG_DEBUG_INFO_BTF_MODULES)")
    obj = t.load()
    obj.bss.frame_len = FRAME_LEN
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
    veth.send([frame + bytes(FRAME_LEN - len(frame))] * FRAMES)
    bss = obj.bss
    t.wait(lambda: bss.entry_hits >= FRAMES and bss.exit_hits >= FRAMES,
           trigger=lambda: time.sleep(0.01), timeout=5.0)
    t.expect_eq(bss.entry_hits, FRAMES, "fentry_hits")
    t.expect_eq(bss.exit_hits, FRAMES, "fexit_hits")
    t.expect_eq(bss.ifindex, veth.ifindex_a, "ifindex")
    t.expect_eq(bss.ret, 0, "ret")  # NETDEV_TX_OK
