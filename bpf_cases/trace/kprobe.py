"""trace: kprobe + kretprobe on the open(2) path, arguments and return value."""

import os

CASE = {
    "description": "kprobe and kretprobe on do_sys_openat2: the path and dirfd of the "
                   "check's open(2) and the fd it returned",
    "requires": {"config": ["CONFIG_KPROBES", "CONFIG_KPROBE_EVENTS"],
                 "btf_funcs": ["do_sys_openat2"]},
}

AT_FDCWD = -100


def run(t):
    obj = t.load()
    t.attach(obj, "open_enter")
    t.attach(obj, "open_exit")
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
