"""trace: raw tracepoints sys_enter/sys_exit, untyped arguments."""

import os

CASE = {
    "description": "raw tracepoint programs on sys_enter and sys_exit: the syscall number "
                   "and pt_regs at entry, getppid's return value at exit",
}

GETPPID_NR = {"x86_64": 110, "aarch64": 173, "riscv64": 173}


def run(t):
    obj = t.load()
    obj.bss.nr_wanted = GETPPID_NR[t.arch]
    t.attach(obj, "on_enter")
    t.attach(obj, "on_exit")
    t.expect_true(t.wait(lambda: obj.bss.exits), "fired")
    t.expect_ge(obj.bss.enters, 1, "enters")
    t.expect_true(obj.bss.regs_seen, "regs_seen")
    t.expect_eq(obj.bss.exit_ret, os.getppid(), "exit_ret")
