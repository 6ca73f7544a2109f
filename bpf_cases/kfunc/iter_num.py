"""kfunc: bpf_iter_num_new/next/destroy over [start, end) chosen by the check at run time."""

import os

CASE = {
    "description": "bpf_iter_num_* open-coded iterator over a run-time range from "
                   "tp_btf/sys_enter: count, sum and last value",
    "requires": {"probes": ["kfunc_call"],
                 "kfuncs": ["bpf_iter_num_new", "bpf_iter_num_next", "bpf_iter_num_destroy"]},
}


def run(t):
    obj = t.load()
    start, end = 3, 200 + os.getpid() % 300  # not a constant the compiler or verifier could fold
    obj.bss.start, obj.bss.end = start, end
    t.attach(obj, "on_sys_enter")
    bss = obj.bss
    t.detail("range", [start, end])
    t.expect_true(t.wait(lambda: bss.done), "fired")
    t.expect_eq(bss.new_rc, 0, "bpf_iter_num_new rc")
    t.expect_eq(bss.iterations, end - start, "iterations")
    t.expect_eq(bss.sum, sum(range(start, end)), "sum")
    t.expect_eq(bss.last, end - 1, "last")
    t.expect_eq(bss.empty_iterations, 0, "empty_range_iterations")
