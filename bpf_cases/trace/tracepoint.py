"""trace: tracepoint programs on syscalls/sys_{enter,exit}_getppid."""

import os
import re

CASE = {
    "description": "tracepoint programs on syscalls/sys_enter_getppid and sys_exit_getppid: "
                   "the syscall number and the parent pid returned",
    "requires": {"config": ["CONFIG_FTRACE_SYSCALLS"]},
}

GETPPID_NR = {"x86_64": 110, "aarch64": 173, "riscv64": 173}
TRACEFS = ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")
EVENTS = "events/syscalls/sys_%s_getppid"
# field -> (offset, size) the program's structs assume (tracepoint.bpf.c)
LAYOUT = {"enter": {"__syscall_nr": (8, 4)}, "exit": {"__syscall_nr": (8, 4), "ret": (16, 8)}}
FIELD = re.compile(r"field:[^;]*?(\w+)(?:\[\d*\])?;\s*offset:(\d+);\s*size:(\d+);")


def event_dir(kind):
    for d in TRACEFS:
        path = os.path.join(d, EVENTS % kind)
        if os.path.exists(os.path.join(path, "id")):
            return path
    return None


def fields(path):
    with open(os.path.join(path, "format")) as f:
        return dict((m.group(1), (int(m.group(2)), int(m.group(3))))
                    for m in FIELD.finditer(f.read()))


def run(t):
    # libbpf finds a tracepoint's id in tracefs: without it mounted nothing can attach.
    if event_dir("enter") is None:
        mounted = [d for d in TRACEFS if os.path.exists(os.path.join(d, "events"))]
        if mounted:
            t.skip("kernel-lacks", "%s has no syscalls/sys_enter_getppid event "
                   "(CONFIG_FTRACE_SYSCALLS)" % mounted[0])
        t.skip("environment-blocks", "tracefs is not mounted (neither %s nor %s has events/): "
               "libbpf reads tracepoint ids there" % TRACEFS)
    for kind, want in sorted(LAYOUT.items()):
        have = fields(event_dir(kind))
        for name, spot in sorted(want.items()):
            t.expect(have.get(name) == spot, "sys_%s_getppid/format puts %s at %s, the program "
                     "reads it at (offset, size) %s" % (kind, name, have.get(name), spot))
    obj = t.load()
    t.attach(obj, "getppid_enter")
    t.attach(obj, "getppid_exit")
    t.expect_true(t.wait(lambda: obj.bss.exits), "fired")
    t.expect_ge(obj.bss.enters, 1, "enters")
    t.expect_eq(obj.bss.enter_nr, GETPPID_NR[t.arch], "enter_nr")
    t.expect_eq(obj.bss.exit_nr, GETPPID_NR[t.arch], "exit_nr")
    t.expect_eq(obj.bss.exit_ret, os.getppid(), "exit_ret")
