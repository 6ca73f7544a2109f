"""jit: the arm64 BPF JIT turns stack loads/stores at constant offsets into one
STR/LDR with an unsigned immediate offset, not a MOV of the offset and a
register-offset access.

Stack accesses are those based on sp, the BPF frame pointer x25 or x27 (the
"frame bottom" some JIT versions keep); BPF's other registers map elsewhere.
"""

CASE = {
    "description": "arm64 BPF JIT emits stack loads/stores at constant offsets as one "
                   "immediate-offset STR/LDR (not MOV + register-offset), read from the image",
    "requires": {"arch": ["aarch64"], "jit": True},
}

X = 0x0F0F0F0F12345678
PACKET = bytes(64)
STACK_BASES = ("sp", "x25", "x27")
SECTION = "tc"


def stack_insns(object_insns):
    """(stores, loads) of 64-bit words to/from r10 in the BPF object."""
    st = sum(1 for op, dst, _s, _o, _i in object_insns if op in (0x7B, 0x7A) and dst == 10)
    ld = sum(1 for op, _d, src, _o, _i in object_insns if op == 0x79 and src == 10)
    return st, ld


def split_forms(jitimage, insns):
    """(immediate-offset, register-offset) stack accesses, as evidence strings."""
    imm, reg = [], []
    for i in insns:
        form = jitimage.a64_ldst_form(i.word) if i.mnemonic else None
        if form is None or i.operands.split("[", 1)[1].split(",")[0].rstrip("]") \
                not in STACK_BASES:
            continue
        (imm if form == "imm" else reg).append(jitimage.known([i])[0])
    return imm, reg


def run(t):
    st, ld = t.detail("bpf_stack_stores_loads", stack_insns(t.object_insns(SECTION) or []))
    t.expect(st >= 2 and ld >= 2, "the compiler emitted %d stack stores and %d loads; the case "
             "needs both to test the JIT" % (st, ld))
    obj = t.load()
    obj.bss.x = X
    out = obj.test_run("stack_ldst", data=PACKET)
    t.expect_eq(out["retval"], 0, "retval")
    t.expect_values(obj.bss, runs=1, out=(X + (X ^ 0xFFFF)) & 0xFFFFFFFFFFFFFFFF)
    imm, reg = split_forms(t.jitimage, t.jit_insns(obj, "stack_ldst"))
    t.detail("stack_imm_offset", imm)
    t.detail("stack_reg_offset", reg)
    if reg:
        t.skip("kernel-lacks", "the JIT addresses the stack through a register offset (%s): "
               "no immediate-offset STR/LDR for constant stack offsets" % ", ".join(reg[:4]))
    t.expect(imm, "the image holds no load or store off sp/x25/x27 at all, though the program "
             "accesses its stack")
