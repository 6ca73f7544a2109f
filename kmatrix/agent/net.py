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
    """A veth pair `a` <-> `b` inside `ns`; ifindexes are the namespace's own."""

    def __init__(self, ns, a, b, mtu):
        self.ns = ns
        self.a = a
        self.b = b
        self.mtu = mtu
        with ns.inside():
            self.ifindex_a = socket.if_nametoindex(a)
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


def veth_pair(t, mtu=1500, names=("kmx0", "kmx1")):
    """A veth pair, both ends up with `mtu`, in a new netns the case owns.

    Creating it may load veth.ko; the case then unloads it again at cleanup
    (after the namespace is gone), so the target ends as it began."""
    if _preflight.which("ip") is None:
        t.skip(ENVIRONMENT_BLOCKS, "the `ip` command (iproute2) is not installed on the target")
    if not _module_loaded("veth") and not os.path.isdir("/sys/module/veth"):
        t.defer(unload_module, "veth")  # registered first: runs after the netns closes
    ns = netns(t)
    a, b = names
    with ns.inside():
        try:
            ip("link", "add", a, "type", "veth", "peer", "name", b)
        except subprocess.CalledProcessError as e:
            msg = e.stderr.decode("utf-8", "replace").strip()
            if "Unknown device type" in msg or "not supported" in msg.lower():
                t.skip(KERNEL_LACKS, "cannot create a veth pair (CONFIG_VETH): %s" % msg)
            raise RuntimeError("ip link add %s type veth failed: %s" % (a, msg)) from None
        for dev in (a, b):
            ip("link", "set", "dev", dev, "mtu", mtu)
            ip("link", "set", "dev", dev, "up")
    return Veth(ns, a, b, mtu)


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
    with veth.ns.inside():
        rc, op = _xdp_call(lb, ifindex, fd, flags)
    if rc < 0:
        raise _lb.AttachFailed("%s(%s on %s, flags=%#x)" % (op, prog, dev, flags),
                               ctypes.get_errno() or -rc, lb.take_log())

    def detach():
        if veth.ns.fd is None:
            return  # the namespace, and the device with it, is already gone
        with veth.ns.inside():
            _xdp_call(lb, ifindex, -1, flags)

    t.defer(detach)


def xdp_mode(veth, dev):
    """'xdp' (native), 'xdpgeneric', 'xdpoffload' or None, as `ip link show` reports it."""
    with veth.ns.inside():
        out = ip("-d", "link", "show", "dev", dev)
    for word in ("xdpoffload", "xdpgeneric", "xdpmulti", "xdpdrv", "xdp"):
        if (" %s " % word) in out or ("%s/" % word) in out or out.rstrip().endswith(word):
            return word
    return None
