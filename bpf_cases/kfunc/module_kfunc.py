"""kfunc: a kfunc registered by a kernel module the check builds on the target, loads, calls
from BPF and unloads."""

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
    name = t.insmod(ko, "magic=%d" % magic)
    t.detail("module", name)
    # /sys/kernel/btf/<module> (a file) exists once the kernel accepted the module's BTF.
    t.expect(os.path.exists("/sys/kernel/btf/" + name),
             "module %s is loaded but has no BTF in /sys/kernel/btf" % name)
    obj = t.load()
    a, b = 0x1234567 + os.getpid(), 0xABCDEF
    obj.bss_set_u64(2, a)
    obj.bss_set_u64(3, b)
    obj.bss_set_u64(1, os.getpid())
    t.attach(obj, "call_module_kfunc")
    done, _flt, _a, _b, got = t.wait_bss(obj, 5)
    want = ((a * 3 + b) & MASK) ^ magic
    t.detail("result", "0x%x" % got)
    t.detail("expected", "0x%x" % want)
    t.expect(done == 1, "tp_btf/sys_enter program did not fire")
    t.expect(got == want, "kmatrix_kfunc_mix returned 0x%x, expected 0x%x" % (got, want))
