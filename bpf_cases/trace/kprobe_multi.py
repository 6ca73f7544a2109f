"""trace: a kprobe_multi link (fprobe) on the open(2) path."""

import os

CASE = {
    "description": "a kprobe_multi link on do_sys_openat2 sees the path and dirfd of the "
                   "check's open(2)",
    "requires": {"probes": ["kprobe_multi"], "btf_funcs": ["do_sys_openat2"]},
}

AT_FDCWD = -100


def run(t):
    obj = t.load()
    t.attach(obj, "open_enter")
    path = os.path.join(t.case_files(), "kmx-kmulti-%d" % os.getpid())
    with open(path, "w") as f:
        f.write("x")
    os.close(os.open(path, os.O_RDONLY))
    seen = obj.bss._asdict()
    t.expect_ge(seen["hits"], 1, "hits")
    t.expect_eq(seen["last_path"].split(b"\0", 1)[0], path.encode(), "last_path")
    t.expect_eq(seen["last_dfd"], AT_FDCWD, "last_dfd")
