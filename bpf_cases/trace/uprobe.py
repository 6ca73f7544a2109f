"""trace: uprobe/uretprobe on libc getpid() in the check's own process."""

import os
import re

CASE = {
    "description": "uprobe and uretprobe on libc's getpid() in the check's own process: "
                   "each call counted, the pid it returned seen",
    "requires": {"config": ["CONFIG_UPROBES", "CONFIG_UPROBE_EVENTS"]},
}

CALLS = 25
LIBC = re.compile(r"\s(/\S*/libc(?:\.so\.6|-[0-9.]+\.so))$")


def libc_path():
    with open("/proc/self/maps") as f:
        for line in f:
            m = LIBC.search(line.rstrip("\n"))
            if m:
                return m.group(1)
    return None


def run(t):
    libc = libc_path()
    t.expect(libc is not None, "no libc mapped in /proc/self/maps")
    t.detail("binary", libc)
    obj = t.load()
    pid = os.getpid()
    # Only this process: the probe is on a shared library every process maps.
    t.attach_uprobe(obj, "getpid_enter", libc, "getpid", pid)
    t.attach_uprobe(obj, "getpid_exit", libc, "getpid", pid, retprobe=True)
    for _ in range(CALLS):
        os.getpid()
    t.expect_ge(obj.bss.enters, CALLS, "enters")
    t.expect_ge(obj.bss.exits, CALLS, "exits")
    t.expect_eq(obj.bss.enter_tgid, pid, "enter_tgid")
    t.expect_eq(obj.bss.last_ret, pid, "last_ret")
