"""trampoline: 8-9 arguments (fentry/fexit on do_mmap), fired by an mmap(2) of our own."""

import ctypes

CASE = {
    "description": "fentry/fexit on do_mmap (8 arguments before 6.5, 9 after, some on the "
                   "stack on every arch): length/prot/flags and the last pointer arguments "
                   "in, the mapped address out",
    "requires": {"probes": ["trampoline", "get_func_arg"], "btf_funcs": ["do_mmap"],
                 "ftrace": True},
}

LENGTH = 0x5123  # unaligned and odd: only our mmap matches
PROT_READ, MAP_PRIVATE, MAP_ANONYMOUS = 1, 0x02, 0x20


def _mmap():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                          ctypes.c_int, ctypes.c_long]
    addr = libc.mmap(None, LENGTH, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
    if addr is None or addr == ctypes.c_void_p(-1).value:
        raise OSError(ctypes.get_errno(), "mmap failed")
    libc.munmap(ctypes.c_void_p(addr), ctypes.c_size_t(LENGTH))
    return addr


def run(t):
    obj = t.load()
    obj.bss.length = LENGTH
    # -524 (ENOTSUPP) here means this arch's trampoline cannot take this many
    # arguments; the error propagates as a fail that names it (see suites/).
    t.attach(obj, "on_entry")
    t.attach(obj, "on_exit")
    addr = t.detail("mmap_returned", _mmap())
    seen, out = obj.bss.entry_seen, obj.bss.exit_seen
    n = seen.nargs
    t.expect(seen.hits == 1 and out.hits == 1, "hits fentry=%d fexit=%d for our one mmap, "
             "expected 1 each" % (seen.hits, out.hits))
    t.expect(n >= 8, "bpf_get_func_arg_cnt said %d arguments; do_mmap has 8 or 9" % n)
    args = seen.args[:n]  # (file, addr, len, prot, flags, [vm_flags,] pgoff, populate, uf)
    t.expect_eq(args[:5], [0, 0, LENGTH, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS],
                "file, addr, len, prot, flags")
    t.expect_eq(args[n - 3], 0, "pgoff")
    # populate and uf point at the caller's stack: the arguments beyond the registers.
    t.expect_true(args[n - 2] != 0 and args[n - 1] != 0, "populate and uf are pointers")
    t.expect_eq(out.args[:n], args, "fexit args")
    t.expect_eq(out.ret, addr, "fexit return value")
