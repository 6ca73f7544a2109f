"""kfunc: a kfunc of a module the check builds on the target, loads, calls and unloads."""

import os

CASE = {
    "description": "build the kmatrix_kfunc module on the target (headers, gcc, pahole), insmod "
                   "it, call its kfunc from tp_btf/sys_enter, check the result, rmmod",
    "requires": {"probes": ["kfunc_call", "module_btf"],
                 "config": ["CONFIG_MODULES", "CONFIG_DEBUG_INFO_BTF_MODULES"],
                 "btf_funcs": ["register_btf_kfunc_id_set"]},
    "files": ["module_kfunc_src/Makefile", "module_kfunc_src/kmatrix_kfunc.c"],
    "timeout": 900,  # gcc under QEMU TCG is slow
}

MASK = 0xFFFFFFFFFFFFFFFF


def run(t):
    ko = t.build_module("module_kfunc_src")
    magic = (os.getpid() * 0x9E3779B97F4A7C15) & MASK
    name = t.detail("module", t.insmod(ko, "magic=%d" % magic))
    # /sys/kernel/btf/<module> (a file) exists once the kernel accepted the module's BTF.
    t.expect(os.path.exists("/sys/kernel/btf/" + name),
             "module %s is loaded but has no BTF in /sys/kernel/btf" % name)
    obj = t.load()
    obj.bss.a, obj.bss.b = 0x1234567 + os.getpid(), 0xABCDEF
    t.attach(obj, "call_module_kfunc")
    t.expect_true(t.wait(lambda: obj.bss.done), "fired")
    want = t.detail("expected", ((obj.bss.a * 3 + obj.bss.b) & MASK) ^ magic)
    t.expect_eq(obj.bss.result, want, "result")
