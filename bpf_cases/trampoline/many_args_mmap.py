"""trampoline: 8-9 arguments (fentry/fexit on do_mmap), fired by an mmap(2) of our own."""

import ctypes
import os

CASE = {
    "description": "fentry/fexit on do_mmap (8 arguments before 6.5, 9 after, some on the "
                   "stack on every arch): length/prot/flags and the last pointer arguments "
                   "in, the mapped address out",
    "requires": {
        "probes": ["trampoline", "get_func_arg"],
        "btf_funcs": ["do_mmap"],
        "ftrace": True,
    },
    "timeout": 60,
}

LENGTH = 0x5123  # unaligned and odd: only our mmap matches
PROT_READ = 1
MAP_PRIVATE, MAP_ANONYMOUS = 0x02, 0x20
MAP_FAILED = ctypes.c_void_p(-1).value


def _mmap(libc):
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                          ctypes.c_int, ctypes.c_long]
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    addr = libc.mmap(None, LENGTH, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
    if addr is None or addr == MAP_FAILED:
        raise OSError(ctypes.get_errno(), "mmap failed")
    libc.munmap(ctypes.c_void_p(addr), LENGTH)
    return addr


def run(t):
    obj = t.load()
    obj.bss_set_u64(0, os.getpid())
    obj.bss_set_u64(1, LENGTH)
    # -524 (ENOTSUPP) here means this arch's trampoline cannot take this many
    # arguments; the error propagates as a fail that names it (see suites/).
    t.attach(obj, "on_entry")
    t.attach(obj, "on_exit")
    addr = _mmap(ctypes.CDLL(None, use_errno=True))
    res = obj.bss_u64(30)
    nargs = res[3]
    args, xargs = res[4:4 + max(nargs, 0)], res[18:18 + max(nargs, 0)]
    t.detail("nargs", nargs)
    t.detail("fentry", {"hits": res[2], "args": ["%#x" % a for a in args]})
    t.detail("fexit", {"hits": res[16], "ret": "%#x" % res[17]})
    t.detail("mmap_returned", "%#x" % addr)
    t.expect(res[2] == 1 and res[16] == 1, "hits fentry=%d fexit=%d for our one mmap, "
             "expected 1 each" % (res[2], res[16]))
    t.expect(nargs >= 8, "bpf_get_func_arg_cnt said %d arguments; do_mmap has 8 or 9" % nargs)
    # (file, addr, len, prot, flags, [vm_flags,] pgoff, populate, uf)
    t.expect(args[0] == 0 and args[1] == 0, "file/addr arguments %#x/%#x, expected NULL/0"
             % (args[0], args[1]))
    t.expect(args[2:5] == [LENGTH, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS],
             "len/prot/flags arrived as %s, expected %s"
             % (["%#x" % a for a in args[2:5]], ["%#x" % LENGTH, "%#x" % PROT_READ,
                                                  "%#x" % (MAP_PRIVATE | MAP_ANONYMOUS)]))
    t.expect(args[nargs - 3] == 0, "pgoff (argument %d) is %#x, expected 0"
             % (nargs - 3, args[nargs - 3]))
    # populate and uf point at the caller's stack: the arguments beyond the registers.
    t.expect(args[nargs - 2] != 0 and args[nargs - 1] != 0,
             "the last two arguments (populate, uf pointers) arrived as %#x, %#x"
             % (args[nargs - 2], args[nargs - 1]))
    t.expect(xargs == args, "fexit saw different arguments than fentry")
    t.expect(res[17] == addr, "fexit saw do_mmap return %#x, mmap gave %#x" % (res[17], addr))
