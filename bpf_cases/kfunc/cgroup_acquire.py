"""kfunc: bpf_cgroup_from_id, bpf_cgroup_acquire/release; the cgroup the program sees must be
the cgroup v2 directory the check put the triggering process in."""

import os

CASE = {
    "description": "bpf_cgroup_from_id + bpf_cgroup_acquire/release of the current cgroup "
                   "from tp_btf/sys_enter; id and level match a cgroup v2 directory the "
                   "check creates",
    "requires": {"probes": ["kfunc_call"],
                 "kfuncs": ["bpf_cgroup_from_id", "bpf_cgroup_acquire", "bpf_cgroup_release"],
                 "config": ["CONFIG_CGROUPS"]},
}


def _first(path, pick):
    """The first non-None pick(line) of file `path`, or None."""
    try:
        with open(path) as f:
            return next((v for v in map(pick, f) if v is not None), None)
    except OSError:
        return None


def _mount(line):
    left, _, right = line.partition(" - ")
    return left.split()[4] if right.split(" ", 1)[0] == "cgroup2" else None


def _rmdir(path):
    try:
        os.rmdir(path)
    except FileNotFoundError:
        pass


def run(t):
    mount = _first("/proc/self/mountinfo", _mount)
    path = _first("/proc/self/cgroup", lambda ln: ln[3:].strip() if ln[:3] == "0::" else None)
    if mount is None or path is None:
        t.skip("environment-blocks", "no cgroup v2 hierarchy mounted (/proc/self/mountinfo) "
               "or this process is not in one (/proc/self/cgroup); the check compares the "
               "program's cgroup with a cgroup v2 directory")
    # A fresh child cgroup gives a non-root id and level to compare; where the
    # hierarchy is read-only the process's own cgroup has to do.
    rel = path.rstrip("/") + "/kmatrix.%d" % os.getpid()
    cg_dir = os.path.join(mount, rel.lstrip("/"))
    try:
        os.mkdir(cg_dir, 0o755)
        t.defer(_rmdir, cg_dir)
    except OSError as e:
        t.detail("mkdir_error", str(e))
        rel, cg_dir = path, os.path.join(mount, path.lstrip("/"))
    obj = t.load()
    go_r, go_w = os.pipe()
    child = os.fork()
    if child == 0:  # the triggering process: wait for the go, make syscalls, leave
        try:
            os.read(go_r, 1)
            for _ in range(50):
                os.getppid()
        finally:
            os._exit(0)
    os.close(go_r)
    try:
        if rel != path:
            with open(os.path.join(cg_dir, "cgroup.procs"), "w") as f:
                f.write("%d\n" % child)
        obj.bss.kmx_tgid = child  # the program watches the child, not the agent
        t.attach(obj, "on_sys_enter")
        os.write(go_w, b"g")
    finally:
        os.close(go_w)
        os.waitpid(child, 0)
    bss = obj.bss
    t.detail("cgroup", rel)
    t.detail("cgroup_dir_ino", os.stat(cg_dir).st_ino)  # a cgroup v2 directory's id
    t.expect_true(bss.done, "fired")
    t.expect_false(bss.from_id_null, "from_id_null")
    t.expect_false(bss.acquire_null, "acquire_null")
    t.expect_eq(bss.cgroup_id, os.stat(cg_dir).st_ino, "current_cgroup_id")
    t.expect_eq(bss.kn_id, bss.cgroup_id, "acquired_kn_id")
    t.expect_eq(bss.level, len([p for p in rel.split("/") if p]), "level")
