"""trace: tracepoint programs on syscalls/sys_{enter,exit}_getppid."""

import os

CASE = {
    "description": "tracepoint programs on syscalls/sys_enter_getppid and sys_exit_getppid: "
                   "the syscall number and the parent pid returned",
    "requires": {"config": ["CONFIG_FTRACE_SYSCALLS"]},
}

GETPPID_NR = {"x86_64": 110, "aarch64": 173, "riscv64": 173}
TRACEFS = ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")
EVENT = "events/syscalls/sys_enter_getppid/id"


def run(t):
    # libbpf finds a tracepoint's id in tracefs: without it mounted nothing can attach.
    if not any(os.path.exists(os.path.join(d, EVENT)) for d in TRACEFS):
        mounted = [d for d in TRACEFS if os.path.exists(os.path.join(d, "events"))]
        if mounted:
            t.skip("kernel-lacks", "%s has no syscalls/sys_enter_getppid event "
                   "(CONFIG_FTRACE_SYSCALLS)" % mounted[0])
        t.skip("environment-blocks", "tracefs is not mounted (neither %s nor %s has events/): "
               "libbpf reads tracepoint ids there" % TRACEFS)
    obj = t.load()
    t.attach(obj, "getppid_enter")
    t.attach(obj, "getppid_exit")
    t.expect_true(t.wait(lambda: obj.bss.exits), "fired")
    t.expect_ge(obj.bss.enters, 1, "enters")
    t.expect_eq(obj.bss.enter_nr, GETPPID_NR[t.arch], "enter_nr")
    t.expect_eq(obj.bss.exit_nr, GETPPID_NR[t.arch], "exit_nr")
    t.expect_eq(obj.bss.exit_ret, os.getppid(), "exit_ret")
