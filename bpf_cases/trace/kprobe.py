"""trace: kprobe + kretprobe on the open(2) path, arguments and return value."""

import os

CASE = {
    "description": "kprobe and kretprobe on the open(2) path (do_sys_openat2, or do_sys_open "
                   "where that is inlined): the path and dirfd of the check's open(2) and the "
                   "fd it returned",
    "requires": {"config": ["CONFIG_KPROBES", "CONFIG_KPROBE_EVENTS"]},
}

AT_FDCWD = -100
# (function, entry program, return program), the preferred first.
TARGETS = (("do_sys_openat2", "openat2_enter", "openat2_exit"),
           ("do_sys_open", "open_enter", "open_exit"))


def probe_point(t):
    """The first target the kernel has as a function of its own (kallsyms lists it)."""
    with open("/proc/kallsyms") as f:
        names = {line.split()[2] for line in f if len(line.split()) >= 3}
    for target in TARGETS:
        if target[0] in names:
            return target
    t.skip("kernel-lacks", "neither do_sys_openat2 nor do_sys_open is a function of its own "
           "in /proc/kallsyms (both inlined): no open(2) probe point for this case")


def run(t):
    func, enter, exit_ = t.detail("probed", probe_point(t))
    obj = t.load()
    t.attach(obj, enter)
    t.attach(obj, exit_)
    path = os.path.join(t.case_files(), "kmx-kprobe-%d" % os.getpid())
    with open(path, "w") as f:
        f.write("x")
    fd = os.open(path, os.O_RDONLY)
    seen = obj.bss._asdict()  # read before anything else of ours opens a file
    os.close(fd)
    t.expect_ge(seen["enters"], 1, "enters")
    t.expect_ge(seen["exits"], 1, "exits")
    t.expect_eq(seen["last_path"].split(b"\0", 1)[0], path.encode(), "last_path")
    t.expect_eq(seen["last_dfd"], AT_FDCWD, "last_dfd")
    t.expect_eq(seen["last_ret"], fd, "last_ret")
