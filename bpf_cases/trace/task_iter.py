"""trace: a task iterator read from user space; the check finds its own process."""

import os
from pathlib import Path

CASE = {
    "description": "a BPF task iterator prints tgid, pid and comm of every task; the check "
                   "reads it and finds its own process",
}


def run(t):
    obj = t.load()
    link = t.attach(obj, "dump_task")
    text = t.read_iter(link)
    lines = [ln.split(b" ", 2) for ln in text.splitlines() if ln]
    rows = [(int(a), int(b), c) for a, b, c in lines]
    t.detail("lines", len(rows))
    pid = os.getpid()
    mine = [r for r in rows if r[0] == pid and r[1] == pid]
    t.expect_eq(len(mine), 1, "own task lines")
    if mine:
        t.expect_eq(mine[0][2], Path("/proc/self/comm").read_bytes().strip(), "own comm")
    t.expect_eq(obj.bss.tasks_seen, len(rows), "tasks_seen")
    t.expect_eq(obj.bss.own_pid_seen, pid, "own_pid_seen")
    # other processes are tasks too (any pid namespace holds the agent's parents)
    t.expect_gt(len(set(r[0] for r in rows)), 1, "processes seen")
