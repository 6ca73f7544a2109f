"""isa: cpu v4 instructions (ldsx, movsx, bswap, sdiv/smod, gotol) compute the right values.

The object is compiled by zig's clang with -mcpu=v4; the check first proves the
instructions are really in it, then runs them. A kernel whose verifier does not
know v4 refuses the load: that is a kernel-lacks skip quoting the verifier.
"""

import errno
import re

CASE = {
    "description": "cpu v4: sign-extending loads and moves, bswap16/32/64, sdiv/smod 32/64 and "
                   "gotol from raw_tp/sys_enter, values checked",
    "compiler": "ziglang",
    "requires": {"probes": ["cpu_v4"]},
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
    """Each output global: (name in the result, value C semantics give)."""
    x32, y32, z32 = _sx(X, 32), _sx(Y, 32), _sx(Z, 32)
    return {
        "ldsx8": ("ldsx s8", _sx(A, 8)), "ldsx16": ("ldsx s16", _sx(A, 16)),
        "ldsx32": ("ldsx s32", _sx(A, 32)), "movsx8": ("movsx s8", _sx(A, 8)),
        "movsx16": ("movsx s16", _sx(A, 16)), "movsx32": ("movsx s32", _sx(A, 32)),
        "bswap16": ("bswap16", _bswap(A & 0xFFFF, 2)),
        "bswap32": ("bswap32", _bswap(A & 0xFFFFFFFF, 4)), "bswap64": ("bswap64", _bswap(A, 8)),
        "sdiv64": ("sdiv64", _tdiv(X, Y)), "smod64": ("smod64", X - _tdiv(X, Z) * Z),
        "sdiv32": ("sdiv32", _tdiv(x32, y32)), "smod32": ("smod32", x32 - _tdiv(x32, z32) * z32),
        "gotol": ("gotol", 1),
    }


def run(t):
    seen = t.detail("v4_insns", v4_insns(t.object_insns(SECTION) or []))
    missing = [k for k, n in sorted(seen.items()) if not n]
    t.expect(not missing, "the compiler emitted no %s instruction; the case would not test "
             "them" % ", ".join(missing))
    try:
        obj = t.load()
    except t.LoadFailed as e:
        m = PRE_V4.search(e.log or "")
        if m:
            t.skip("kernel-lacks", "the verifier refuses cpu v4 instructions: %s" % m.group(0))
        if e.errno == 524:
            t.skip("kernel-lacks", "the BPF JIT cannot compile cpu v4 instructions "
                   "(%s, no verifier complaint)" % errno.errorcode.get(e.errno, "ENOTSUPP"))
        raise
    bss = obj.bss
    bss.a, bss.x, bss.y, bss.z, bss.take_gotol = A, X, Y, Z, 1
    t.attach(obj, "cpuv4")
    t.expect_true(t.wait(lambda: bss.done), "fired")
    got = bss._asdict()
    for var, (name, want) in sorted(expected().items()):
        t.expect_eq(got[var], want, name)
