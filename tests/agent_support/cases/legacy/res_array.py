# ruff: noqa: UP031  (target code: Python 3.7, %-formatting as the checks of that time)
"""Test-only, kept verbatim from before issue 12: kfunc/task_acquire written against the old
API (`__u64 res[N]`, bss_u64/bss_set_u64, wait_bss, t.expect, CASE["expect_reject"],
`from kmatrix_agent import ...`); it must keep passing (tests/test_case_api.py).

kfunc: bpf_task_acquire/bpf_task_release, triggered by a fork.
"""

import os

CASE = {
    "description": "bpf_task_acquire/release from tp_btf/task_newtask, triggered by fork",
    "requires": {
        "probes": ["kfunc_call"],
        "kfuncs": ["bpf_task_acquire", "bpf_task_release"],
    },
    "timeout": 60,
}


def run(t):
    obj = t.load()
    obj.bss_set_u64(2, os.getpid())
    t.attach(obj, "on_newtask")
    child = os.fork()
    if child == 0:
        os._exit(0)  # the child only has to exist
    os.waitpid(child, 0)
    hits, pid, _filter, nulls = obj.bss_u64(4)
    t.detail("hits", hits)
    t.detail("recorded_pid", pid)
    t.detail("child_pid", child)
    t.detail("acquire_null", nulls)
    t.expect(hits >= 1, "tp_btf/task_newtask program did not fire on fork (hits=%d, "
             "acquire returned NULL %d times)" % (hits, nulls))
    t.expect(pid == child, "bpf_task_acquire'd task has pid %d, the forked child is %d"
             % (pid, child))
