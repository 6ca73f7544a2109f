"""napi: threaded NAPI on a veth (sysfs `threaded`): kthreads appear, poll, and go."""

import errno
import os
import time

CASE = {
    "description": "threaded NAPI on a veth with native XDP in a private netns: writing 1 to "
                   "/sys/class/net/kmx1/threaded starts napi/kmx1-<id> kthreads, which poll the "
                   "check's frames (XDP counts them, the kthreads run); writing 0 turns it off "
                   "and the kthreads are gone once the NAPI instances are",
    "requires": {"config": ["CONFIG_VETH"]},
}

HEAD = b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x88\xb5"  # dst, src, EtherType
FRAMES = [HEAD + bytes([n]) * (46 + 100 * n) for n in range(8)]


def napi_threads(dev):
    """pid -> comm of the kthreads polling `dev`'s NAPI instances ("napi/<dev>-<id>")."""
    out = {}
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open("/proc/%s/comm" % pid) as f:
                    comm = f.read().strip()
            except OSError:
                continue  # gone meanwhile
            if comm.startswith("napi/%s-" % dev):
                out[int(pid)] = comm
    return out


def switches(pids):
    """Context switches of `pids` so far: a kthread that polled has slept again."""
    total = 0
    for pid in pids:
        try:
            with open("/proc/%d/status" % pid) as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches:",
                                        "nonvoluntary_ctxt_switches:")):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def _write(path, value):
    try:
        with open(path, "w") as f:
            f.write(value)
        return None
    except OSError as e:
        return e


def _read(path):
    with open(path) as f:
        return f.read().strip()


def run(t):
    veth = t.net.veth_pair(t)
    obj = t.load()
    t.net.xdp_attach(t, veth, veth.b, obj, "count_rx")
    knob = os.path.join(t.net.sysfs(t, veth.ns), "class", "net", veth.b, "threaded")
    if not os.path.exists(knob):
        t.skip("kernel-lacks", "no /sys/class/net/<dev>/threaded: this kernel has no threaded "
               "NAPI (added in 5.12)")
    t.expect_eq(napi_threads(veth.b), {}, "napi kthreads before")
    err = _write(knob, "1")
    if err is not None and err.errno in (errno.EOPNOTSUPP, errno.EINVAL):
        t.skip("kernel-lacks", "this kernel's veth refuses threaded NAPI: writing 1 to "
               "/sys/class/net/%s/threaded: %s" % (veth.b, t.libbpf.errno_text(err.errno)))
    t.expect(err is None, "writing 1 to %s: %s" % (knob, err))
    t.defer(_write, knob, "0")
    t.expect_eq(_read(knob), "1", "threaded after writing 1")
    t.wait(lambda: napi_threads(veth.b), trigger=lambda: time.sleep(0.05))
    threads = napi_threads(veth.b)
    t.detail("kthreads", sorted(threads.values()))
    t.expect(threads, "no napi/%s-<id> kthread appeared within 5 s" % veth.b)

    before = switches(threads)
    veth.send(FRAMES)
    t.wait(lambda: obj.bss.frames >= len(FRAMES), trigger=lambda: time.sleep(0.01))
    t.expect_values(obj.bss, frames=len(FRAMES), bytes=sum(len(f) for f in FRAMES))
    t.expect_gt(t.wait(lambda: switches(threads) - before, trigger=lambda: time.sleep(0.05)),
                0, "context switches of the napi kthreads while polling")

    t.expect(_write(knob, "0") is None, "writing 0 to %s failed" % knob)
    t.expect_eq(_read(knob), "0", "threaded after writing 0")
    # Newer kernels stop the kthreads at once; older ones when the NAPI instances go,
    # which a veth does when it goes down with XDP on.
    t.detail("kthreads stopped by writing 0", not _still(t, veth.b, 1.0))
    with veth.ns.inside():
        t.net.ip("link", "set", "dev", veth.b, "down")
    t.expect_false(_still(t, veth.b, 5.0), "napi kthreads left after the NAPI instances went")


def _still(t, dev, timeout):
    """Whether napi kthreads of `dev` are still there after up to `timeout` seconds."""
    t.wait(lambda: not napi_threads(dev), trigger=lambda: time.sleep(0.05), timeout=timeout)
    return bool(napi_threads(dev))
