"""kfunc: bpf_task_acquire/bpf_task_release, triggered by a fork."""

import os

CASE = {
    "description": "bpf_task_acquire/release from tp_btf/task_newtask, triggered by fork",
    "requires": {"probes": ["kfunc_call"], "kfuncs": ["bpf_task_acquire", "bpf_task_release"]},
}


def run(t):
    obj = t.load()
    t.attach(obj, "on_newtask")
    child = os.fork()
    if child == 0:
        os._exit(0)  # the child only has to exist
    os.waitpid(child, 0)
    t.detail("child_pid", child)
    t.detail("acquire_null", obj.bss.acquire_null)
    t.expect_ge(obj.bss.hits, 1, "hits")
    t.expect_eq(obj.bss.acquired_pid, child, "recorded_pid")
