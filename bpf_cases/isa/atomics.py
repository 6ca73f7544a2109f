"""isa: BPF atomic instructions return the old value and leave the right new value."""

import os
import struct

CASE = {
    "description": "BPF atomics (-mcpu=v3): fetch_add/and/or/xor, xchg, cmpxchg (64 and 32 bit) "
                   "and non-fetching add/and/or/xor from raw_tp/sys_enter, values checked",
    "cflags": ["-mcpu=v3"],
    "requires": {"probes": ["atomics"]},
    "timeout": 60,
}

INIT = 0x8765432187654321
M64 = 0xFFFFFFFFFFFFFFFF
M32 = 0xFFFFFFFF


def expected(init):
    i32 = init & M32
    words = {  # res index -> (name, value)
        3: ("fetch_add64 new", (init + 0x1111) & M64),
        4: ("fetch_and64 new", init & 0xF0F0F0F0F0F0F0F0),
        5: ("fetch_or64 new", init | 0x0F00000000000F0F),
        6: ("fetch_xor64 new", init ^ 0xFFFF0000FFFF0000),
        7: ("xchg64 new", 0xDEADBEEFCAFEF00D),
        8: ("cmpxchg64 new", init ^ 0x5A5A),
        9: ("add/and/or/xor64 (no fetch)",
            ((((init + 5) & M64) & 0x00FFFFFFFFFFFFFF) | 0x3000000000000000) ^ 0xFF0000),
        10: ("fetch_add64 old", init), 11: ("fetch_and64 old", init),
        12: ("fetch_or64 old", init), 13: ("fetch_xor64 old", init),
        14: ("xchg64 old", init), 15: ("cmpxchg64 old", init),
        22: ("stale cmpxchg64 returned", init ^ 0x5A5A),
    }
    for i in range(16, 22):
        words[i] = (["fetch_add32", "fetch_and32", "fetch_or32", "fetch_xor32", "xchg32",
                     "cmpxchg32"][i - 16] + " old", i32)
    w = [(i32 + 0x7FFFFFFF) & M32, i32 & 0x0FF00FF0, i32 | 0x80000001, i32 ^ M32, 0x12345678,
         0x9ABCDEF0]
    return words, w


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
    seen = atomic_insns(t.object_insns("raw_tp/sys_enter") or [])
    t.detail("atomic_insns", seen)
    want = ["%s/%s" % (name, w) for name in ("fetch_add", "fetch_and", "fetch_or", "fetch_xor",
                                             "xchg", "cmpxchg") for w in ("64", "32")]
    want += ["add/64", "and/64", "or/64", "xor/64"]
    missing = [k for k in want if k not in seen]
    t.expect(not missing, "the compiler emitted no %s instruction; the case would not test "
             "them" % ", ".join(missing))
    obj = t.load()
    init = INIT ^ (os.getpid() << 8)
    obj.bss_set_u64(2, init)
    obj.bss_set_u64(1, os.getpid())
    t.attach(obj, "atomics")
    res = t.wait_bss(obj, 24)
    t.expect(res[0] == 1, "raw_tp/sys_enter program did not fire")
    # w[] follows res[] in .bss.
    w = list(struct.unpack_from("=8I", obj.section_bytes(".bss"), 24 * 8))
    words, want_w = expected(init)
    bad = []
    for idx, (name, want) in sorted(words.items()):
        if res[idx] != want:
            bad.append("%s 0x%x, expected 0x%x" % (name, res[idx], want))
    names32 = ["fetch_add32", "fetch_and32", "fetch_or32", "fetch_xor32", "xchg32", "cmpxchg32"]
    for i, want in enumerate(want_w):
        if w[i] != want:
            bad.append("%s new 0x%x, expected 0x%x" % (names32[i], w[i], want))
    t.detail("init", "0x%x" % init)
    t.detail("values64", {name: "0x%x" % res[idx] for idx, (name, _) in words.items()})
    t.detail("values32", {names32[i]: "0x%x" % w[i] for i in range(6)})
    t.expect(not bad, "; ".join(bad))
