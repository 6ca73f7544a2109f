"""Reading a JITed BPF image: a small decoder for the few arm64 and riscv64
encodings the jit cases look for, and the CPU features they depend on. Stdlib only,
Python 3.7.

The decoder is deliberately partial: it names the instructions a case asserts on
(pointer-authentication hints, arm64 load/store addressing forms, riscv64 Zbb/Zba)
and leaves every other instruction undecoded (mnemonic None). It prints them as
LLVM does, so tests/test_jitimage.py can compare it with llvm-objdump on images
captured from the lab guests.
"""

import collections
import os
import struct

# offset: byte offset in the image; size: 2 or 4; word: the raw instruction;
# mnemonic/operands: LLVM's spelling, or None for an instruction not decoded here.
Insn = collections.namedtuple("Insn", "offset size word mnemonic operands")

# --- arm64 -------------------------------------------------------------------

# Pointer authentication hints (HINT space: NOPs on a CPU without FEAT_PAuth).
A64_HINTS = {0xD503233F: "paciasp", 0xD50323BF: "autiasp",
             0xD503237F: "pacibsp", 0xD50323FF: "autibsp"}
# Load/store register (integer), unsigned 12-bit immediate offset:
# size 111 0 01 opc imm12 Rn Rt.
A64_LDST_UIMM_MASK, A64_LDST_UIMM = 0x3F000000, 0x39000000
# Load/store register (integer), register offset: size 111 0 00 opc 1 Rm option S 10 Rn Rt.
A64_LDST_REG_MASK, A64_LDST_REG = 0x3F200C00, 0x38200800
# (size, opc) -> mnemonic, for the plain stores and zero-extending loads.
_A64_LDST = {(0, 0): "strb", (0, 1): "ldrb", (1, 0): "strh", (1, 1): "ldrh",
             (2, 0): "str", (2, 1): "ldr", (3, 0): "str", (3, 1): "ldr"}
_A64_EXTEND = {2: "uxtw", 3: "lsl", 6: "sxtw", 7: "sxtx"}


def _a64_reg(n, wide, sp_ok):
    if n == 31:
        return ("sp" if wide else "wsp") if sp_ok else ("xzr" if wide else "wzr")
    return ("x%d" if wide else "w%d") % n


def _a64_ldst(word):
    """(mnemonic, operands, form) of a load/store the decoder knows, else None.
    form is "imm" (unsigned immediate offset) or "reg" (register offset)."""
    size, opc = word >> 30, (word >> 22) & 3
    mnem = _A64_LDST.get((size, opc))
    if mnem is None:
        return None
    rt = _a64_reg(word & 31, size == 3, False)
    rn = _a64_reg((word >> 5) & 31, True, True)
    if word & A64_LDST_UIMM_MASK == A64_LDST_UIMM:
        imm = ((word >> 10) & 0xFFF) << size
        addr = "[%s, #%d]" % (rn, imm) if imm else "[%s]" % rn
        return mnem, "%s, %s" % (rt, addr), "imm"
    if word & A64_LDST_REG_MASK == A64_LDST_REG:
        option, shift = (word >> 13) & 7, (word >> 12) & 1
        ext = _A64_EXTEND.get(option)
        if ext is None:
            return None
        rm = _a64_reg((word >> 16) & 31, option & 1 == 1, False)
        if ext == "lsl" and not shift:
            addr = "[%s, %s]" % (rn, rm)
        elif shift:
            addr = "[%s, %s, %s #%d]" % (rn, rm, ext, size)
        else:
            addr = "[%s, %s, %s]" % (rn, rm, ext)
        return mnem, "%s, %s" % (rt, addr), "reg"
    return None


def a64_ldst_form(word):
    """"imm", "reg" or None: the addressing form of an arm64 load/store word."""
    got = _a64_ldst(word)
    return got[2] if got else None


def _decode_a64(image):
    out = []
    for off in range(0, len(image) - len(image) % 4, 4):
        word, = struct.unpack_from("<I", image, off)
        mnem, ops = A64_HINTS.get(word), ""
        if mnem is None:
            got = _a64_ldst(word)
            mnem, ops = (got[0], got[1]) if got else (None, None)
        out.append(Insn(off, 4, word, mnem, ops))
    return out


# --- riscv64 -------------------------------------------------------------------

RV_ABI = ("zero ra sp gp tp t0 t1 t2 s0 s1 a0 a1 a2 a3 a4 a5 a6 a7 "
          "s2 s3 s4 s5 s6 s7 s8 s9 s10 s11 t3 t4 t5 t6").split()
# (mask, match, mnemonic, extension, operand form): the Zbb and Zba instructions
# the riscv64 BPF JIT emits (RV64 encodings). "r1": rd, rs1; "r2": rd, rs1, rs2.
RV_KNOWN = (
    (0xFFF0707F, 0x6B805013, "rev8", "zbb", "r1"),
    (0xFFF0707F, 0x60401013, "sext.b", "zbb", "r1"),
    (0xFFF0707F, 0x60501013, "sext.h", "zbb", "r1"),
    (0xFFF0707F, 0x0800403B, "zext.h", "zbb", "r1"),
    (0xFFF0707F, 0x0800003B, "zext.w", "zba", "r1"),  # add.uw rd, rs1, zero
    (0xFE00707F, 0x0800003B, "add.uw", "zba", "r2"),
    (0xFE00707F, 0x20002033, "sh1add", "zba", "r2"),
    (0xFE00707F, 0x20004033, "sh2add", "zba", "r2"),
    (0xFE00707F, 0x20006033, "sh3add", "zba", "r2"),
)
RV_EXTENSION = dict((m[2], m[3]) for m in RV_KNOWN)


def _rv_one(word):
    for mask, match, mnem, _ext, form in RV_KNOWN:
        if word & mask == match:
            rd, rs1, rs2 = (word >> 7) & 31, (word >> 15) & 31, (word >> 20) & 31
            regs = [rd, rs1] if form == "r1" else [rd, rs1, rs2]
            return mnem, ", ".join(RV_ABI[r] for r in regs)
    return None, None


def _decode_rv64(image):
    """Walk by instruction length: the JIT mixes 16-bit compressed instructions (low
    two bits not 0b11) with 32-bit ones, so a 4-byte stride would misread."""
    out = []
    off = 0
    while off + 2 <= len(image):
        half, = struct.unpack_from("<H", image, off)
        if half & 3 != 3:
            out.append(Insn(off, 2, half, None, None))
            off += 2
            continue
        if off + 4 > len(image):
            break
        word, = struct.unpack_from("<I", image, off)
        mnem, ops = _rv_one(word)
        out.append(Insn(off, 4, word, mnem, ops))
        off += 4
    return out


DECODERS = {"aarch64": _decode_a64, "riscv64": _decode_rv64}


def decode(arch, image):
    """Every instruction of `image` as Insn tuples (mnemonic None where this decoder
    does not know the encoding). ValueError for an arch it has no decoder for."""
    fn = DECODERS.get(arch)
    if fn is None:
        raise ValueError("no JIT image decoder for %s (have: %s)"
                         % (arch, ", ".join(sorted(DECODERS))))
    return fn(bytes(image))


def known(insns, mnemonics=None):
    """The decoded instructions (optionally only those in `mnemonics`), as the
    evidence a case records: ["0x1c: rev8 a0, a0", ...]."""
    return ["0x%x: %s%s" % (i.offset, i.mnemonic, " " + i.operands if i.operands else "")
            for i in insns if i.mnemonic and (mnemonics is None or i.mnemonic in mnemonics)]


# --- CPU features ----------------------------------------------------------------


def _read(path):
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError:
        return None


def cpuinfo_field(name, text=None):
    """The first value of `name` in /proc/cpuinfo ("isa", "Features"), or None."""
    if text is None:
        raw = _read("/proc/cpuinfo")
        text = raw.decode("utf-8", "replace") if raw is not None else ""
    for line in text.splitlines():
        key, sep, val = line.partition(":")
        if sep and key.strip() == name:
            return val.strip()
    return None


def riscv_isa_extensions(isa):
    """The extensions of a riscv ISA string ("rv64imafdc_zba_zbb" -> {"i", ..., "zbb"})."""
    isa = isa.strip().lower().rstrip("\0")
    if not isa.startswith(("rv32", "rv64")):
        return set()
    parts = isa[4:].split("_")
    exts = set(parts[0])  # single-letter extensions come first, unseparated
    exts.update(p for p in parts[1:] if p)
    return exts


def riscv_dt_isa(root="/proc/device-tree/cpus"):
    """Extensions the firmware's device tree gives for the first CPU (the hardware's
    word, whether or not this kernel knows them), or None without a device tree.
    Newer firmware lists them in riscv,isa-extensions (NUL-separated)."""
    try:
        cpus = sorted(d for d in os.listdir(root) if d.startswith("cpu@"))
    except OSError:
        return None
    for d in cpus:
        ext = _read(os.path.join(root, d, "riscv,isa-extensions"))
        if ext:
            return set(x for x in ext.decode("ascii", "replace").lower().split("\0") if x)
        isa = _read(os.path.join(root, d, "riscv,isa"))
        if isa:
            return riscv_isa_extensions(isa.decode("ascii", "replace"))
    return None


AT_HWCAP = 16
HWCAP_PACA = 1 << 30  # arm64 uapi/asm/hwcap.h


def auxv_hwcap(path="/proc/self/auxv"):
    """AT_HWCAP of this process (what getauxval(AT_HWCAP) returns), or None."""
    raw = _read(path)
    if not raw:
        return None
    for i in range(0, len(raw) - 15, 16):
        key, val = struct.unpack_from("<QQ", raw, i)
        if key == AT_HWCAP:
            return val
        if key == 0:
            break
    return None


# --- why there is no image -------------------------------------------------------

JIT_SYSCTLS = ("net.core.bpf_jit_enable", "net.core.bpf_jit_harden", "kernel.kptr_restrict")


def sysctls(names=JIT_SYSCTLS):
    """{name: int or None} read from /proc/sys."""
    out = {}
    for name in names:
        raw = _read("/proc/sys/" + name.replace(".", "/"))
        try:
            out[name] = int(raw.split()[0]) if raw else None
        except ValueError:
            out[name] = None
    return out


def no_image_sentence(length, values):
    """Why the kernel handed out no JIT image, naming the setting that decides it:
    `length` is the jited_prog_len it reported (0: no image, else withheld)."""
    if length == 0:
        if values.get("net.core.bpf_jit_enable") == 0:
            return ("the BPF JIT is off (net.core.bpf_jit_enable=0): the program runs in the "
                    "interpreter and has no JIT image")
        return ("the kernel reports jited_prog_len 0 (net.core.bpf_jit_enable=%s): it hands "
                "out no JIT image to this caller (reading one needs CAP_BPF or CAP_SYS_ADMIN)"
                % values.get("net.core.bpf_jit_enable"))
    return ("the kernel withholds the %d-byte JIT image (jited_prog_insns zeroed): "
            "kernel.kptr_restrict=%s hides kernel addresses from this caller"
            % (length, values.get("kernel.kptr_restrict")))
