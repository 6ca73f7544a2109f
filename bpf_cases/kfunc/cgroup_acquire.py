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
    "timeout": 60,
}


def _cgroup2_mount():
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                left, _, right = line.partition(" - ")
                if right.split(" ", 1)[0] == "cgroup2":
                    return left.split()[4]
    except OSError:
        pass
    return None


def _own_cgroup():
    try:
        with open("/proc/self/cgroup") as f:
            for line in f:
                if line.startswith("0::"):
                    return line[3:].strip()
    except OSError:
        pass
    return None


def _rmdir(path):
    try:
        os.rmdir(path)
    except FileNotFoundError:
        pass


def _child(go_r, ready_w):
    """Runs in the forked child: wait for the parent's go, make syscalls, exit."""
    try:
        os.write(ready_w, b"r")
        os.read(go_r, 1)
        for _ in range(50):
            os.getppid()
    finally:
        os._exit(0)


def run(t):
    mount, path = _cgroup2_mount(), _own_cgroup()
    if mount is None or path is None:
        t.skip("environment-blocks", "no cgroup v2 hierarchy mounted (/proc/self/mountinfo) "
               "or this process is not in one (/proc/self/cgroup); the check compares the "
               "program's cgroup with a cgroup v2 directory")
    parent_dir = os.path.join(mount, path.lstrip("/"))
    # A fresh child cgroup gives a non-root, non-trivial id and level to compare;
    # where the hierarchy is read-only the process's own cgroup has to do.
    rel = path.rstrip("/") + "/kmatrix.%d" % os.getpid()
    cg_dir = os.path.join(mount, rel.lstrip("/"))
    try:
        os.mkdir(cg_dir, 0o755)
        t.defer(_rmdir, cg_dir)
    except OSError as e:
        t.detail("mkdir_error", str(e))
        rel, cg_dir = path, parent_dir
    want_id = os.stat(cg_dir).st_ino  # a cgroup v2 directory's inode is its id
    want_level = len([p for p in rel.split("/") if p])
    obj = t.load()
    t.attach(obj, "on_sys_enter")
    go_r, go_w = os.pipe()
    ready_r, ready_w = os.pipe()
    child = os.fork()
    if child == 0:
        _child(go_r, ready_w)
    for fd in (go_r, ready_w):
        os.close(fd)
    try:
        os.read(ready_r, 1)
        if cg_dir != parent_dir:
            with open(os.path.join(cg_dir, "cgroup.procs"), "w") as f:
                f.write("%d\n" % child)
        obj.bss_set_u64(1, child)
        os.write(go_w, b"g")
    finally:
        os.close(go_w)
        os.close(ready_r)
        os.waitpid(child, 0)
    done, _flt, cur_id, kn_id, level, from_null, acq_null = obj.bss_u64(7)
    t.detail("cgroup", rel)
    t.detail("cgroup_dir_ino", want_id)
    t.detail("current_cgroup_id", cur_id)
    t.detail("acquired_kn_id", kn_id)
    t.detail("level", level)
    t.expect(done == 1, "tp_btf/sys_enter program did not fire for the child in %s" % rel)
    t.expect(from_null == 0, "bpf_cgroup_from_id(%d) returned NULL" % cur_id)
    t.expect(acq_null == 0, "bpf_cgroup_acquire returned NULL")
    t.expect(cur_id == want_id, "bpf_get_current_cgroup_id() is %d, %s has inode %d"
             % (cur_id, cg_dir, want_id))
    t.expect(kn_id == cur_id, "acquired cgroup has kn->id %d, looked up id %d" % (kn_id, cur_id))
    t.expect(level == want_level, "acquired cgroup has level %d, %s is %d deep"
             % (level, rel, want_level))
