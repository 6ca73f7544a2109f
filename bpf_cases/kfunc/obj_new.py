"""kfunc: bpf_obj_new/bpf_obj_drop on a program-defined type, values written and read back."""

import os

CASE = {
    "description": "bpf_obj_new_impl/bpf_obj_drop_impl of a BTF type local to the program, "
                   "from tp_btf/sys_enter",
    "requires": {"probes": ["kfunc_call"],
                 "kfuncs": ["bpf_obj_new_impl", "bpf_obj_drop_impl"]},
    "timeout": 60,
}


def run(t):
    obj = t.load()
    key = (os.getpid() << 20) | 0x5A5
    obj.bss_set_u64(2, key)
    obj.bss_set_u64(1, os.getpid())
    t.attach(obj, "on_sys_enter")
    done, _flt, _in, got_key, got_val, null, dropped, nonzero = t.wait_bss(obj, 8)
    want_val = (key * 7 + 3) & 0xFFFFFFFFFFFFFFFF
    t.detail("key", "0x%x" % got_key)
    t.detail("val", "0x%x" % got_val)
    t.detail("dropped", dropped)
    t.expect(done == 1, "tp_btf/sys_enter program did not fire")
    t.expect(null == 0, "bpf_obj_new returned NULL")
    t.expect(nonzero == 0, "bpf_obj_new returned an object that is not zeroed (OR of its "
             "words: 0x%x)" % nonzero)
    t.expect(got_key == key, "key read back 0x%x, wrote 0x%x" % (got_key, key))
    t.expect(got_val == want_val, "val read back 0x%x, expected 0x%x" % (got_val, want_val))
    t.expect(dropped == 1, "expected one object dropped, counted %d" % dropped)
