"""perf helpers for checks: hardware events, the mmap'd user page, reading a PMU
counter from user space, and the `perf` tool. Stdlib only, Python 3.7.
"""

import ctypes
import errno
import fcntl
import mmap
import os
import platform
import struct
import subprocess
import tempfile

try:
    from . import preflight as _preflight
    from .reasons import ENVIRONMENT_BLOCKS, HARDWARE_MISSING
except ImportError:  # loaded by path in a test
    import preflight as _preflight  # type: ignore
    from reasons import ENVIRONMENT_BLOCKS, HARDWARE_MISSING  # type: ignore

PMU_DIR = "/sys/bus/event_source/devices"
PERF_TYPE_HARDWARE = 0
PERF_COUNT_HW_CPU_CYCLES = 0
PERF_COUNT_HW_INSTRUCTIONS = 1
PERF_EVENT_IOC_ENABLE = 0x2400
PERF_EVENT_IOC_DISABLE = 0x2401
PERF_EVENT_IOC_RESET = 0x2403

# perf_event_open errnos that mean "no PMU can count this here".
NO_HARDWARE = (errno.ENOENT, errno.EOPNOTSUPP, errno.ENODEV)


def read_text(path, default=None):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return default


def pmus():
    try:
        return sorted(os.listdir(PMU_DIR))
    except OSError:
        return []


def open_hardware(t, config, what, **attr_kw):
    """perf_event_open of a PERF_TYPE_HARDWARE event for this thread; skips precisely."""
    attr = t.perf_attr(PERF_TYPE_HARDWARE, config, **attr_kw)
    try:
        return t.perf_event_open(attr, pid=0, cpu=-1)
    except OSError as e:
        name = errno.errorcode.get(e.errno, str(e.errno))
        if e.errno == errno.EOPNOTSUPP and attr_kw.get("sample_period"):
            t.skip(HARDWARE_MISSING, "perf_event_open(%s) fails with %s: the hardware PMU "
                   "counts but cannot sample (no overflow interrupt; PMUs: %s)"
                   % (what, name, ", ".join(pmus()) or "none"))
        if e.errno in NO_HARDWARE:
            t.skip(HARDWARE_MISSING, "perf_event_open(%s) fails with %s: no hardware PMU "
                   "here supports it (PMUs: %s)" % (what, name, ", ".join(pmus()) or "none"))
        if e.errno in (errno.EACCES, errno.EPERM):
            t.skip(ENVIRONMENT_BLOCKS, "perf_event_open(%s) refused with %s "
                   "(kernel.perf_event_paranoid=%s)" % (what, name, read_text(
                       "/proc/sys/kernel/perf_event_paranoid", "?")))
        raise


class UserPage(object):
    """The first page of a perf event's mmap: struct perf_event_mmap_page."""

    def __init__(self, fd):
        self.mm = mmap.mmap(fd, mmap.PAGESIZE, mmap.MAP_SHARED, mmap.PROT_READ)

    def close(self):
        self.mm.close()

    def fields(self):
        m = self.mm
        lock, index = struct.unpack_from("=II", m, 8)  # after version, compat_version
        offset = struct.unpack_from("=q", m, 16)[0]
        caps = struct.unpack_from("=Q", m, 40)[0]
        width = struct.unpack_from("=H", m, 48)[0]
        return {"version": struct.unpack_from("=I", m, 0)[0], "lock": lock, "index": index,
                "offset": offset, "cap_user_rdpmc": bool(caps & (1 << 2)),
                "cap_user_time": bool(caps & (1 << 3)), "pmc_width": width}


# Machine code for `u64 read_counter(u32 hw_index)`.
_X86_RDPMC = bytes([
    0x89, 0xF9,              # mov ecx, edi
    0x0F, 0x33,              # rdpmc
    0x48, 0xC1, 0xE2, 0x20,  # shl rdx, 32
    0x48, 0x09, 0xD0,        # or rax, rdx
    0xC3,                    # ret
])
# arm64: counter 31 is the cycle counter; others go through PMSELR_EL0.
_A64_CYCLES = struct.pack("<2I", 0xD53B9D00, 0xD65F03C0)  # mrs x0, pmccntr_el0; ret
_A64_EVCNT = struct.pack("<4I", 0xD51B9CA0, 0xD5033FDF,   # msr pmselr_el0, x0; isb
                         0xD53B9D40, 0xD65F03C0)          # mrs x0, pmxevcntr_el0; ret


class CounterReader(object):
    """Runs the arch's counter-read instruction from a tiny executable mapping.

    The code goes through a file mapped PROT_READ|PROT_EXEC (never writable and
    executable at once); faulting in an executable file page makes the kernel
    keep the instruction cache coherent on arm64."""

    def __init__(self, workdir):
        arch = platform.machine()
        if arch == "x86_64":
            stubs = {"any": _X86_RDPMC}
        elif arch == "aarch64":
            stubs = {"cycles": _A64_CYCLES, "any": _A64_EVCNT}
        else:
            raise OSError(errno.ENOTSUP, "no user-space counter read for %s" % arch)
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mmap.restype = ctypes.c_void_p
        libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                              ctypes.c_int, ctypes.c_long]
        libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
        self._libc = libc
        self._maps = []
        self.fns = {}
        page = mmap.PAGESIZE
        for name, code in sorted(stubs.items()):
            fd = _code_fd(libc, workdir)
            try:
                os.write(fd, code + bytes(page - len(code)))
                addr = libc.mmap(None, page, mmap.PROT_READ | mmap.PROT_EXEC,
                                 mmap.MAP_PRIVATE, fd, 0)
            finally:
                os.close(fd)
            if addr is None or addr == ctypes.c_void_p(-1).value:
                err = ctypes.get_errno()
                raise OSError(err, "mmap(PROT_EXEC) of the counter stub: %s" % os.strerror(err))
            self._maps.append(addr)
            self.fns[name] = ctypes.CFUNCTYPE(ctypes.c_uint64, ctypes.c_uint32)(addr)

    def read(self, hw_index):
        """Raw counter value for hardware counter `hw_index` (the user page's index - 1)."""
        if "cycles" in self.fns and hw_index == 31:
            return self.fns["cycles"](0)
        return self.fns["any"](hw_index)

    def close(self):
        self.fns = {}
        for addr in self._maps:
            self._libc.munmap(ctypes.c_void_p(addr), mmap.PAGESIZE)
        self._maps = []


def _code_fd(libc, workdir):
    """An unnamed file for the stub: memfd (not subject to noexec mounts), else a temp file."""
    fn = getattr(libc, "memfd_create", None)
    if fn is not None:
        fn.restype = ctypes.c_int
        fn.argtypes = [ctypes.c_char_p, ctypes.c_uint]
        fd = fn(b"kmatrix-pmc", 1)  # MFD_CLOEXEC
        if fd >= 0:
            return fd
    fd, path = tempfile.mkstemp(prefix="pmc.", dir=workdir)
    os.unlink(path)
    return fd


def user_read(page, reader):
    """Self-monitoring read as perf_event_mmap_page documents it: retry on seqlock change.

    Returns (count, index) or (None, index) when the page does not allow rdpmc."""
    for _ in range(100):
        f1 = page.fields()
        if not f1["cap_user_rdpmc"] or not f1["index"]:
            return None, f1["index"]
        raw = reader.read(f1["index"] - 1)
        f2 = page.fields()
        if f2["lock"] == f1["lock"] and f2["index"] == f1["index"]:
            width = f1["pmc_width"] or 64
            raw &= (1 << width) - 1
            if raw & (1 << (width - 1)):  # sign-extend a narrow counter
                raw -= 1 << width
            return f1["offset"] + raw, f1["index"]
    raise RuntimeError("the user page's seqlock never settled")


def counter_value(fd):
    return struct.unpack("=Q", os.read(fd, 8))[0]


def ioctl(fd, req):
    fcntl.ioctl(fd, req, 0)


def perf_tool():
    """Path of `perf`, or None."""
    return _preflight.which("perf")


def run_perf(argv, timeout=120, cwd=None):
    """(returncode, stdout, stderr) of `perf ARGV`."""
    exe = perf_tool()
    if exe is None:
        raise OSError(errno.ENOENT, "perf is not installed")
    p = subprocess.run([exe] + list(argv), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       timeout=timeout, cwd=cwd)
    return p.returncode, p.stdout.decode("utf-8", "replace"), p.stderr.decode("utf-8", "replace")
