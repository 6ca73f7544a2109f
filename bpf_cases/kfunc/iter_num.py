"""kfunc: bpf_iter_num_new/next/destroy over [start, end) chosen by the check at run time."""

import os

CASE = {
    "description": "bpf_iter_num_* open-coded iterator over a run-time range from "
                   "tp_btf/sys_enter: count, sum and last value",
    "requires": {"probes": ["kfunc_call"],
                 "kfuncs": ["bpf_iter_num_new", "bpf_iter_num_next", "bpf_iter_num_destroy"]},
    "timeout": 60,
}


def run(t):
    obj = t.load()
    start = 3
    end = 200 + os.getpid() % 300  # not a constant the compiler or verifier could fold
    obj.bss_set_u64(2, start)
    obj.bss_set_u64(3, end)
    obj.bss_set_u64(1, os.getpid())
    t.attach(obj, "on_sys_enter")
    res = t.wait_bss(obj, 9)
    done, count, total, last, rc, empty = res[0], res[4], res[5], res[6], res[7], res[8]
    want = sum(range(start, end))
    t.detail("range", [start, end])
    t.detail("iterations", count)
    t.detail("sum", total)
    t.detail("last", last)
    t.detail("empty_range_iterations", empty)
    t.expect(done == 1, "tp_btf/sys_enter program did not fire")
    t.expect(rc == 0, "bpf_iter_num_new returned %d" % (rc - (1 << 64) if rc >> 63 else rc))
    t.expect(count == end - start, "iterated %d times over [%d, %d)" % (count, start, end))
    t.expect(total == want, "sum of the values is %d, expected %d" % (total, want))
    t.expect(last == end - 1, "last value %d, expected %d" % (last, end - 1))
    t.expect(empty == 0, "a range with end < start iterated %d times" % empty)
