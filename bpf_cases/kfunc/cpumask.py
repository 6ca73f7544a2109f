"""kfunc: bpf_cpumask create/set/test/clear/release, values checked against the CPU it ran on."""

import os

CASE = {
    "description": "bpf_cpumask_create, set_cpu/test_cpu/first/clear_cpu and release from "
                   "tp_btf/sys_enter",
    "requires": {
        "probes": ["kfunc_call"],
        "kfuncs": ["bpf_cpumask_create", "bpf_cpumask_release", "bpf_cpumask_set_cpu",
                   "bpf_cpumask_clear_cpu", "bpf_cpumask_test_cpu", "bpf_cpumask_first"],
    },
    "timeout": 60,
}


def run(t):
    obj = t.load()
    # A CPU id that is never the one the program runs on: it is pinned to CPU 0
    # below when the affinity can be set, so "the other" one is 1 (or a huge id).
    try:
        os.sched_setaffinity(0, {0})
        other = 1
        t.defer(os.sched_setaffinity, 0, set(range(os.cpu_count() or 1)))
    except OSError:
        other = 4095
    obj.bss_set_u64(5, other)
    obj.bss_set_u64(1, os.getpid())
    t.attach(obj, "on_sys_enter")
    res = t.wait_bss(obj, 9)
    done, _flt, cpu, set_hit, other_hit, _other, first, cleared_hit, create_null = res
    t.detail("cpu", cpu)
    t.detail("other_cpu", other)
    t.detail("test_cpu_after_set", set_hit)
    t.detail("test_cpu_other", other_hit)
    t.detail("first", first)
    t.detail("test_cpu_after_clear", cleared_hit)
    t.expect(done == 1, "tp_btf/sys_enter program did not fire")
    t.expect(create_null == 0, "bpf_cpumask_create returned NULL")
    t.expect(set_hit == 1, "bpf_cpumask_test_cpu(%d) is false right after set_cpu" % cpu)
    t.expect(other_hit == 0, "bpf_cpumask_test_cpu(%d) is true, only CPU %d was set"
             % (other, cpu))
    t.expect(first == cpu, "bpf_cpumask_first is %d, only CPU %d was set" % (first, cpu))
    t.expect(cleared_hit == 0, "bpf_cpumask_test_cpu(%d) is still true after clear_cpu" % cpu)
