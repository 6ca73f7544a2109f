"""jit: the riscv64 BPF JIT uses Zbb (rev8, zext.h) for byte swaps on a CPU that has it.

The program's values are checked first (BPF_PROG_TEST_RUN), then its JITed image
is read back and decoded (t.jit_insns): the Zbb instructions found are the evidence.
Whether the CPU has Zbb comes from the firmware's device tree (the hardware's word,
even for a kernel that does not know Zbb), else /proc/cpuinfo's isa line.
"""

CASE = {
    "description": "riscv64 BPF JIT emits Zbb rev8/zext.h for BPF_END byte swaps (be16/32/64, "
                   "le16/32), read from the JITed image; values checked by BPF_PROG_TEST_RUN",
    "requires": {"arch": ["riscv64"], "jit": True},
}

X = 0x0123456789ABCDEF
PACKET = bytes(64)


def _bswap(v, nbytes):
    return int.from_bytes((v & ((1 << (8 * nbytes)) - 1)).to_bytes(nbytes, "little"), "big")


def cpu_zbb(t):
    """(the CPU has Zbb, where that was read)."""
    ji = t.jitimage
    isa = t.detail("cpuinfo_isa", ji.cpuinfo_field("isa"))
    dt = ji.riscv_dt_isa()
    if dt is not None:
        return t.detail("devicetree_zbb", "zbb" in dt), "the device tree (riscv,isa)"
    return "zbb" in ji.riscv_isa_extensions(isa or ""), "/proc/cpuinfo isa"


def run(t):
    obj = t.load()
    obj.bss.x = X
    out = obj.test_run("swaps", data=PACKET)
    t.expect_eq(out["retval"], 0, "retval")
    t.expect_values(obj.bss, runs=1, be16=_bswap(X, 2), be32=_bswap(X, 4), be64=_bswap(X, 8),
                    le16=X & 0xFFFF, le32=X & 0xFFFFFFFF)
    insns = t.jit_insns(obj, "swaps")
    zbb = t.detail("zbb_insns", t.jitimage.known(
        [i for i in insns if t.jitimage.RV_EXTENSION.get(i.mnemonic) == "zbb"]))
    t.detail("zba_insns", t.jitimage.known(
        [i for i in insns if t.jitimage.RV_EXTENSION.get(i.mnemonic) == "zba"]))
    has, where = cpu_zbb(t)
    if not has:
        t.expect_eq(zbb, [], "Zbb instructions on a CPU without Zbb")
        t.skip("hardware-missing", "the CPU has no Zbb (%s does not list zbb)" % where)
    if not zbb:
        t.skip("kernel-lacks", "the CPU has Zbb (%s), but the JIT emitted none of rev8/zext.h "
               "for BPF_END: JITed with base instructions only" % where)
