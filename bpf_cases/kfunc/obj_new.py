"""kfunc: bpf_obj_new/bpf_obj_drop on a program-defined type, values written and read back."""

import os

CASE = {
    "description": "bpf_obj_new_impl/bpf_obj_drop_impl of a BTF type local to the program, "
                   "from tp_btf/sys_enter",
    "requires": {"probes": ["kfunc_call"], "kfuncs": ["bpf_obj_new_impl", "bpf_obj_drop_impl"]},
}


def run(t):
    obj = t.load()
    key = (os.getpid() << 20) | 0x5A5
    obj.bss.key = key
    t.attach(obj, "on_sys_enter")
    bss = obj.bss
    t.expect_true(t.wait(lambda: bss.done), "fired")
    t.expect_false(bss.new_null, "new_null")
    t.expect_eq(bss.nonzero, 0, "nonzero_words")
    t.expect_eq(bss.got_key, key, "key")
    t.expect_eq(bss.got_val, (key * 7 + 3) & 0xFFFFFFFFFFFFFFFF, "val")
    t.expect_eq(bss.dropped, 1, "dropped")
