"""isa: cpu v4 instructions (ldsx, movsx, bswap, sdiv/smod, gotol) compute the right values.

The object is compiled by zig's clang with -mcpu=v4; the check first proves the
instructions are really in it, then runs them. A kernel whose verifier does not
know v4 refuses the load: that is a kernel-lacks skip quoting the verifier.
"""

import errno
import os
import re

CASE = {
    "description": "cpu v4: sign-extending loads and moves, bswap16/32/64, sdiv/smod 32/64 and "
                   "gotol from raw_tp/sys_enter, values checked",
    "compiler": "ziglang",
    "requires": {"probes": ["cpu_v4"]},
    "timeout": 60,
}

A = 0x0123456789AB8F81  # every width's sign bit is set: s8 0x81, s16 0x8f81, s32 0x89ab8f81
X, Y, Z = -1000003, 17, -7
SECTION = "raw_tp/sys_enter"
# Refusals of an unknown v4 encoding by a pre-v4 verifier (e.g. "BPF_LDX uses
# reserved fields" on 6.1), or by an interpreter/JIT that lacks one.
PRE_V4 = re.compile(r"BPF_\w+ uses reserved fields|unknown opcode \w+|"
                    r"invalid BPF_\w+ opcode|unknown insn class \d+")


def _sx(v, bits):
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


def _u64(v):
    return v & 0xFFFFFFFFFFFFFFFF


def _tdiv(a, b):  # C division truncates toward zero
    q = abs(a) // abs(b)
    return q if (a < 0) == (b < 0) else -q


def _bswap(v, nbytes):
    return int.from_bytes(v.to_bytes(nbytes, "little"), "big")


def v4_insns(insns):
    """Counts of the cpu v4 encodings among (opcode, dst, src, off, imm) tuples."""
    seen = {"ldsx": 0, "movsx": 0, "bswap": 0, "sdiv": 0, "smod": 0, "gotol": 0}
    for op, _dst, _src, off, _imm in insns:
        if op in (0x81, 0x89, 0x91):  # LDX | MEMSX | W/H/B
            seen["ldsx"] += 1
        elif op in (0xBF, 0xBC) and off in (8, 16, 32):  # MOV X with a sign-extend width
            seen["movsx"] += 1
        elif op == 0xD7:  # ALU64 | END: unconditional swap
            seen["bswap"] += 1
        elif op in (0x3F, 0x37, 0x3C, 0x34) and off == 1:
            seen["sdiv"] += 1
        elif op in (0x9F, 0x97, 0x9C, 0x94) and off == 1:
            seen["smod"] += 1
        elif op == 0x06:  # JMP32 | JA: the offset is in imm
            seen["gotol"] += 1
    return seen


def expected():
    x32, y32, z32 = _sx(X, 32), _sx(Y, 32), _sx(Z, 32)
    return {
        8: _sx(A, 8), 9: _sx(A, 16), 10: _sx(A, 32),
        11: _sx(A, 8), 12: _sx(A, 16), 13: _sx(A, 32),
        14: _bswap(A & 0xFFFF, 2), 15: _bswap(A & 0xFFFFFFFF, 4), 16: _bswap(A, 8),
        17: _tdiv(X, Y), 18: X - _tdiv(X, Z) * Z,
        19: _tdiv(x32, y32), 20: x32 - _tdiv(x32, z32) * z32,
        21: 1,
    }


NAMES = {8: "ldsx s8", 9: "ldsx s16", 10: "ldsx s32", 11: "movsx s8", 12: "movsx s16",
         13: "movsx s32", 14: "bswap16", 15: "bswap32", 16: "bswap64", 17: "sdiv64",
         18: "smod64", 19: "sdiv32", 20: "smod32", 21: "gotol"}


def run(t):
    insns = t.object_insns(SECTION)
    t.expect(insns is not None, "the object has no %s section" % SECTION)
    seen = v4_insns(insns)
    t.detail("v4_insns", seen)
    missing = [k for k, n in sorted(seen.items()) if not n]
    t.expect(not missing, "the compiler emitted no %s instruction; the case would not test "
             "them" % ", ".join(missing))
    try:
        obj = t.load()
    except t.LoadFailed as e:
        log = e.log or ""
        m = PRE_V4.search(log)
        if m:
            t.skip("kernel-lacks", "the verifier refuses cpu v4 instructions: %s" % m.group(0))
        if e.errno == 524:
            t.skip("kernel-lacks", "the BPF JIT cannot compile cpu v4 instructions "
                   "(%s, no verifier complaint)" % errno.errorcode.get(e.errno, "ENOTSUPP"))
        raise
    obj.bss_set_u64(2, A)
    obj.bss_set_u64(3, _u64(X))
    obj.bss_set_u64(4, _u64(Y))
    obj.bss_set_u64(5, _u64(Z))
    obj.bss_set_u64(6, 1)
    obj.bss_set_u64(1, os.getpid())
    t.attach(obj, "cpuv4")
    res = t.wait_bss(obj, 24)
    t.expect(res[0] == 1, "raw_tp/sys_enter program did not fire")
    got = {}
    bad = []
    for idx, want in sorted(expected().items()):
        val = _sx(res[idx], 64) if want < 0 else res[idx]
        got[NAMES[idx]] = val
        if val != want:
            bad.append("%s = %d (0x%x), expected %d (0x%x)" % (NAMES[idx], val, _u64(val),
                                                               want, _u64(want)))
    t.detail("values", got)
    t.expect(not bad, "; ".join(bad))
