"""isa: BPF atomic instructions return the old value and leave the right new value."""

import os

CASE = {
    "description": "BPF atomics (-mcpu=v3): fetch_add/and/or/xor, xchg, cmpxchg (64 and 32 bit) "
                   "and non-fetching add/and/or/xor from raw_tp/sys_enter, values checked",
    "cflags": ["-mcpu=v3"],
    "requires": {"probes": ["atomics"]},
}

INIT = 0x8765432187654321
M64, M32 = 0xFFFFFFFFFFFFFFFF, 0xFFFFFFFF


def expected(i):
    """What each word holds after its atomic, for start value i (64 and 32 bit)."""
    j = i & M32
    return ({"fetch_add": (i + 0x1111) & M64, "fetch_and": i & 0xF0F0F0F0F0F0F0F0,
             "fetch_or": i | 0x0F00000000000F0F, "fetch_xor": i ^ 0xFFFF0000FFFF0000,
             "xchg": 0xDEADBEEFCAFEF00D, "cmpxchg": i ^ 0x5A5A},
            {"fetch_add": (j + 0x7FFFFFFF) & M32, "fetch_and": j & 0x0FF00FF0,
             "fetch_or": j | 0x80000001, "fetch_xor": j ^ M32, "xchg": 0x12345678,
             "cmpxchg": 0x9ABCDEF0})


# imm of BPF_STX | BPF_ATOMIC: the operation, | 0x01 (BPF_FETCH) for the fetching forms.
ATOMIC_OPS = {0x00: "add", 0x50: "and", 0x40: "or", 0xA0: "xor", 0x01: "fetch_add",
              0x51: "fetch_and", 0x41: "fetch_or", 0xA1: "fetch_xor", 0xE1: "xchg",
              0xF1: "cmpxchg"}


def atomic_insns(insns):
    """{"fetch_add/64": n, ...} for the BPF_ATOMIC instructions among the tuples."""
    seen = {}
    for op, _dst, _src, _off, imm in insns:
        if op in (0xDB, 0xC3):  # STX | ATOMIC | DW or W
            key = "%s/%s" % (ATOMIC_OPS.get(imm, "imm 0x%x" % imm), "64" if op == 0xDB else "32")
            seen[key] = seen.get(key, 0) + 1
    return seen


def run(t):
    seen = t.detail("atomic_insns", atomic_insns(t.object_insns("raw_tp/sys_enter") or []))
    want = ["%s/%s" % (op, w) for op in ("fetch_add", "fetch_and", "fetch_or", "fetch_xor",
                                         "xchg", "cmpxchg") for w in ("64", "32")]
    missing = [k for k in want + ["add/64", "and/64", "or/64", "xor/64"] if k not in seen]
    t.expect(not missing, "the compiler emitted no %s instruction; the case would not test "
             "them" % ", ".join(missing))
    obj = t.load()
    init = INIT ^ (os.getpid() << 8)
    obj.bss.init = init
    t.attach(obj, "atomics")
    bss = obj.bss
    t.expect_true(t.wait(lambda: bss.ran), "fired")
    for width, start, want in zip(("64", "32"), (init, init & M32), expected(init)):
        new, old = bss["new" + width], bss["old" + width]
        for op in sorted(want):
            t.expect_eq(hex(new[op]), hex(want[op]), "%s%s new" % (op, width))
            t.expect_eq(hex(old[op]), hex(start), "%s%s old" % (op, width))
    t.expect_eq(hex(bss.stale_cmpxchg), hex(init ^ 0x5A5A), "stale cmpxchg64 returned")
    t.expect_eq(hex(bss.nofetch), hex(((((init + 5) & M64) & 0x00FFFFFFFFFFFFFF) |
                                       0x3000000000000000) ^ 0xFF0000), "add/and/or/xor64")
