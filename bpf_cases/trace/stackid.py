"""trace: bpf_get_stackid with a stack-trace map, kernel and user stacks."""

CASE = {
    "description": "bpf_get_stackid records the kernel and the user stack of the check's "
                   "syscall in a BPF_MAP_TYPE_STACK_TRACE map, read back by id",
}

def run(t):
    obj = t.load()
    t.attach(obj, "on_enter")
    t.expect_true(t.wait(lambda: obj.bss.done), "fired")
    kid, uid = obj.data.kstack_id, obj.data.ustack_id
    t.expect_ge(kid, 0, "kstack_id")
    t.expect_ge(uid, 0, "ustack_id")
    if kid >= 0:
        k = obj.stack("kstacks", kid)
        t.expect_ge(len(k or []), 1, "kernel frames")
        # kernel text lives in the upper half of the address space on all three arches
        t.expect_true(all(ip >= 1 << 63 for ip in k or [0]), "kernel addresses")
    if uid >= 0:
        u = obj.stack("ustacks", uid)
        t.expect_ge(len(u or []), 1, "user frames")
        t.expect_true(all(ip < 1 << 63 for ip in u or [1 << 63]), "user addresses")
