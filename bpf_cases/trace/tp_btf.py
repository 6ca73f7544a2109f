"""trace: a BTF-typed raw tracepoint (tp_btf) on sys_enter, its arguments typed."""

CASE = {
    "description": "tp_btf/sys_enter (a tracing program on a BTF-typed raw tracepoint, no "
                   "trampoline): the typed syscall id, and the number read straight from "
                   "the struct pt_regs pointer",
}

GETPPID_NR = {"x86_64": 110, "aarch64": 173, "riscv64": 173}


def run(t):
    obj = t.load()
    obj.bss.nr_wanted = GETPPID_NR[t.arch]
    t.attach(obj, "on_enter")
    t.expect_true(t.wait(lambda: obj.bss.hits), "fired")
    t.expect_eq(obj.bss.regs_nr, GETPPID_NR[t.arch], "syscall number read from pt_regs")
