"""What a run may leave on a target: BPF objects, pins, netns, veths, modules.

Run inside the bundle (``python3 -m kmatrix_agent.leftovers WORKDIR``) before the
work directory is removed. Prints one JSON object. The controller compares it
with the preflight inventory; a BPF object counts as left behind only when it is
new *and* no process holds it (so other users of the kernel are not blamed).
Stdlib only, Python 3.7.
"""

import json
import os
import signal
import subprocess
import sys
import time

try:
    from . import preflight
except ImportError:  # run as a plain script from a checkout
    import preflight  # type: ignore


def _bpftool_detail(exe, kind):
    try:
        # -f: the bpffs paths an object is pinned at (a pin keeps it alive)
        out = subprocess.run([exe, "-j", "-f", kind, "show"], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, timeout=30).stdout
        items = json.loads(out.decode("utf-8", "replace") or "[]")
    except (OSError, ValueError, subprocess.SubprocessError):
        return None
    return parse_detail(items)


def parse_detail(items):
    """id -> {name, type, held_by, pinned[, map_ids | prog_id]} from bpftool -j -f."""
    detail = {}
    for it in items if isinstance(items, list) else []:
        if isinstance(it, dict) and "id" in it:
            d = {
                "name": it.get("name") or it.get("prog_name") or "",
                "type": it.get("type", ""),
                "held_by": [p.get("comm", "") for p in it.get("pids", []) if isinstance(p, dict)],
                "pinned": bool(it.get("pinned")),
            }
            if isinstance(it.get("map_ids"), list):
                d["map_ids"] = [m for m in it["map_ids"] if isinstance(m, int)]
            if isinstance(it.get("prog_id"), int):
                d["prog_id"] = it["prog_id"]
            detail[str(it["id"])] = d
    return detail


# Program types only a BPF link (or the fd that made it) can keep attached. One
# that no process holds, no link points at and nothing pins is being freed: the
# kernel releases a raw tracepoint's program only after an RCU (tasks trace)
# grace period, ~0.4 s after its link closed on a 6.18 kernel, so waiting for it
# to vanish would cost every run that long. XDP, tc, cgroup, perf-event and
# socket programs can stay attached with no fd or link: they are never exempt.
LINK_ONLY_TYPES = frozenset({"raw_tracepoint", "raw_tracepoint_writable", "tracing", "lsm"})


def being_freed(detail):
    """{(kind, id)} of listed objects the kernel is freeing: unheld, unpinned,
    unlinked programs of a link-only type, and unheld, unpinned maps whose every
    user is such a program. Golden-tested (tests/data/golden/leftovers/)."""
    progs = (detail or {}).get("prog") or {}
    links = (detail or {}).get("link") or {}
    linked = {str(d.get("prog_id")) for d in links.values() if "prog_id" in d}
    gone = set()
    for i, d in progs.items():
        if (not d.get("held_by") and not d.get("pinned") and i not in linked
                and d.get("type") in LINK_ONLY_TYPES):
            gone.add(i)
    users = {}
    for i, d in progs.items():
        for m in d.get("map_ids") or []:
            users.setdefault(str(m), set()).add(i)
    out = set(("prog", i) for i in gone)
    for m, d in ((detail or {}).get("map") or {}).items():
        mine = users.get(m)
        if mine and mine <= gone and not d.get("held_by") and not d.get("pinned"):
            out.add(("map", m))
    return out


RUN_MARK = "KMATRIX_WORKDIR"  # set by the agent (kmatrix_agent.main), inherited by children
OWN_OBJECTS = "own_objects.jsonl"  # the agent's object ids, a JSON line per case
LAUNCHER_MARK = b'"kmatrix-launch"'  # in the loader's command line (kmatrix/launch.py)


def cgroup_mount():
    """Where the cgroup v2 hierarchy is mounted (/sys/fs/cgroup, or .../unified on
    a hybrid host), or None."""
    try:
        with open("/proc/self/mountinfo") as f:
            for line in f:
                pre, _, post = line.partition(" - ")
                if post.split(" ", 1)[0] == "cgroup2":
                    return pre.split(" ")[4]
    except OSError:
        pass
    return None


def run_cgroup(workdir):
    """The cgroup v2 path (relative to the mount) that marks this run's processes:
    named after the work directory, so a later run finds it from the name alone."""
    return "/" + os.path.basename(os.path.abspath(workdir))


def _cgroup_of(pid):
    try:
        with open("/proc/%s/cgroup" % pid) as f:
            for line in f:
                if line.startswith("0::"):
                    return line[3:].strip()
    except OSError:
        pass
    return None


def join_cgroup(workdir):
    """Move this process (and so every child it forks or execs, even one that
    clears its environment with `env -i` or starts a new session) into the run's
    own cgroup. Returns the cgroup it left (to go back to before removing ours),
    or None where there is no writable cgroup v2 hierarchy (then the environment
    mark is all there is)."""
    mount = cgroup_mount()
    old = _cgroup_of("self")
    if mount is None or old is None:
        return None
    path = os.path.join(mount, run_cgroup(workdir).lstrip("/"))
    try:
        os.mkdir(path, 0o755)
        with open(os.path.join(path, "cgroup.procs"), "w") as f:
            f.write("%d\n" % os.getpid())
    except OSError:
        try:
            os.rmdir(path)
        except OSError:
            pass
        return None
    return old


def leave_cgroup(workdir, old):
    """Back to cgroup `old` and remove the run's cgroup (it must be empty: reap first)."""
    mount = cgroup_mount()
    if mount is None or old is None:
        return
    try:
        with open(os.path.join(mount, old.lstrip("/"), "cgroup.procs"), "w") as f:
            f.write("%d\n" % os.getpid())
    except OSError:
        return
    _rmdir_cgroup(os.path.join(mount, run_cgroup(workdir).lstrip("/")))


def _rmdir_cgroup(path):
    """Remove a cgroup and the ones a case made under it, deepest first."""
    for root, _dirs, _files in sorted(os.walk(path), key=lambda w: -w[0].count("/")):
        try:
            os.rmdir(root)
        except OSError:
            pass


def marked(workdir, agent_pid=0):
    """(pid, comm) of live processes of this run: those in its cgroup (run_cgroup,
    or one a case made under it) or whose environment carries its mark (children
    inherit both), and the agent itself, whose own /proc environ predates the mark,
    recognised by its pid and a command line naming the work directory or the
    launcher (kmatrix/launch.py: the agent runs inside `python3 -c LOADER`)."""
    workdir = os.path.abspath(workdir)
    want = ("%s=%s" % (RUN_MARK, workdir)).encode() + b"\0"
    group = run_cgroup(workdir)
    out = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == os.getpid():
            continue
        try:
            if int(name) == agent_pid:
                with open("/proc/%s/cmdline" % name, "rb") as f:
                    cmd = f.read()
                ours = workdir.encode() in cmd or LAUNCHER_MARK in cmd
            else:
                cg = _cgroup_of(name)
                ours = cg is not None and (cg == group or cg.startswith(group + "/"))
                if not ours:
                    with open("/proc/%s/environ" % name, "rb") as f:
                        ours = b"\0" + want in b"\0" + f.read()
            if not ours:
                continue
            with open("/proc/%s/comm" % name) as f:
                out.append((int(name), f.read().strip()))
        except (OSError, ValueError):
            continue  # gone meanwhile, or not ours to read
    return out


def reap(workdir, grace=3.0, agent_pid=0):
    """Stop every process of this run that is still alive: SIGTERM, a bounded wait,
    then SIGKILL; returns what was found, how it ended, and what survived."""
    found = marked(workdir, agent_pid)
    for pid, _comm in found:
        _signal(pid, signal.SIGTERM)
    deadline = time.time() + grace
    while time.time() < deadline and any(_alive(p) for p, _c in found):
        time.sleep(0.1)
    report = []
    for pid, comm in found:
        how = "SIGTERM"
        if _alive(pid):
            _signal(pid, signal.SIGKILL)
            time.sleep(0.2)
            how = "SIGKILL" if not _alive(pid) else "survived SIGKILL"
        report.append({"pid": pid, "comm": comm, "ended_by": how})
    return report


def sweep(own_workdir, min_age=10.0):
    """Work directories (and their processes and cgroups) that earlier runs on this
    target left because their controller died (SIGKILL, a lost host, a Ctrl-C before
    the bundle came): kmatrix.* next to ours, ours by uid, holding preflight.RUN_LOCK
    and that not locked — a live launcher or agent holds it (preflight.make_workdir);
    a directory without it (a run by hand, an older kmatrix) is not ours to judge. Each is
    reaped and removed; returns [{"workdir", "processes", "removed"}]. Directories
    younger than `min_age` seconds are skipped: a run starting right now may not
    hold its lock yet."""
    import fcntl
    import shutil
    import stat

    parent = os.path.dirname(os.path.abspath(own_workdir))
    found = []
    try:
        names = sorted(os.listdir(parent))
    except OSError:
        return found
    for name in names:
        path = os.path.join(parent, name)
        if not name.startswith("kmatrix.") or name.startswith("kmatrix.tracefs.") \
                or path == os.path.abspath(own_workdir):
            continue
        try:
            st = os.lstat(path)
            if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid() or \
                    time.time() - st.st_mtime < min_age:
                continue
            fd = os.open(os.path.join(path, preflight.RUN_LOCK), os.O_RDONLY | os.O_NOFOLLOW)
        except OSError:
            continue
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue  # a live run's
            processes = reap(path)
            shutil.rmtree(path, ignore_errors=True)
            mount = cgroup_mount()
            if mount is not None:
                _rmdir_cgroup(os.path.join(mount, run_cgroup(path).lstrip("/")))
            found.append({"workdir": path, "processes": processes,
                          "removed": not os.path.exists(path)})
        finally:
            os.close(fd)
    return found


def _signal(pid, sig):
    try:
        os.kill(pid, sig)
    except OSError:
        pass


def _alive(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"  # a zombie is gone
    except (OSError, IndexError):
        return False


def _own_ids(workdir):
    """The ids the agent recorded as its own (kmatrix_agent.main._remember: a JSON
    line per case), or None when it recorded none (no workdir, no objects)."""
    if not workdir:
        return None
    own = {"progs": [], "maps": [], "links": []}
    try:
        with open(os.path.join(workdir, OWN_OBJECTS)) as f:
            lines = f.read().splitlines()
    except OSError:
        return None
    for line in lines:
        try:
            doc = json.loads(line)
        except ValueError:
            continue  # a line torn by a crash: that case's ids only
        for k in own:
            own[k] += [int(i) for i in (doc.get(k) or []) if isinstance(i, int)]
    return own


def _nothing_new(before, inv):
    """True when no BPF program, map or link id is new since `before` (both known)."""
    keys = ("progs", "maps", "links")
    if not before or any(before.get(k) is None or inv.get(k) is None for k in keys):
        return False
    return all(set(inv[k]) <= set(before[k]) for k in keys)


def _suspects(detail, before, own):
    """Unheld BPF objects that would be blamed: new since `before` (when known),
    ours (when the agent recorded its ids) and not being freed."""
    freeing = being_freed(detail)
    out = []
    for kind, key in (("prog", "progs"), ("map", "maps"), ("link", "links")):
        old = set((before or {}).get(key) or [])
        mine = None if own is None else set(own.get(key) or [])
        for i, d in sorted(((detail or {}).get(kind) or {}).items()):
            if (d["held_by"] or int(i) in old or (mine is not None and int(i) not in mine)
                    or (kind, i) in freeing):
                continue
            out.append((kind, i))
    return out


def snapshot(workdir=None, settle=5.0, agent_pid=0, before=None):
    """Inventory once the kernel has finished freeing what our processes released.

    BPF programs and maps are freed after an RCU grace period, so objects of a
    process that just exited stay listed for a moment: poll (fast at first: a grace
    period is usually milliseconds) until no unheld object would be blamed, the set
    of such objects has not shrunk for half a second, or `settle` seconds pass.
    With the `before` inventory and no new id since, there is nothing to wait for
    or explain, and the three `bpftool ... show` calls are skipped."""
    # Our processes first: a killed one releases the BPF objects it held.
    processes = reap(workdir, agent_pid=agent_pid) if workdir else []
    own = _own_ids(workdir)
    exe = preflight.which("bpftool")
    start = time.time()
    detail = None
    pause = 0.02
    seen, since = None, start
    while True:
        inv = preflight.inventory()
        if _nothing_new(before, inv):
            detail = {}
            break
        detail = {k: _bpftool_detail(exe, k) for k in ("prog", "map", "link")} if exe else None
        suspects = _suspects(detail, before, own) if detail is not None else []
        now = time.time()
        if suspects != seen:
            seen, since = suspects, now
        if not suspects or now - since >= 0.5 or now - start > settle:
            break
        time.sleep(pause)
        pause = min(pause * 2, 0.25)
    inv["detail"] = detail
    inv["processes"] = processes
    inv["own"] = own
    inv["workdir_exists"] = bool(workdir) and os.path.exists(workdir)
    return inv


if __name__ == "__main__":
    _pid = sys.argv[2] if len(sys.argv) > 2 else "0"
    _dir = sys.argv[1] if len(sys.argv) > 1 else None
    sys.stdout.write(json.dumps(snapshot(_dir, agent_pid=int(_pid) if _pid.isdigit() else 0))
                     + "\n")
    _mount = cgroup_mount()
    if _dir and _mount:  # the agent did not get to remove its cgroup; reaped, it is empty
        _rmdir_cgroup(os.path.join(_mount, run_cgroup(_dir).lstrip("/")))
