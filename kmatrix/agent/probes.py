"""Capability probes: a real attempt per kernel feature, once per host.

A case that needs a feature names its probe in CASE["requires"]["probes"]; when
the probe says the kernel lacks it, the case is a kernel-lacks skip that quotes
the probe's evidence, whatever the kernel's version number says. Each probe is a
tiny program handed to the bpf(2) syscall directly (no libbpf, no compiler), so
the answer depends on the kernel alone. Stdlib only, Python 3.7.

Result of a probe: {"state": "yes"|"no"|"blocked"|"unknown", "class": reason
class or None, "sentence": what was tried and what the kernel said}. "no" is a
kernel-lacks verdict, "blocked" an environment-blocks one (ftrace off, EPERM),
"unknown" never decides a skip: the case itself then runs and shows what happens.
"""

import ctypes
import errno as _errno
import os
import platform
import struct

try:
    from .reasons import ENVIRONMENT_BLOCKS, KERNEL_LACKS
except ImportError:  # a script: bundle.agent_source() put reasons.py before this file
    if "KERNEL_LACKS" not in globals():
        from reasons import ENVIRONMENT_BLOCKS, KERNEL_LACKS  # type: ignore

BPF_NR = {"x86_64": 321, "aarch64": 280, "riscv64": 280}

# bpf(2) commands, program/map types and attach types (include/uapi/linux/bpf.h).
BPF_MAP_CREATE = 0
BPF_PROG_LOAD = 5
BPF_RAW_TRACEPOINT_OPEN = 17
PROG_SOCKET_FILTER = 1
PROG_XDP = 6
PROG_TRACING = 26
MAP_ARRAY = 2
TRACE_FENTRY = 24
F_XDP_HAS_FRAGS = 1 << 5
PSEUDO_MAP_VALUE = 2
PSEUDO_KFUNC_CALL = 2
HELPER_GET_FUNC_ARG = 183
HELPER_DYNPTR_FROM_MEM = 197
ENOTSUPP = 524  # kernel-internal; leaks out of the bpf syscall on a missing JIT feature

# The function every kernel since 5.5 builds for BPF trampoline self-tests.
TRAMPOLINE_TARGET = "bpf_fentry_test1"
ATTR_SIZE = 144  # larger than any field we set; the kernel accepts a zero tail
LOG_SIZE = 1 << 16


def insn(code, dst=0, src=0, off=0, imm=0):
    return struct.pack("<BBhi", code, (src << 4) | dst, off, imm)


def mov64_imm(dst, imm):
    return insn(0xB7, dst, 0, 0, imm)


EXIT = insn(0x95)
RET0 = mov64_imm(0, 0) + EXIT


class _Sys(object):
    """The bpf(2) syscall through the process's own libc."""

    def __init__(self):
        self.nr = BPF_NR.get(platform.machine())
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.libc.syscall.restype = ctypes.c_long

    def bpf(self, cmd, attr):
        """(fd or result >= 0, 0) or (-1, errno)."""
        if self.nr is None:
            return -1, _errno.ENOSYS
        buf = ctypes.create_string_buffer(bytes(attr), len(attr))
        ctypes.set_errno(0)
        rc = self.libc.syscall(ctypes.c_long(self.nr), ctypes.c_int(cmd), buf,
                               ctypes.c_uint(len(attr)))
        return (rc, 0) if rc >= 0 else (-1, ctypes.get_errno())

    def prog_load(self, prog_type, code, attach_type=0, attach_btf_id=0, flags=0):
        """(fd, errno, verifier log). The caller closes a returned fd."""
        insns = ctypes.create_string_buffer(code, len(code))
        lic = ctypes.create_string_buffer(b"GPL")
        log = ctypes.create_string_buffer(LOG_SIZE)
        attr = bytearray(ATTR_SIZE)
        struct.pack_into("=IIQQIIQ", attr, 0, prog_type, len(code) // 8,
                         ctypes.addressof(insns), ctypes.addressof(lic), 1, LOG_SIZE,
                         ctypes.addressof(log))
        struct.pack_into("=I", attr, 44, flags)
        struct.pack_into("=16s", attr, 48, b"kmatrix_probe")
        struct.pack_into("=I", attr, 68, attach_type)
        struct.pack_into("=I", attr, 108, attach_btf_id)
        fd, err = self.bpf(BPF_PROG_LOAD, attr)
        text = log.value.decode("utf-8", "replace")
        if fd < 0 and err == _errno.ENOSPC:
            text += "\n[verifier log truncated]"
        return fd, err, text

    def array_map(self):
        attr = bytearray(ATTR_SIZE)
        struct.pack_into("=IIII", attr, 0, MAP_ARRAY, 4, 16, 1)
        return self.bpf(BPF_MAP_CREATE, attr)

    def raw_tp_open(self, prog_fd):
        attr = bytearray(16)
        struct.pack_into("=QI", attr, 0, 0, prog_fd)
        return self.bpf(BPF_RAW_TRACEPOINT_OPEN, attr)


def _close(fd):
    if fd is not None and fd >= 0:
        try:
            os.close(fd)
        except OSError:
            pass


def errno_name(err):
    if err == ENOTSUPP:
        return "-524 ENOTSUPP"
    return "-%d %s" % (err, _errno.errorcode.get(err, "E?"))


def _last_line(log):
    # The verifier's closing statistics line says nothing about why it refused.
    lines = [ln.strip() for ln in (log or "").splitlines()
             if ln.strip() and not ln.startswith("processed ")]
    return lines[-1] if lines else ""


def result(state, sentence, reason_class=None):
    if reason_class is None:
        reason_class = {"no": KERNEL_LACKS, "blocked": ENVIRONMENT_BLOCKS}.get(state)
    return {"state": state, "class": reason_class, "sentence": sentence}


def _refused(what, err, log):
    said = _last_line(log)
    return "%s is refused with %s%s" % (what, errno_name(err), (": " + said) if said else "")


def _load_verdict(what, fd, err, log, lacks_markers, feature):
    """Common rule for a load-only probe: loaded -> yes; a marker in the log -> no."""
    if fd >= 0:
        _close(fd)
        return result("yes", "%s loads" % what)
    for marker in lacks_markers:
        if marker in log:
            return result("no", "%s: the verifier says %r" % (feature, _matching(log, marker)))
    if err == _errno.EPERM:
        return result("blocked", _refused(what, err, log) + " (not permitted here)")
    return result("unknown", _refused(what, err, log))


def _matching(log, marker):
    for line in log.splitlines():
        if marker in line:
            return line.strip()
    return marker


# -- the probes ---------------------------------------------------------------------


def probe_atomics(sys_, ctx):
    # *(u64 *)(r10 - 8) = 0; r1 = 1; r1 = atomic_fetch_add(*(u64 *)(r10 - 8), r1)
    code = insn(0x7A, 10, 0, -8, 0) + mov64_imm(1, 1) + insn(0xDB, 10, 1, -8, 0x01) + RET0
    fd, err, log = sys_.prog_load(PROG_SOCKET_FILTER, code)
    return _load_verdict("a socket filter with atomic_fetch_add", fd, err, log,
                         ["BPF_STX uses reserved fields", "unknown atomic"],
                         "no BPF atomics (fetch/xchg/cmpxchg, Linux 5.12)")


def probe_cpu_v4(sys_, ctx):
    # Each cpu v4 encoding once: ldsx, movsx, bswap, sdiv, smod, gotol.
    code = (insn(0x7A, 10, 0, -8, 0x81)          # *(u64 *)(r10 - 8) = 0x81
            + insn(0x91, 1, 10, -8, 0)            # r1 = *(s8 *)(r10 - 8)
            + insn(0xBF, 2, 1, 8, 0)              # r2 = (s8) r1
            + insn(0xD7, 2, 0, 0, 64)             # r2 = bswap64 r2
            + insn(0x37, 2, 0, 1, 3)              # r2 s/= 3
            + insn(0x97, 2, 0, 1, 3)              # r2 s%= 3
            + insn(0x06, 0, 0, 0, 0)              # gotol +0
            + RET0)
    fd, err, log = sys_.prog_load(PROG_SOCKET_FILTER, code)
    if fd < 0 and err == ENOTSUPP:
        return result("no", "the BPF JIT cannot compile cpu v4 instructions (load of "
                      "ldsx/movsx/bswap/sdiv/smod/gotol returns -524 ENOTSUPP)")
    return _load_verdict("a socket filter with cpu v4 instructions", fd, err, log,
                         ["uses reserved fields", "unknown opcode", "invalid BPF_ALU opcode",
                          "invalid BPF_LD", "unknown insn class", "invalid ld", "BPF_END uses"],
                         "no cpu v4 ISA (Linux 6.6)")


def probe_kfunc_call(sys_, ctx):
    tid = ctx.func_id(TRAMPOLINE_TARGET)
    if tid is None:
        return result("unknown", "no BTF function %s to aim a kfunc call at" % TRAMPOLINE_TARGET)
    # A call of a kernel function by BTF id. A kernel that knows kfunc calls names
    # the function in its refusal (it is not a registered kfunc); one that does not
    # calls the encoding reserved.
    code = insn(0x85, 0, PSEUDO_KFUNC_CALL, 0, tid) + RET0
    fd, err, log = sys_.prog_load(PROG_SOCKET_FILTER, code)
    if fd >= 0:
        _close(fd)
        return result("yes", "a kfunc call by BTF id loads")
    if "JIT does not support calling kernel function" in log:
        return result("no", "the %s BPF JIT cannot call kernel functions (verifier: %r)"
                      % (platform.machine(), _matching(log, "JIT does not support")))
    if "JIT is required" in log or "non-JITed" in log:
        return result("blocked", "kfunc calls need the BPF JIT, which is off here (verifier: %r)"
                      % _last_line(log))
    if "reserved fields" in log or "invalid BPF_CALL" in log:
        return result("no", "no kfunc calls (Linux 5.13): the verifier says %r"
                      % _matching(log, "reserved fields" if "reserved fields" in log else "invalid"))
    for marker in ("calling kernel function", "kernel btf_id", "kernel function"):
        if marker in log:
            return result("yes", "the verifier knows kfunc calls (it answers %r)"
                          % _matching(log, marker))
    return result("unknown", _refused("a kfunc call", err, log))


def probe_dynptr(sys_, ctx):
    mfd, err = sys_.array_map()
    if mfd < 0:
        return result("unknown", "creating an array map fails with %s" % errno_name(err))
    try:
        code = (insn(0x18, 1, PSEUDO_MAP_VALUE, 0, mfd) + insn(0, 0, 0, 0, 0)  # r1 = &value
                + mov64_imm(2, 8) + mov64_imm(3, 0)
                + insn(0xBF, 4, 10, 0, 0) + insn(0x07, 4, 0, 0, -16)       # r4 = r10 - 16
                + insn(0x85, 0, 0, 0, HELPER_DYNPTR_FROM_MEM) + RET0)
        fd, err, log = sys_.prog_load(PROG_SOCKET_FILTER, code)
    finally:
        _close(mfd)
    return _load_verdict("a socket filter calling bpf_dynptr_from_mem", fd, err, log,
                         ["invalid func unknown#%d" % HELPER_DYNPTR_FROM_MEM],
                         "no dynptr (bpf_dynptr_from_mem, Linux 5.19)")


def _tracing_load(sys_, ctx, code):
    tid = ctx.func_id(TRAMPOLINE_TARGET)
    if tid is None:
        return None
    return sys_.prog_load(PROG_TRACING, code, TRACE_FENTRY, tid)


def probe_trampoline(sys_, ctx):
    loaded = _tracing_load(sys_, ctx, RET0)
    if loaded is None:
        return result("unknown", "the kernel's BTF has no %s to attach to" % TRAMPOLINE_TARGET)
    fd, err, log = loaded
    what = "fentry on %s" % TRAMPOLINE_TARGET
    if fd < 0:
        if err == ENOTSUPP:
            return result("no", "no BPF trampoline on %s in this kernel: loading %s returns "
                          "-524 ENOTSUPP" % (platform.machine(), what))
        if err == _errno.EPERM:
            return result("blocked", _refused("loading " + what, err, log) +
                          " (ftrace or a security policy blocks it here)")
        return result("unknown", _refused("loading " + what, err, log))
    try:
        lfd, err = sys_.raw_tp_open(fd)
    finally:
        _close(fd)
    if lfd >= 0:
        _close(lfd)
        return result("yes", "%s attaches" % what)
    if err == ENOTSUPP:
        return result("no", "no BPF trampoline on %s in this kernel: attaching %s returns "
                      "-524 ENOTSUPP" % (platform.machine(), what))
    if err in (_errno.EPERM, _errno.EACCES, _errno.EBUSY):
        return result("blocked", "attaching %s fails with %s (ftrace is not usable here)"
                      % (what, errno_name(err)))
    return result("unknown", "attaching %s fails with %s" % (what, errno_name(err)))


def probe_get_func_arg(sys_, ctx):
    # *(u64 *)(r10 - 8) = 0; r2 = 0; r3 = r10 - 8; call bpf_get_func_arg(ctx, 0, r3)
    code = (insn(0x7A, 10, 0, -8, 0) + mov64_imm(2, 0) + insn(0xBF, 3, 10, 0, 0)
            + insn(0x07, 3, 0, 0, -8) + insn(0x85, 0, 0, 0, HELPER_GET_FUNC_ARG) + RET0)
    loaded = _tracing_load(sys_, ctx, code)
    if loaded is None:
        return result("unknown", "the kernel's BTF has no %s to attach to" % TRAMPOLINE_TARGET)
    fd, err, log = loaded
    if fd < 0 and err == ENOTSUPP:
        return result("no", "no BPF trampoline on %s in this kernel (fentry load returns "
                      "-524 ENOTSUPP), so no bpf_get_func_arg" % platform.machine())
    return _load_verdict("an fentry program calling bpf_get_func_arg", fd, err, log,
                         ["invalid func unknown#%d" % HELPER_GET_FUNC_ARG],
                         "no bpf_get_func_arg (helper #183, Linux 5.17)")


def probe_xdp_frags(sys_, ctx):
    code = mov64_imm(0, 2) + EXIT  # XDP_PASS
    fd, err, log = sys_.prog_load(PROG_XDP, code)
    if fd < 0:
        return result("unknown", _refused("a plain XDP program", err, log))
    _close(fd)
    fd, err, log = sys_.prog_load(PROG_XDP, code, flags=F_XDP_HAS_FRAGS)
    if fd >= 0:
        _close(fd)
        return result("yes", "an XDP program with BPF_F_XDP_HAS_FRAGS loads")
    if err == _errno.EINVAL:
        return result("no", "no XDP multi-buffer (Linux 5.18): a plain XDP program loads, the "
                      "same one with BPF_F_XDP_HAS_FRAGS is refused with -22 EINVAL")
    return result("unknown", _refused("an XDP program with BPF_F_XDP_HAS_FRAGS", err, log))


def probe_module_btf(sys_, ctx):
    try:
        names = sorted(n for n in os.listdir("/sys/kernel/btf") if n != "vmlinux")
    except OSError as e:
        return result("no", "no /sys/kernel/btf (%s)" % errno_name(e.errno or 0))
    if names:
        return result("yes", "%d loaded modules carry BTF (e.g. %s)" % (len(names), names[0]))
    cfg = ctx.config()
    if cfg is not None and cfg.get("CONFIG_DEBUG_INFO_BTF_MODULES") not in ("y", "m"):
        return result("no", "kernel built without CONFIG_DEBUG_INFO_BTF_MODULES: no module BTF")
    try:
        with open("/proc/modules") as f:
            loaded = [ln.split()[0] for ln in f if ln.strip()]
    except OSError:
        loaded = []
    if loaded:
        return result("no", "%d modules are loaded (e.g. %s) but none has BTF in "
                      "/sys/kernel/btf" % (len(loaded), loaded[0]))
    return result("unknown", "no module is loaded, so module BTF cannot be seen")


PROBES = {
    "atomics": probe_atomics,
    "cpu_v4": probe_cpu_v4,
    "dynptr": probe_dynptr,
    "get_func_arg": probe_get_func_arg,
    "kfunc_call": probe_kfunc_call,
    "module_btf": probe_module_btf,
    "trampoline": probe_trampoline,
    "xdp_frags": probe_xdp_frags,
}


class Context(object):
    """What probes need from the host: BTF function ids and the kernel config,
    both supplied lazily by the caller (the agent already has them)."""

    def __init__(self, func_ids=None, config=None):
        self._func_ids = func_ids
        self._config = config

    def func_id(self, name):
        try:
            ids = self._func_ids() if self._func_ids is not None else None
        except (OSError, ValueError):
            ids = None
        return (ids or {}).get(name)

    def config(self):
        try:
            return self._config() if self._config is not None else None
        except (OSError, ValueError):
            return None


class Probes(object):
    """Probe results, each measured on first use and kept for the run."""

    def __init__(self, ctx):
        self.ctx = ctx
        self.sys = None
        self.results = {}

    def get(self, name):
        if name not in self.results:
            fn = PROBES.get(name)
            if fn is None:
                return result("unknown", "no probe named %r" % name)
            if self.sys is None:
                self.sys = _Sys()
            try:
                self.results[name] = fn(self.sys, self.ctx)
            except Exception as e:  # a probe must never take the run down
                self.results[name] = result("unknown", "the probe raised %s: %s"
                                            % (type(e).__name__, e))
        return self.results[name]

    def all(self):
        for name in sorted(PROBES):
            self.get(name)
        return dict(self.results)
