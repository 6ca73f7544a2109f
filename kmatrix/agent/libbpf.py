"""ctypes binding of libbpf: the bundled file by path, or the target's libbpf.so.1
(or .so.0); stdlib only, Python 3.7.

Only what the cases need: open/load/close objects, find programs and maps,
attach (generic, XDP, perf event, uprobe by symbol), BPF_PROG_TEST_RUN, map
lookup/update, .bss access by mmap, ring and perf buffers, BPF iterators, and the
libbpf print callback so the verifier log ends up in the result instead of on stderr.
"""

import ctypes
import errno as _errno
import mmap
import os
import platform
import re
import struct

c_void_p = ctypes.c_void_p
c_int = ctypes.c_int
c_char_p = ctypes.c_char_p
c_size_t = ctypes.c_size_t
c_uint32 = ctypes.c_uint32

LIBBPF_WARN = 0
LIBBPF_INFO = 1
LIBBPF_DEBUG = 2


class LibbpfError(Exception):
    """A libbpf call failed; `errno` is positive, `op` names the call."""

    def __init__(self, op, err, log=""):
        self.op = op
        self.errno = abs(int(err)) if err else 0
        self.log = log
        Exception.__init__(self, "%s failed: %s" % (op, errno_text(self.errno)))


class LoadFailed(LibbpfError):
    pass


class AttachFailed(LibbpfError):
    """`section` names the attach kind ("fentry/do_mmap", "freplace"), which tells a
    kernel that cannot build a trampoline (-524) from a real failure."""

    def __init__(self, op, err, log="", section=""):
        LibbpfError.__init__(self, op, err, log)
        self.section = section


class MissingSymbol(AttributeError):
    """This libbpf lacks a function (an older libbpf: `libbpf: system` on an old
    distribution). An AttributeError, so hasattr/getattr(..., None) still work."""

    def __init__(self, lib, symbol):
        self.lib = lib  # "libbpf 0.3.0 (libbpf.so.0)"
        self.symbol = symbol
        AttributeError.__init__(self, "%s lacks %s" % (lib, symbol))


class _CDLL(ctypes.CDLL):
    """A CDLL whose missing functions raise MissingSymbol naming library and symbol."""

    label = "libbpf"

    def __getattr__(self, name):
        if name.startswith("__") and name.endswith("__"):
            raise AttributeError(name)
        try:
            return ctypes.CDLL.__getattr__(self, name)
        except AttributeError:
            raise MissingSymbol(self.label, name) from None


def errno_text(err):
    """'-EPERM (Operation not permitted)' style text for a positive or negative errno."""
    err = abs(int(err))
    name = _errno.errorcode.get(err)
    if err == 524:  # kernel-internal ENOTSUPP leaks out of BPF syscalls; Python has no name
        name = "ENOTSUPP"
    try:
        msg = os.strerror(err) if err != 524 else "Operation is not supported"
    except ValueError:
        msg = "unknown error"
    return "-%d %s (%s)" % (err, name or "E?", msg)


class _OpenOpts(ctypes.Structure):
    # Only the first two fields; libbpf treats a smaller `sz` as an older caller.
    _fields_ = [("sz", c_size_t), ("object_name", c_char_p)]


class _UprobeOpts(ctypes.Structure):
    # struct bpf_uprobe_opts up to func_name (libbpf 1.0); later fields default.
    _fields_ = [("sz", c_size_t), ("ref_ctr_offset", c_size_t),
                ("bpf_cookie", ctypes.c_uint64), ("retprobe", ctypes.c_bool),
                ("func_name", c_char_p)]


class TestRunOpts(ctypes.Structure):
    _fields_ = [
        ("sz", c_size_t),
        ("data_in", c_void_p),
        ("data_out", c_void_p),
        ("data_size_in", c_uint32),
        ("data_size_out", c_uint32),
        ("ctx_in", c_void_p),
        ("ctx_out", c_void_p),
        ("ctx_size_in", c_uint32),
        ("ctx_size_out", c_uint32),
        ("retval", c_uint32),
        ("repeat", c_int),
        ("duration", c_uint32),
        ("flags", c_uint32),
        ("cpu", c_uint32),
        ("batch_size", c_uint32),
    ]


_PRINT_FN = ctypes.CFUNCTYPE(c_int, c_int, c_char_p, c_void_p)
_RB_SAMPLE_FN = ctypes.CFUNCTYPE(c_int, c_void_p, c_void_p, c_size_t)
_PB_SAMPLE_FN = ctypes.CFUNCTYPE(None, c_void_p, c_int, c_void_p, c_uint32)
_PB_LOST_FN = ctypes.CFUNCTYPE(None, c_void_p, c_int, ctypes.c_uint64)

# libbpf 0.x returns ERR_PTR values instead of NULL+errno unless strict mode is on.
_MAX_ERRNO = 4095
_LIBBPF_STRICT_ALL = 0xFFFFFFFF


def _ptr_err(ptr):
    """Return a positive errno if `ptr` (int or None) is NULL or an ERR_PTR, else 0."""
    if not ptr:
        return ctypes.get_errno() or _errno.EINVAL
    v = ptr & 0xFFFFFFFFFFFFFFFF
    if v >= (1 << 64) - _MAX_ERRNO:
        return (1 << 64) - v
    return 0


class Libbpf(object):
    """The loaded library plus a log sink the print callback appends to."""

    def __init__(self, soname=None, path=None):
        # `path`: a file loaded by path (the bundled libbpf), never a search.
        if path:
            names = [path]
        else:
            names = [soname] if soname else ["libbpf.so.1", "libbpf.so.0", "libbpf.so"]
        lib = None
        last = None
        for n in names:
            try:
                lib = _CDLL(n, use_errno=True)
                self.soname = os.path.basename(n)
                break
            except OSError as e:
                last = e
        if lib is None:
            raise OSError("cannot load libbpf (%s): %s" % (", ".join(names), last))
        self.path = path
        self.lib = lib
        lib.label = "libbpf %s (%s)" % (self.version() or "?", self.soname)
        self.libc = ctypes.CDLL(None, use_errno=True)  # the process's own libc; find_library forks ldconfig
        self.log = []  # list of str chunks, reset per case by the caller
        self.debug = False
        self._buf = ctypes.create_string_buffer(1 << 20)
        self._protos()
        if hasattr(lib, "libbpf_set_strict_mode"):
            lib.libbpf_set_strict_mode(c_uint32(_LIBBPF_STRICT_ALL))
        # Keep a reference: a collected callback would crash the next print.
        self._print_cb = _PRINT_FN(self._on_print)
        lib.libbpf_set_print(self._print_cb)

    def _protos(self):
        L = self.lib
        sig = {
            "bpf_object__open_file": (c_void_p, [c_char_p, c_void_p]),
            "bpf_object__open_mem": (c_void_p, [c_void_p, c_size_t, c_void_p]),
            "bpf_object__load": (c_int, [c_void_p]),
            "bpf_object__close": (None, [c_void_p]),
            "bpf_object__find_program_by_name": (c_void_p, [c_void_p, c_char_p]),
            "bpf_object__next_program": (c_void_p, [c_void_p, c_void_p]),
            "bpf_object__find_map_by_name": (c_void_p, [c_void_p, c_char_p]),
            "bpf_object__next_map": (c_void_p, [c_void_p, c_void_p]),
            "bpf_program__name": (c_char_p, [c_void_p]),
            "bpf_program__section_name": (c_char_p, [c_void_p]),
            "bpf_program__fd": (c_int, [c_void_p]),
            "bpf_program__set_autoload": (c_int, [c_void_p, ctypes.c_bool]),
            "bpf_program__attach": (c_void_p, [c_void_p]),
            "bpf_program__attach_xdp": (c_void_p, [c_void_p, c_int]),
            "bpf_program__attach_perf_event": (c_void_p, [c_void_p, c_int]),
            "bpf_program__attach_uprobe_opts": (c_void_p, [c_void_p, c_int, c_char_p,
                                                           c_size_t, c_void_p]),
            "bpf_iter_create": (c_int, [c_int]),
            "bpf_link__destroy": (c_int, [c_void_p]),
            "bpf_map__name": (c_char_p, [c_void_p]),
            "bpf_map__fd": (c_int, [c_void_p]),
            "bpf_map__value_size": (c_uint32, [c_void_p]),
            "bpf_map__key_size": (c_uint32, [c_void_p]),
            "bpf_map_lookup_elem": (c_int, [c_int, c_void_p, c_void_p]),
            "bpf_map_update_elem": (c_int, [c_int, c_void_p, c_void_p, ctypes.c_uint64]),
            "bpf_prog_test_run_opts": (c_int, [c_int, c_void_p]),
            "ring_buffer__new": (c_void_p, [c_int, _RB_SAMPLE_FN, c_void_p, c_void_p]),
            "ring_buffer__poll": (c_int, [c_void_p, c_int]),
            "ring_buffer__consume": (c_int, [c_void_p]),
            "ring_buffer__free": (None, [c_void_p]),
            "perf_buffer__new": (c_void_p, [c_int, c_size_t, _PB_SAMPLE_FN, _PB_LOST_FN,
                                             c_void_p, c_void_p]),
            "perf_buffer__poll": (c_int, [c_void_p, c_int]),
            "perf_buffer__free": (None, [c_void_p]),
            "user_ring_buffer__new": (c_void_p, [c_int, c_void_p]),
            "user_ring_buffer__reserve": (c_void_p, [c_void_p, c_uint32]),
            "user_ring_buffer__submit": (None, [c_void_p, c_void_p]),
            "user_ring_buffer__discard": (None, [c_void_p, c_void_p]),
            "user_ring_buffer__free": (None, [c_void_p]),
            "bpf_prog_get_info_by_fd": (c_int, [c_int, c_void_p, ctypes.POINTER(c_uint32)]),
            "bpf_obj_get_info_by_fd": (c_int, [c_int, c_void_p, ctypes.POINTER(c_uint32)]),
            "bpf_link__fd": (c_int, [c_void_p]),
            "libbpf_set_print": (c_void_p, [_PRINT_FN]),
            "libbpf_version_string": (c_char_p, []),
        }
        for name, (res, args) in sig.items():
            fn = getattr(L, name, None)
            if fn is None:
                continue  # older libbpf: the caller gets AttributeError when it needs it
            fn.restype = res
            fn.argtypes = args
        self.libc.vsnprintf.restype = c_int
        self.libc.vsnprintf.argtypes = [c_char_p, c_size_t, c_char_p, c_void_p]
        self.libc.syscall.restype = ctypes.c_long

    def _on_print(self, level, fmt, ap):
        # `ap` is the va_list as the ABI passes it (pointer on x86_64/aarch64/riscv64);
        # handing it on to vsnprintf formats the message exactly as libbpf meant it.
        try:
            if level == LIBBPF_DEBUG and not self.debug:
                return 0
            n = self.libc.vsnprintf(self._buf, len(self._buf), fmt, ap)
            text = self._buf.value.decode("utf-8", "replace")
            if n >= len(self._buf):
                text += "\n[libbpf message truncated]\n"
            self.log.append(text)
        except Exception:  # a raising callback would abort the process
            pass
        return 0

    def version(self):
        v = soname_version(self.path)  # "1.1.2" beats libbpf_version_string's "v1.1"
        if v:
            return v
        fn = getattr(self.lib, "libbpf_version_string", None)
        if fn is not None:
            v = fn()
            if v:
                return v.decode().lstrip("v")
        return None

    def take_log(self):
        text = "".join(self.log)
        self.log = []
        return text

    # -- objects -------------------------------------------------------------

    def open_file(self, path, name=None):
        opts = _OpenOpts(ctypes.sizeof(_OpenOpts), name.encode() if name else None)
        ctypes.set_errno(0)
        ptr = self.lib.bpf_object__open_file(path.encode(), ctypes.byref(opts))
        err = _ptr_err(ptr)
        if err:
            raise LoadFailed("bpf_object__open_file(%s)" % path, err, self.take_log())
        return BpfObject(self, ptr, name or os.path.basename(path))

    def open_mem(self, data, name):
        buf = ctypes.create_string_buffer(bytes(data), len(data))
        opts = _OpenOpts(ctypes.sizeof(_OpenOpts), name.encode())
        ctypes.set_errno(0)
        ptr = self.lib.bpf_object__open_mem(buf, len(data), ctypes.byref(opts))
        err = _ptr_err(ptr)
        if err:
            raise LoadFailed("bpf_object__open_mem(%s)" % name, err, self.take_log())
        obj = BpfObject(self, ptr, name)
        obj._keep = buf  # libbpf copies the ELF, but keep it until close to be safe
        return obj

    def test_run(self, prog_fd, data=None, data_out_size=0, ctx=None, ctx_out_size=0,
                 repeat=1, flags=0):
        """BPF_PROG_TEST_RUN; returns dict(retval, data, ctx, duration)."""
        opts = TestRunOpts()
        opts.sz = ctypes.sizeof(TestRunOpts)
        keep = []
        if data is not None:
            din = ctypes.create_string_buffer(bytes(data), len(data))
            keep.append(din)
            opts.data_in = ctypes.cast(din, c_void_p)
            opts.data_size_in = len(data)
        if data_out_size:
            dout = ctypes.create_string_buffer(data_out_size)
            keep.append(dout)
            opts.data_out = ctypes.cast(dout, c_void_p)
            opts.data_size_out = data_out_size
        if ctx is not None:
            cin = ctypes.create_string_buffer(bytes(ctx), len(ctx))
            keep.append(cin)
            opts.ctx_in = ctypes.cast(cin, c_void_p)
            opts.ctx_size_in = len(ctx)
        if ctx_out_size:
            cout = ctypes.create_string_buffer(ctx_out_size)
            keep.append(cout)
            opts.ctx_out = ctypes.cast(cout, c_void_p)
            opts.ctx_size_out = ctx_out_size
        opts.repeat = repeat
        opts.flags = flags
        ctypes.set_errno(0)
        rc = self.lib.bpf_prog_test_run_opts(prog_fd, ctypes.byref(opts))
        if rc < 0:
            raise LibbpfError("bpf_prog_test_run_opts", ctypes.get_errno() or -rc,
                              self.take_log())
        out = {"retval": opts.retval, "duration": opts.duration, "data": b"", "ctx": b""}
        if data_out_size:
            out["data"] = dout.raw[:opts.data_size_out]
        if ctx_out_size:
            out["ctx"] = cout.raw[:opts.ctx_size_out]
        return out

    def map_lookup(self, fd, key, value_size):
        k = ctypes.create_string_buffer(bytes(key), len(key))
        v = ctypes.create_string_buffer(value_size)
        ctypes.set_errno(0)
        rc = self.lib.bpf_map_lookup_elem(fd, k, v)
        if rc < 0:
            err = ctypes.get_errno() or -rc
            if err == _errno.ENOENT:
                return None
            raise LibbpfError("bpf_map_lookup_elem", err)
        return v.raw

    def map_update(self, fd, key, value, flags=0):
        k = ctypes.create_string_buffer(bytes(key), len(key))
        v = ctypes.create_string_buffer(bytes(value), len(value))
        ctypes.set_errno(0)
        rc = self.lib.bpf_map_update_elem(fd, k, v, flags)
        if rc < 0:
            raise LibbpfError("bpf_map_update_elem", ctypes.get_errno() or -rc)

    def ringbuf_drain(self, map_fd, timeout_ms=100, max_polls=10, want=1):
        """Poll a BPF ring buffer map and return the records (bytes) it held."""
        records = []

        def on_sample(_ctx, data, size):
            records.append(ctypes.string_at(data, size))
            return 0

        cb = _RB_SAMPLE_FN(on_sample)
        ctypes.set_errno(0)
        rb = self.lib.ring_buffer__new(map_fd, cb, None, None)
        err = _ptr_err(rb)
        if err:
            raise LibbpfError("ring_buffer__new", err, self.take_log())
        try:
            for _ in range(max_polls):
                rc = self.lib.ring_buffer__poll(rb, timeout_ms)
                if rc < 0 and -rc != _errno.EINTR:
                    raise LibbpfError("ring_buffer__poll", -rc)
                if len(records) >= want:
                    break
            self.lib.ring_buffer__consume(rb)
        finally:
            self.lib.ring_buffer__free(rb)
        return records

    def perfbuf_drain(self, map_fd, trigger=None, timeout_ms=100, max_polls=10, want=1,
                      page_cnt=8):
        """Open a perf buffer on a BPF_MAP_TYPE_PERF_EVENT_ARRAY (libbpf >= 1.0's
        perf_buffer__new), call `trigger` (samples sent before the buffer exists are
        dropped by the kernel), then poll; returns ([(cpu, bytes)], samples lost)."""
        ver = tuple(int(x) for x in re.findall(r"\d+", self.version() or "0")[:2])
        if ver < (0, 7):
            # Before 0.7 the default perf_buffer__new took (fd, pages, opts): calling it
            # with callbacks would crash, so say which library lacks the API.
            raise MissingSymbol(self.lib.label, "perf_buffer__new with callbacks (0.7+)")
        records = []
        lost = [0]

        def on_sample(_ctx, cpu, data, size):
            records.append((cpu, ctypes.string_at(data, size)))

        def on_lost(_ctx, _cpu, cnt):
            lost[0] += cnt

        cbs = (_PB_SAMPLE_FN(on_sample), _PB_LOST_FN(on_lost))
        ctypes.set_errno(0)
        pb = self.lib.perf_buffer__new(map_fd, page_cnt, cbs[0], cbs[1], None, None)
        err = _ptr_err(pb)
        if err:
            raise LibbpfError("perf_buffer__new", err, self.take_log())
        try:
            if trigger is not None:
                trigger()
            for _ in range(max_polls):
                rc = self.lib.perf_buffer__poll(pb, timeout_ms)
                if rc < 0 and -rc != _errno.EINTR:
                    raise LibbpfError("perf_buffer__poll", -rc)
                if len(records) >= want:
                    break
        finally:
            self.lib.perf_buffer__free(pb)
        return records, lost[0]

    def iter_read(self, link, limit=1 << 22):
        """Everything a BPF iterator link yields (bpf_iter_create + read to EOF)."""
        ctypes.set_errno(0)
        fd = self.lib.bpf_iter_create(self.lib.bpf_link__fd(link.ptr))
        if fd < 0:
            raise LibbpfError("bpf_iter_create", ctypes.get_errno() or -fd)
        out = []
        try:
            size = 0
            while size < limit:
                chunk = os.read(fd, 65536)
                if not chunk:
                    break
                out.append(chunk)
                size += len(chunk)
        finally:
            os.close(fd)
        return b"".join(out)

    def user_ringbuf_write(self, map_fd, samples):
        """Write `samples` (list of bytes) into a BPF_MAP_TYPE_USER_RINGBUF map.

        Needs libbpf >= 1.1 (user_ring_buffer__*); raises AttributeError naming
        the missing symbol on older ones so a check can skip on that.
        """
        if not hasattr(self.lib, "user_ring_buffer__new"):
            raise AttributeError("libbpf %s has no user_ring_buffer__new (needs libbpf >= 1.1)"
                                 % (self.version() or "?"))
        ctypes.set_errno(0)
        rb = self.lib.user_ring_buffer__new(map_fd, None)
        err = _ptr_err(rb)
        if err:
            raise LibbpfError("user_ring_buffer__new", err, self.take_log())
        try:
            for data in samples:
                ctypes.set_errno(0)
                ptr = self.lib.user_ring_buffer__reserve(rb, len(data))
                err = _ptr_err(ptr)
                if err:
                    raise LibbpfError("user_ring_buffer__reserve(%d)" % len(data), err)
                ctypes.memmove(ptr, bytes(data), len(data))
                self.lib.user_ring_buffer__submit(rb, ptr)
        finally:
            self.lib.user_ring_buffer__free(rb)

    def obj_id(self, fd):
        """The kernel id of a BPF program, map or link fd (every bpf_*_info starts with
        type, id), or None. Lets clean-up tell our objects from anyone else's."""
        if fd is None or fd < 0:
            return None
        buf = ctypes.create_string_buffer(PROG_INFO_BUF)
        ln = c_uint32(PROG_INFO_BUF)
        if self.lib.bpf_obj_get_info_by_fd(fd, buf, ctypes.byref(ln)) < 0 or ln.value < 8:
            return None
        return struct.unpack_from("=II", buf.raw, 0)[1]

    def prog_info(self, prog_fd):
        """The head of struct bpf_prog_info for a program fd (BPF_OBJ_GET_INFO_BY_FD)."""
        fn = getattr(self.lib, "bpf_prog_get_info_by_fd", None) or self.lib.bpf_obj_get_info_by_fd
        # A zeroed buffer larger than any kernel's struct: the kernel accepts a
        # bigger one if the tail is zero, and reports the size it filled.
        buf = ctypes.create_string_buffer(PROG_INFO_BUF)
        ln = c_uint32(PROG_INFO_BUF)
        ctypes.set_errno(0)
        rc = fn(prog_fd, buf, ctypes.byref(ln))
        if rc < 0:
            raise LibbpfError("bpf_prog_get_info_by_fd", ctypes.get_errno() or -rc)
        raw = buf.raw[:ln.value]
        ptype, pid, tag, jited_len, xlated_len = struct.unpack_from("=II8sII", raw, 0)
        name = raw[64:80].split(b"\0", 1)[0].decode("utf-8", "replace") if len(raw) >= 80 else ""
        return {"type": ptype, "id": pid, "tag": tag.hex(), "jited_prog_len": jited_len,
                "xlated_prog_len": xlated_len, "name": name, "info_len": ln.value}

    def jited_image(self, prog_fd):
        """The JITed machine code of a program fd: (image bytes or None, jited_prog_len).
        Two BPF_OBJ_GET_INFO_BY_FD calls, as bpftool does: the first reports the length,
        the second (jited_prog_len and a jited_prog_insns pointer filled in) copies it.
        None with a non-zero length: the kernel withheld the bytes (it zeroes the
        pointer when kallsyms would hide addresses from this caller, kptr_restrict)."""
        fn = self.lib.bpf_obj_get_info_by_fd
        buf = ctypes.create_string_buffer(PROG_INFO_BUF)
        ln = c_uint32(PROG_INFO_BUF)
        ctypes.set_errno(0)
        if fn(prog_fd, buf, ctypes.byref(ln)) < 0:
            raise LibbpfError("bpf_obj_get_info_by_fd", ctypes.get_errno() or _errno.EINVAL)
        n, = struct.unpack_from("=I", buf.raw, JITED_LEN_OFF)
        if n == 0:
            return None, 0
        image = ctypes.create_string_buffer(n)
        buf = ctypes.create_string_buffer(PROG_INFO_BUF)
        struct.pack_into("=I", buf, JITED_LEN_OFF, n)
        struct.pack_into("=Q", buf, JITED_INSNS_OFF, ctypes.addressof(image))
        ln = c_uint32(PROG_INFO_BUF)
        ctypes.set_errno(0)
        if fn(prog_fd, buf, ctypes.byref(ln)) < 0:
            raise LibbpfError("bpf_obj_get_info_by_fd", ctypes.get_errno() or _errno.EINVAL)
        got, = struct.unpack_from("=I", buf.raw, JITED_LEN_OFF)
        ptr, = struct.unpack_from("=Q", buf.raw, JITED_INSNS_OFF)
        if ptr == 0:
            return None, got
        return image.raw[:min(n, got)], got

    # -- raw syscalls ----------------------------------------------------------

    def perf_event_open(self, attr, pid=0, cpu=-1, group_fd=-1, flags=0):
        """perf_event_open(2) with a packed attr (bytes); returns the fd or raises OSError."""
        nr = PERF_EVENT_OPEN_NR.get(platform.machine())
        if nr is None:
            raise OSError(_errno.ENOSYS, "perf_event_open: unknown arch %s" % platform.machine())
        buf = ctypes.create_string_buffer(bytes(attr), len(attr))
        ctypes.set_errno(0)
        fd = self.libc.syscall(ctypes.c_long(nr), buf, c_int(pid), c_int(cpu),
                               c_int(group_fd), ctypes.c_ulong(flags))
        if fd < 0:
            err = ctypes.get_errno()
            raise OSError(err, "perf_event_open: %s" % errno_text(err))
        return fd


PROG_INFO_BUF = 512
# struct bpf_prog_info: __u32 jited_prog_len at 16, __aligned_u64 jited_prog_insns at 24.
JITED_LEN_OFF = 16
JITED_INSNS_OFF = 24

PERF_EVENT_OPEN_NR = {"x86_64": 298, "aarch64": 241, "riscv64": 241}

PERF_TYPE_HARDWARE = 0
PERF_TYPE_SOFTWARE = 1
PERF_COUNT_SW_CPU_CLOCK = 0
PERF_ATTR_SIZE_VER5 = 112
PERF_FLAG_FD_CLOEXEC = 8


def perf_attr(type_, config, sample_period=0, sample_freq=0, sample_type=0,
              disabled=False, exclude_kernel=False, exclude_hv=False, config1=0,
              config2=0, aux_watermark=0):
    """Pack a struct perf_event_attr (ABI version 5, 112 bytes)."""
    flags = 0
    if disabled:
        flags |= 1 << 0
    if exclude_kernel:
        flags |= 1 << 5
    if exclude_hv:
        flags |= 1 << 6
    if sample_freq:
        flags |= 1 << 10
    period = sample_freq or sample_period
    attr = struct.pack(
        "=IIQQQQQIIQQQQIIQIHH",
        type_, PERF_ATTR_SIZE_VER5, config, period, sample_type, 0, flags,
        0, 0,                # wakeup_events, bp_type
        config1, config2,    # config1 (bp_addr), config2 (bp_len)
        0, 0,                # branch_sample_type, sample_regs_user
        0, 0,                # sample_stack_user, clockid
        0, aux_watermark,    # sample_regs_intr, aux_watermark
        0, 0,                # sample_max_stack, reserved
    )
    return attr


def soname_version(loaded=None):
    """Version from the real file name of the loaded libbpf (libbpf.so.1.1.2 -> 1.1.2);
    with `loaded`, of that file only (a bundled libbpf next to the system's)."""
    want = os.path.realpath(loaded) if loaded else None
    try:
        with open("/proc/self/maps") as f:
            for line in f:
                path = line.rsplit(None, 1)[-1]
                base = os.path.basename(path)
                if want is not None and path != want:  # maps shows resolved paths
                    continue
                if base.startswith("libbpf.so."):
                    real = os.path.basename(os.path.realpath(path))
                    return real[len("libbpf.so."):]
    except OSError:
        pass
    return None


def _globals_module():
    from . import globals as mod  # on first use: libbpf.py also loads on its own in tests
    return mod


class BpfObject(object):
    """A libbpf bpf_object; close() is idempotent and also frees the .bss mmap."""

    def __init__(self, lb, ptr, name):
        self.lb = lb
        self.ptr = ptr
        self.name = name
        self.loaded = False
        self._mmaps = {}
        self.elf = None  # the object file (bytes or path), for its BTF: see globals.py
        self._info = None

    def load(self):
        rc = self.lb.lib.bpf_object__load(self.ptr)
        if rc < 0:
            raise LoadFailed("bpf_object__load(%s)" % self.name, -rc, self.lb.take_log())
        self.loaded = True

    def owned_ids(self):
        """{"progs": [...], "maps": [...]}: kernel ids of what this object loaded."""
        out = {"progs": [], "maps": []}
        if not self.ptr or not self.loaded:
            return out
        lib = self.lb.lib
        p = lib.bpf_object__next_program(self.ptr, None)
        while p:
            out["progs"].append(self.lb.obj_id(lib.bpf_program__fd(p)))
            p = lib.bpf_object__next_program(self.ptr, p)
        m = lib.bpf_object__next_map(self.ptr, None)
        while m:
            out["maps"].append(self.lb.obj_id(lib.bpf_map__fd(m)))
            m = lib.bpf_object__next_map(self.ptr, m)
        return {k: [i for i in v if i is not None] for k, v in out.items()}

    def close(self):
        for m in self._mmaps.values():
            try:
                m.close()
            except Exception:
                pass
        self._mmaps = {}
        if self.ptr:
            self.lb.lib.bpf_object__close(self.ptr)
            self.ptr = None

    def programs(self):
        out = []
        p = self.lb.lib.bpf_object__next_program(self.ptr, None)
        while p:
            out.append(self.lb.lib.bpf_program__name(p).decode())
            p = self.lb.lib.bpf_object__next_program(self.ptr, p)
        return out

    def program(self, name):
        p = self.lb.lib.bpf_object__find_program_by_name(self.ptr, name.encode())
        if not p:
            raise KeyError("no program %r in %s (have: %s)"
                           % (name, self.name, ", ".join(self.programs())))
        return p

    def set_autoload(self, name, on):
        rc = self.lb.lib.bpf_program__set_autoload(self.program(name), bool(on))
        if rc < 0:
            raise LibbpfError("bpf_program__set_autoload(%s)" % name, -rc)

    def prog_fd(self, name):
        fd = self.lb.lib.bpf_program__fd(self.program(name))
        if fd < 0:
            raise LibbpfError("bpf_program__fd(%s)" % name, -fd)
        return fd

    def maps(self):
        out = []
        m = self.lb.lib.bpf_object__next_map(self.ptr, None)
        while m:
            out.append(self.lb.lib.bpf_map__name(m).decode())
            m = self.lb.lib.bpf_object__next_map(self.ptr, m)
        return out

    def map(self, name):
        m = self.lb.lib.bpf_object__find_map_by_name(self.ptr, name.encode())
        if not m and name.startswith("."):
            # Internal maps are named "<obj prefix>.bss" on libbpf < 0.6.
            cur = self.lb.lib.bpf_object__next_map(self.ptr, None)
            while cur:
                if self.lb.lib.bpf_map__name(cur).decode().endswith(name):
                    m = cur
                    break
                cur = self.lb.lib.bpf_object__next_map(self.ptr, cur)
        if not m:
            raise KeyError("no map %r in %s (have: %s)"
                           % (name, self.name, ", ".join(self.maps())))
        return m

    def map_fd(self, name):
        fd = self.lb.lib.bpf_map__fd(self.map(name))
        if fd < 0:
            raise LibbpfError("bpf_map__fd(%s)" % name, -fd)
        return fd

    def value_size(self, name):
        return int(self.lb.lib.bpf_map__value_size(self.map(name)))

    def lookup(self, name, key, value_size=None):
        """Value (bytes) for `key` (bytes) in map `name`, or None when absent."""
        size = value_size or self.value_size(name)
        return self.lb.map_lookup(self.map_fd(name), key, size)

    def update(self, name, key, value, flags=0):
        self.lb.map_update(self.map_fd(name), key, value, flags)

    def stack(self, name, stack_id):  # type: (str, int) -> object
        """The instruction pointers of stack `stack_id` in BPF_MAP_TYPE_STACK_TRACE map
        `name` (what bpf_get_stackid returned), innermost first, without the zero
        padding; None when the map has no such stack."""
        raw = self.lookup(name, struct.pack("=I", stack_id))
        if raw is None:
            return None
        return [ip for ip in struct.unpack("=%dQ" % (len(raw) // 8), raw) if ip]

    def _section(self, sec):
        """A live view of an internal array map (.bss/.data): mmap, else None."""
        if sec in self._mmaps:
            return self._mmaps[sec]
        fd = self.map_fd(sec)
        size = self.value_size(sec)
        page = mmap.PAGESIZE
        length = (size + page - 1) // page * page
        try:
            mm = mmap.mmap(fd, length, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        except (OSError, ValueError):
            mm = None  # not BPF_F_MMAPABLE (old kernel): fall back to lookup/update
        self._mmaps[sec] = mm
        return mm

    def section_bytes(self, sec=".bss"):
        mm = self._section(sec)
        size = self.value_size(sec)
        if mm is not None:
            return mm[:size]
        return self.lb.map_lookup(self.map_fd(sec), b"\0\0\0\0", size) or b""

    def section_write(self, offset, data, sec=".bss"):
        mm = self._section(sec)
        if mm is not None:
            mm[offset:offset + len(data)] = data
            return
        cur = bytearray(self.section_bytes(sec))
        cur[offset:offset + len(data)] = data
        self.lb.map_update(self.map_fd(sec), b"\0\0\0\0", bytes(cur))

    # -- named globals (agent/globals.py) ---------------------------------------

    @property
    def info(self):
        """The object's own BTF: globals by section, decl tags by program."""
        if self._info is None:
            src = self.elf
            if src is None and getattr(self, "_keep", None) is not None:
                src = self._keep.raw
            if src is None:
                raise ValueError("%s: no object file to read BTF from" % self.name)
            if not isinstance(src, (bytes, bytearray)):
                with open(src, "rb") as f:
                    src = f.read()
            self._info = _globals_module().ObjectInfo(src)
        return self._info

    def globals(self, sec):
        """A SectionView of section `sec` (".bss", ".data", ".rodata", ".data.foo")."""
        return _globals_module().SectionView(self, self.info, sec)

    @property
    def bss(self):
        return self.globals(".bss")

    @property
    def data(self):
        return self.globals(".data")

    @property
    def rodata(self):
        return self.globals(".rodata")

    # Legacy: positional u64 words, for cases written before named globals.

    def bss_u64(self, n):
        """The first `n` u64 words of .bss (legacy `__u64 res[N]` convention;
        new checks read named globals: obj.bss.NAME)."""
        raw = self.section_bytes(".bss")
        if len(raw) < 8 * n:
            raise ValueError(".bss of %s holds %d bytes, fewer than %d u64"
                             % (self.name, len(raw), n))
        return list(struct.unpack_from("=%dQ" % n, raw, 0))

    def bss_set_u64(self, index, value):
        """Legacy: set u64 word `index` of .bss (new checks: obj.bss.NAME = value)."""
        self.section_write(8 * index, struct.pack("=Q", value & 0xFFFFFFFFFFFFFFFF))

    def test_run(self, prog, data=None, data_out_size=0, ctx=None, ctx_out_size=0,
                 repeat=1, flags=0):
        return self.lb.test_run(self.prog_fd(prog), data, data_out_size, ctx, ctx_out_size,
                                repeat, flags)

    def ringbuf(self, map_name, timeout_ms=100, max_polls=10, want=1):
        return self.lb.ringbuf_drain(self.map_fd(map_name), timeout_ms, max_polls, want)

    def perfbuf(self, map_name, trigger=None, timeout_ms=100, max_polls=10, want=1):
        return self.lb.perfbuf_drain(self.map_fd(map_name), trigger, timeout_ms, max_polls,
                                     want)

    def user_ringbuf_write(self, map_name, samples):
        self.lb.user_ringbuf_write(self.map_fd(map_name), samples)

    def prog_info(self, prog):
        return self.lb.prog_info(self.prog_fd(prog))

    def jited_image(self, prog):
        return self.lb.jited_image(self.prog_fd(prog))


class Link(object):
    def __init__(self, lb, ptr, what):
        self.lb = lb
        self.ptr = ptr
        self.what = what

    def id(self):
        fn = getattr(self.lb.lib, "bpf_link__fd", None)
        return self.lb.obj_id(fn(self.ptr)) if self.ptr and fn is not None else None

    def destroy(self):
        if self.ptr:
            self.lb.lib.bpf_link__destroy(self.ptr)
            self.ptr = None


def attach(lb, obj, prog, kind="auto", arg=None):
    """Attach `prog` of `obj`: kind auto (by section), xdp (arg=ifindex), perf (arg=fd),
    uprobe (arg=(binary path, function name, pid, retprobe))."""
    p = obj.program(prog)
    ctypes.set_errno(0)
    if kind == "auto":
        ptr = lb.lib.bpf_program__attach(p)
        op = "bpf_program__attach(%s)" % prog
    elif kind == "xdp":
        ptr = lb.lib.bpf_program__attach_xdp(p, int(arg))
        op = "bpf_program__attach_xdp(%s, ifindex=%d)" % (prog, int(arg))
    elif kind == "perf":
        ptr = lb.lib.bpf_program__attach_perf_event(p, int(arg))
        op = "bpf_program__attach_perf_event(%s)" % prog
    elif kind == "uprobe":
        binary, func, pid, retprobe = arg
        opts = _UprobeOpts(ctypes.sizeof(_UprobeOpts), 0, 0, bool(retprobe), func.encode())
        # libbpf resolves the symbol in the ELF file to its offset (func_name, 1.0+).
        ptr = lb.lib.bpf_program__attach_uprobe_opts(p, int(pid), binary.encode(), 0,
                                                     ctypes.byref(opts))
        op = "bpf_program__attach_uprobe_opts(%s, %s:%s)" % (prog, binary, func)
    else:
        raise ValueError("unknown attach kind %r" % kind)
    err = _ptr_err(ptr)
    if err:
        sec = getattr(lb.lib, "bpf_program__section_name", None)
        raise AttachFailed(op, err, lb.take_log(),
                           (sec(p) or b"").decode("utf-8", "replace") if sec else kind)
    return Link(lb, ptr, op)
