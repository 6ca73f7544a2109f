"""Network namespaces and veth pairs for checks, with cleanup the kernel guarantees.

The namespace is anonymous: unshare(CLONE_NEWNET) in the calling thread, keep
an fd to it, and go straight back. Nothing names it in /run/netns and the veth
pair lives only inside it, so when the fd closes (cleanup, or the agent dying
on SIGKILL) the kernel destroys the namespace and deletes the veths with it,
which also removes any XDP program attached to them.

Threads enter it with `with ns.inside():`; anything that resolves an ifindex or
creates a socket (XDP attach, AF_PACKET, if_nametoindex) and every subprocess
forked meanwhile (`ip`) then acts in the namespace. Stdlib only, Python 3.7.
"""

import contextlib
import ctypes
import errno
import os
import platform
import socket
import subprocess
import time

try:
    from . import libbpf as _lb
    from . import preflight as _preflight
    from .reasons import ENVIRONMENT_BLOCKS, KERNEL_LACKS
except ImportError:  # loaded by path in a test
    import libbpf as _lb  # type: ignore
    import preflight as _preflight  # type: ignore
    from reasons import ENVIRONMENT_BLOCKS, KERNEL_LACKS  # type: ignore

CLONE_NEWNET = 0x40000000
O_NONBLOCK = 0o4000
_DELETE_MODULE_NR = {"x86_64": 176, "aarch64": 106, "riscv64": 106}
ETH_P_ALL = 0x0003

XDP_FLAGS_UPDATE_IF_NOEXIST = 1 << 0
XDP_FLAGS_SKB_MODE = 1 << 1
XDP_FLAGS_DRV_MODE = 1 << 2

AttachFailed = _lb.AttachFailed
errno_text = _lb.errno_text

_libc = ctypes.CDLL(None, use_errno=True)


def _thread_ns_path():
    # /proc/thread-self: namespaces are per thread, and unshare() moved only this one.
    return "/proc/thread-self/ns/net"


def _setns(fd):
    if _libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, "setns(CLONE_NEWNET): %s" % os.strerror(err))


class NetNs(object):
    """An anonymous network namespace held by one fd; close() lets the kernel free it."""

    def __init__(self):
        self.fd = None
        home = os.open(_thread_ns_path(), os.O_RDONLY | os.O_CLOEXEC)
        try:
            if _libc.unshare(CLONE_NEWNET) != 0:
                err = ctypes.get_errno()
                raise OSError(err, "unshare(CLONE_NEWNET): %s" % os.strerror(err))
            try:
                self.fd = os.open(_thread_ns_path(), os.O_RDONLY | os.O_CLOEXEC)
            finally:
                _setns(home)  # never leave the agent's thread in the new namespace
        finally:
            os.close(home)

    @contextlib.contextmanager
    def inside(self):
        if self.fd is None:
            raise RuntimeError("network namespace already closed")
        home = os.open(_thread_ns_path(), os.O_RDONLY | os.O_CLOEXEC)
        try:
            _setns(self.fd)
            try:
                yield self
            finally:
                _setns(home)
        finally:
            os.close(home)

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def ip(*args):
    """Run `ip ARGS` (in the namespace the calling thread is in); raises CalledProcessError."""
    exe = _preflight.which("ip")
    if exe is None:
        raise OSError(errno.ENOENT, "the `ip` command (iproute2) is not installed")
    p = subprocess.run([exe] + [str(a) for a in args], stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, timeout=30)
    if p.returncode != 0:
        raise subprocess.CalledProcessError(p.returncode, ["ip"] + list(args),
                                            p.stdout, p.stderr)
    return p.stdout.decode("utf-8", "replace")


class Veth(object):
    """A veth pair `a` <-> `b` inside `ns` (`b` in `ns_b` when given); ifindexes are
    each namespace's own."""

    def __init__(self, ns, a, b, mtu, ns_b=None):
        self.ns = ns
        self.ns_b = ns_b or ns
        self.a = a
        self.b = b
        self.mtu = mtu
        with ns.inside():
            self.ifindex_a = socket.if_nametoindex(a)
        with self.ns_b.inside():
            self.ifindex_b = socket.if_nametoindex(b)

    def send(self, frames, dev=None):
        """Send raw Ethernet frames (bytes) out of `dev` (default: a) by AF_PACKET."""
        with self.ns.inside():
            s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        try:
            s.bind((dev or self.a, 0))
            for f in frames:
                s.send(f)
        finally:
            s.close()  # a socket pins its namespace: never keep one past the send


def netns(t):
    """A fresh anonymous netns whose fd `t` closes at cleanup; skips when refused."""
    try:
        ns = NetNs()
    except OSError as e:
        if e.errno in (errno.EPERM, errno.EACCES):
            t.skip(ENVIRONMENT_BLOCKS, "cannot create a network namespace: %s" % e)
        if e.errno == errno.EINVAL:
            t.skip(KERNEL_LACKS, "network namespaces are unavailable (CONFIG_NET_NS): %s" % e)
        raise
    t.defer(ns.close)
    return ns


def _module_loaded(name):
    return os.path.exists("/sys/module/%s/initstate" % name)


def unload_module(name, timeout=30.0):
    """delete_module(name) once nothing uses it; namespace teardown is asynchronous,
    so the module stays busy for a moment after the last veth's netns is closed."""
    deadline = time.monotonic() + timeout
    err = 0
    while _module_loaded(name):
        if _libc.syscall(ctypes.c_long(_DELETE_MODULE_NR[platform.machine()]),
                         name.encode(), O_NONBLOCK) == 0:
            return
        err = ctypes.get_errno()
        if err not in (errno.EAGAIN, errno.EBUSY, errno.EWOULDBLOCK) or \
                time.monotonic() > deadline:
            raise OSError(err, "delete_module(%s): %s" % (name, os.strerror(err)))
        time.sleep(0.1)


def ns_path(ns):
    """A path naming `ns` that `ip ... netns PATH` (another process) can open."""
    return "/proc/%d/fd/%d" % (os.getpid(), ns.fd)


def unload_at_end(t, *names):
    """Unload each module of `names` that is not loaded now, once the case is over
    (after its namespaces are gone): the target ends as it began."""
    for name in names:
        if not _module_loaded(name) and not os.path.isdir("/sys/module/" + name):
            t.defer_last(unload_module, name)


def veth_pair(t, mtu=1500, names=("kmx0", "kmx1"), ns=None, peer_ns=None):
    """A veth pair, both ends up with `mtu`, in a new netns the case owns (or in
    `ns`; with `peer_ns`, the end `b` lives there).

    Creating it may load veth.ko; the case then unloads it again at cleanup
    (after the namespace is gone), so the target ends as it began."""
    if _preflight.which("ip") is None:
        t.skip(ENVIRONMENT_BLOCKS, "the `ip` command (iproute2) is not installed on the target")
    if not _module_loaded("veth") and not os.path.isdir("/sys/module/veth"):
        t.defer(unload_module, "veth")  # registered first: runs after the netns closes
    ns = ns or netns(t)
    a, b = names
    peer = ["netns", ns_path(peer_ns)] if peer_ns is not None else []
    with ns.inside():
        try:
            ip("link", "add", a, "type", "veth", "peer", "name", b, *peer)
        except subprocess.CalledProcessError as e:
            msg = e.stderr.decode("utf-8", "replace").strip()
            if "Unknown device type" in msg or "not supported" in msg.lower():
                t.skip(KERNEL_LACKS, "cannot create a veth pair (CONFIG_VETH): %s" % msg)
            raise RuntimeError("ip link add %s type veth failed: %s" % (a, msg)) from None
    for dev, where in ((a, ns), (b, peer_ns or ns)):
        with where.inside():
            ip("link", "set", "dev", dev, "mtu", mtu)
            ip("link", "set", "dev", dev, "up")
    return Veth(ns, a, b, mtu, peer_ns)


def _xdp_call(lb, ifindex, prog_fd, flags):
    fn = getattr(lb.lib, "bpf_xdp_attach", None)
    ctypes.set_errno(0)
    if fn is not None:
        fn.restype = ctypes.c_int
        fn.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_uint32, ctypes.c_void_p]
        return fn(ifindex, prog_fd, flags, None), "bpf_xdp_attach"
    old = lb.lib.bpf_set_link_xdp_fd  # libbpf < 0.8
    old.restype = ctypes.c_int
    old.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_uint32]
    return old(ifindex, prog_fd, flags), "bpf_set_link_xdp_fd"


def xdp_attach(t, veth, dev, obj, prog, flags=XDP_FLAGS_DRV_MODE):
    """Attach over netlink (so the kernel's extack reaches the libbpf log) to `dev`.

    Raises AttachFailed with the errno; the program is detached at cleanup (and
    in any case goes with the namespace)."""
    lb = t.lib
    fd = obj.prog_fd(prog)
    ifindex = veth.ifindex_a if dev == veth.a else veth.ifindex_b
    ns = veth.ns if dev == veth.a else veth.ns_b
    with ns.inside():
        rc, op = _xdp_call(lb, ifindex, fd, flags)
    if rc < 0:
        raise _lb.AttachFailed("%s(%s on %s, flags=%#x)" % (op, prog, dev, flags),
                               ctypes.get_errno() or -rc, lb.take_log())

    def detach():
        if ns.fd is None:
            return  # the namespace, and the device with it, is already gone
        with ns.inside():
            _xdp_call(lb, ifindex, -1, flags)

    t.defer(detach)


def xdp_mode(veth, dev):
    """'xdp' (native), 'xdpgeneric', 'xdpoffload' or None, as `ip link show` reports it."""
    with (veth.ns if dev == veth.a else veth.ns_b).inside():
        out = ip("-d", "link", "show", "dev", dev)
    for word in ("xdpoffload", "xdpgeneric", "xdpmulti", "xdpdrv", "xdp"):
        if (" %s " % word) in out or ("%s/" % word) in out or out.rstrip().endswith(word):
            return word
    return None


# -- attach points of network programs: cgroups, netns links, tc -----------------------

BPF_CGROUP_INET_EGRESS = 1
BPF_SK_SKB_STREAM_PARSER = 4
BPF_SK_SKB_STREAM_VERDICT = 5
BPF_SK_MSG_VERDICT = 7
BPF_CGROUP_INET4_CONNECT = 10
BPF_CGROUP_SYSCTL = 18
BPF_TCX_INGRESS = 46
BPF_TC_INGRESS = 1
BPF_TC_EGRESS = 2


def _errno_of(rc):
    return ctypes.get_errno() or (-rc if rc < 0 else errno.EINVAL)


def prog_attach(t, prog_fd, target_fd, attach_type, what):
    """bpf_prog_attach (the oldest attach API: cgroups, sockmaps); detached at cleanup.
    Raises AttachFailed with the errno."""
    lib = t.lib.lib
    lib.bpf_prog_attach.restype = ctypes.c_int
    lib.bpf_prog_attach.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_uint]
    ctypes.set_errno(0)
    rc = lib.bpf_prog_attach(prog_fd, target_fd, attach_type, 0)
    if rc < 0:
        raise _lb.AttachFailed("bpf_prog_attach(%s)" % what, _errno_of(rc), t.lib.take_log())

    def detach():
        lib.bpf_prog_detach2.restype = ctypes.c_int
        lib.bpf_prog_detach2.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
        lib.bpf_prog_detach2(prog_fd, target_fd, attach_type)

    t.defer(detach)


def link_create(t, prog_fd, target, attach_type, what):
    """BPF_LINK_CREATE with no options (tcx on an ifindex); the link fd closes at cleanup."""
    lib = t.lib.lib
    lib.bpf_link_create.restype = ctypes.c_int
    lib.bpf_link_create.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_void_p]
    ctypes.set_errno(0)
    fd = lib.bpf_link_create(prog_fd, target, attach_type, None)
    if fd < 0:
        raise _lb.AttachFailed("bpf_link_create(%s)" % what, _errno_of(fd), t.lib.take_log())
    return t.track_fd(fd)


def netns_attach(t, obj, prog, ns):
    """bpf_program__attach_netns (sk_lookup, flow dissector); the link goes at cleanup."""
    lib = t.lib.lib
    lib.bpf_program__attach_netns.restype = ctypes.c_void_p
    lib.bpf_program__attach_netns.argtypes = [ctypes.c_void_p, ctypes.c_int]
    ctypes.set_errno(0)
    ptr = lib.bpf_program__attach_netns(obj.program(prog), ns.fd)
    err = _lb._ptr_err(ptr)
    if err:
        raise _lb.AttachFailed("bpf_program__attach_netns(%s)" % prog, err, t.lib.take_log())
    t.defer(_lb.Link(t.lib, ptr, "netns link of %s" % prog).destroy)


class _TcHook(ctypes.Structure):
    _fields_ = [("sz", ctypes.c_size_t), ("ifindex", ctypes.c_int),
                ("attach_point", ctypes.c_int), ("parent", ctypes.c_uint32)]


class _TcOpts(ctypes.Structure):
    _fields_ = [("sz", ctypes.c_size_t), ("prog_fd", ctypes.c_int), ("flags", ctypes.c_uint32),
                ("prog_id", ctypes.c_uint32), ("handle", ctypes.c_uint32),
                ("priority", ctypes.c_uint32)]


def tc_attach(t, ns, ifindex, prog_fd, point=BPF_TC_INGRESS):
    """A clsact qdisc on `ifindex` in `ns` and a direct-action filter running `prog_fd`
    at `point` (libbpf's bpf_tc_*, netlink: the form every kernel since 4.5 has).
    The qdisc goes at cleanup, and with the namespace anyway."""
    unload_at_end(t, "sch_ingress", "cls_bpf")  # what the qdisc and filter may load
    lib = t.lib.lib
    hook = _TcHook(ctypes.sizeof(_TcHook), ifindex, point, 0)
    opts = _TcOpts(ctypes.sizeof(_TcOpts), prog_fd, 0, 0, 0, 0)
    with ns.inside():
        ctypes.set_errno(0)
        rc = lib.bpf_tc_hook_create(ctypes.byref(hook))
        if rc < 0 and -rc != errno.EEXIST:
            raise _lb.AttachFailed("bpf_tc_hook_create(ifindex %d)" % ifindex, -rc,
                                   t.lib.take_log())
        rc = lib.bpf_tc_attach(ctypes.byref(hook), ctypes.byref(opts))
        if rc < 0:
            raise _lb.AttachFailed("bpf_tc_attach(ifindex %d)" % ifindex, -rc, t.lib.take_log())

    def destroy():
        if ns.fd is None:
            return
        both = _TcHook(ctypes.sizeof(_TcHook), ifindex, BPF_TC_INGRESS | BPF_TC_EGRESS, 0)
        with ns.inside():
            lib.bpf_tc_hook_destroy(ctypes.byref(both))

    t.defer(destroy)


def sysfs(t, ns):
    """A sysfs instance of `ns` (its /sys/class/net shows that namespace's devices),
    mounted on a private directory of the case; unmounted at cleanup."""
    path = os.path.join(t.case_files(), "sys")
    os.mkdir(path, 0o700)
    _libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p,
                            ctypes.c_ulong, ctypes.c_void_p]
    with ns.inside():
        if _libc.mount(b"sysfs", path.encode(), b"sysfs", 0, None) != 0:
            err = ctypes.get_errno()
            t.skip(ENVIRONMENT_BLOCKS, "cannot mount a sysfs for the case's network "
                   "namespace: %s" % errno_text(err))
    t.defer(_libc.umount2, path.encode(), 2)  # MNT_DETACH
    return path


def cgroup(t):
    """A new cgroup2 directory (removed at cleanup) and an O_RDONLY fd of it;
    skips when no cgroup2 hierarchy is mounted or it refuses a new group."""
    mnt = None
    with open("/proc/self/mountinfo") as f:
        for line in f:
            fields = line.split()
            dash = fields.index("-")
            if fields[dash + 1] == "cgroup2":
                mnt = fields[4]
                break
    if mnt is None:
        t.skip(ENVIRONMENT_BLOCKS, "no cgroup2 hierarchy is mounted on the target")
    path = os.path.join(mnt, "kmatrix-%d-%s" % (os.getpid(), t.name))
    try:
        os.mkdir(path)
    except OSError as e:
        t.skip(ENVIRONMENT_BLOCKS, "cannot create cgroup %s: %s" % (path, e))

    def remove():
        for _ in range(50):  # a child that just exited leaves the group a moment later
            try:
                os.rmdir(path)
                return
            except OSError as e:
                if e.errno != errno.EBUSY:
                    raise
                time.sleep(0.1)
        os.rmdir(path)

    t.defer(remove)
    return path, t.track_fd(os.open(path, os.O_RDONLY | os.O_DIRECTORY))


def run_in_cgroup(path, fn):
    """fn() in a forked child that first joins cgroup `path`; returns what fn returned
    (JSON-able), or raises RuntimeError with the child's exception text."""
    import json
    import traceback

    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        code = 0
        try:
            with open(os.path.join(path, "cgroup.procs"), "w") as f:
                f.write(str(os.getpid()))
            out = {"ok": fn()}
        except BaseException:
            out = {"error": traceback.format_exc(limit=3).strip()}
            code = 1
        try:
            os.write(w, json.dumps(out).encode())
        finally:
            os._exit(code)
    os.close(w)
    chunks = []
    try:
        while True:
            b = os.read(r, 65536)
            if not b:
                break
            chunks.append(b)
    finally:
        os.close(r)
        os.waitpid(pid, 0)
    out = json.loads(b"".join(chunks).decode() or '{"error": "the child wrote nothing"}')
    if "error" in out:
        raise RuntimeError("in cgroup %s: %s" % (path, out["error"]))
    return out["ok"]


# -- frames and counters inside a namespace --------------------------------------------

# The EtherType the network cases mark their test frames with (IEEE "local
# experimental"); kmatrix.h defines the same KMX_ETHERTYPE for their programs.
KMX_ETHERTYPE = 0x88B5


def frames(n, step, dst=2, base=46, ethertype=KMX_ETHERTYPE):
    """`n` test frames from 02:00:00:00:00:01 to 02:00:00:00:00:<dst>, frame i carrying
    base + step * i payload bytes of value i, so sizes and contents tell them apart."""
    head = (b"\x02\x00\x00\x00\x00" + bytes([dst]) + b"\x02\x00\x00\x00\x00\x01"
            + ethertype.to_bytes(2, "big"))
    return [head + bytes([i]) * (base + step * i) for i in range(n)]


def two_hops(t):
    """The forwarding cases' path: frames sent from kmx1 enter kmx0 (where the program
    runs) in namespace A; kmx2 (also in A) is paired with kmx3 in namespace B, where a
    packet socket catches KMX_ETHERTYPE frames.
    Returns (wire: kmx0/kmx1, out: kmx2/kmx3, rx)."""
    wire = veth_pair(t, names=("kmx0", "kmx1"))
    other = netns(t)
    out = veth_pair(t, names=("kmx2", "kmx3"), ns=wire.ns, peer_ns=other)
    rx = packet_socket(t, other, "kmx3", KMX_ETHERTYPE)
    return wire, out, rx



def packet_socket(t, ns, dev, ethertype=ETH_P_ALL):
    """An AF_PACKET socket of `ns` bound to `dev`, receiving `ethertype` frames; closed
    at cleanup (a socket pins its namespace)."""
    with ns.inside():
        s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ethertype))
    t.defer(s.close)
    s.bind((dev, ethertype))
    return s


def recv_frames(sock, n, timeout=2.0):
    """Up to `n` frames an AF_PACKET socket receives within `timeout` seconds."""
    import select

    frames = []
    deadline = time.monotonic() + timeout
    while len(frames) < n:
        left = deadline - time.monotonic()
        if left <= 0 or not select.select([sock], [], [], left)[0]:
            break
        frames.append(sock.recv(65536))
    return frames


def tcp_pairs(t, ns, n):
    """`n` connected (client, server) TCP pairs over the loopback of `ns`; closed at
    cleanup. The sockets carry a 5 s timeout."""
    with ns.inside():
        ip("link", "set", "dev", "lo", "up")
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        clients = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(n)]
    t.defer(listener.close)
    listener.bind(("127.0.0.1", 0))
    listener.listen(n)
    listener.settimeout(5)
    pairs = []
    for c in clients:
        t.defer(c.close)
        c.settimeout(5)
        c.connect(listener.getsockname())
        s, _ = listener.accept()
        t.defer(s.close)
        s.settimeout(5)
        pairs.append((c, s))
    return pairs


def recv_exact(sock, n):
    """Up to `n` bytes from a stream socket: less only if it closes or times out."""
    got = b""
    while len(got) < n:
        try:
            chunk = sock.recv(n - len(got))
        except socket.timeout:
            break
        if not chunk:
            break
        got += chunk
    return got


def pending(sock, n=64):
    """What a stream socket has queued right now (b"" when nothing), without waiting."""
    try:
        return sock.recv(n, socket.MSG_DONTWAIT)
    except (BlockingIOError, socket.timeout):  # a socket with a timeout says "timeout"
        return b""


def dev_stats(ns, dev):
    """{"rx_packets", "rx_bytes", "tx_packets", "tx_bytes"} of `dev` in `ns` (/proc/net/dev)."""
    with ns.inside():
        with open("/proc/thread-self/net/dev") as f:
            lines = f.read().splitlines()
    for line in lines[2:]:
        name, _, rest = line.partition(":")
        if name.strip() == dev:
            v = [int(x) for x in rest.split()]
            return {"rx_bytes": v[0], "rx_packets": v[1], "tx_bytes": v[8], "tx_packets": v[9]}
    raise KeyError("no device %s in /proc/net/dev of the namespace" % dev)


def disable_ipv6(ns, dev):
    """Keep `dev` in `ns` from sending IPv6 of its own (DAD, router solicitations, MLD),
    so its counters move only with the case's frames. No IPv6 in the kernel: nothing to do."""
    path = "/proc/sys/net/ipv6/conf/%s/disable_ipv6" % dev
    with ns.inside():
        if os.path.exists(path):
            with open(path, "w") as f:
                f.write("1")
