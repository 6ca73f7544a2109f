"""kfunc: bpf_cpumask create/set/test/clear/release, values checked against the CPU it ran on."""

import os

CASE = {
    "description": "bpf_cpumask_create, set_cpu/test_cpu/first/clear_cpu and release from "
                   "tp_btf/sys_enter",
    "requires": {"probes": ["kfunc_call"],
                 "kfuncs": ["bpf_cpumask_create", "bpf_cpumask_release", "bpf_cpumask_set_cpu",
                            "bpf_cpumask_clear_cpu", "bpf_cpumask_test_cpu",
                            "bpf_cpumask_first"]},
}


def run(t):
    obj = t.load()
    # "The other" CPU is never the program's: pinned to CPU 0 when the affinity can be set.
    try:
        os.sched_setaffinity(0, {0})
        obj.bss.other_cpu = 1
        t.defer(os.sched_setaffinity, 0, set(range(os.cpu_count() or 1)))
    except OSError:
        obj.bss.other_cpu = 4095
    t.attach(obj, "on_sys_enter")
    t.expect_true(t.wait(lambda: obj.bss.done), "fired")
    cpu = t.detail("cpu", obj.bss.cpu)
    t.expect_values(obj.bss, create_null=False, set_hit=True, other_hit=False, first=cpu,
                    cleared_hit=False)
