"""kfunc: bpf_rcu_read_lock/unlock; the walk under the lock reads the real parent's tgid,
and an unbalanced lock is refused by the verifier."""

import os

CASE = {
    "description": "bpf_rcu_read_lock/unlock (two sections) around task->real_parent from "
                   "tp_btf/sys_enter; an unbalanced lock must be rejected",
    "requires": {"probes": ["kfunc_call"],
                 "kfuncs": ["bpf_rcu_read_lock", "bpf_rcu_read_unlock"]},
}


def run(t):
    obj = t.load()  # all but `unbalanced`, which is tagged __failure
    t.attach(obj, "on_sys_enter")
    bss = obj.bss
    t.expect_true(t.wait(lambda: bss.done), "fired")
    t.expect_false(bss.parent_null, "parent_null")
    t.detail("getppid", os.getppid())
    t.expect_eq(bss.parent_tgid, os.getppid(), "parent_tgid")
    t.detail("parent_tgid2", bss.parent_tgid2)
    t.expect_eq(bss.sections, 2, "sections")
    t.expect_rejected("unbalanced")
