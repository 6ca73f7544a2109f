"""kfunc: bpf_rcu_read_lock/unlock; the walk under the lock reads the real parent's tgid,
and an unbalanced lock is refused by the verifier."""

import os

CASE = {
    "description": "bpf_rcu_read_lock/unlock (two sections) around task->real_parent from "
                   "tp_btf/sys_enter; an unbalanced lock must be rejected",
    "requires": {"probes": ["kfunc_call"],
                 "kfuncs": ["bpf_rcu_read_lock", "bpf_rcu_read_unlock"]},
    # 6.2-6.7 say "... is missing"; later kernels name the exit inside the region.
    "expect_reject": {"prog": "unbalanced",
                      "verifier": ["bpf_rcu_read_unlock is missing",
                                   "inside bpf_rcu_read_lock-ed region"],
                      "errno": "EINVAL"},
    "timeout": 60,
}


def run(t):
    obj = t.load(only=["on_sys_enter"])
    obj.bss_set_u64(1, os.getpid())
    t.attach(obj, "on_sys_enter")
    done, _flt, ptgid, null_parent, sections, ptgid2 = t.wait_bss(obj, 6)
    t.detail("parent_tgid", ptgid)
    t.detail("getppid", os.getppid())
    t.detail("sections", sections)
    t.expect(done == 1, "tp_btf/sys_enter program did not fire")
    t.expect(null_parent == 0, "task->real_parent was NULL under bpf_rcu_read_lock")
    t.expect(ptgid == os.getppid(), "real_parent->tgid read under RCU is %d, getppid() is %d"
             % (ptgid, os.getppid()))
    t.expect(sections == 2, "expected 2 RCU sections, counted %d" % sections)
    t.expect_rejected()
