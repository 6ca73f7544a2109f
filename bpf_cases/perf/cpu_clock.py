"""perf: a BPF program on a software cpu-clock perf event, fed by burning CPU."""

import errno

CASE = {
    "description": "perf_event program on PERF_COUNT_SW_CPU_CLOCK counts samples while "
                   "the check burns CPU",
}

PERIOD_NS = 1000000  # cpu-clock periods are in nanoseconds: a sample per ms


def _burn():
    return sum(i * i for i in range(20000))


def run(t):
    obj = t.load()
    lb = t.libbpf
    try:  # pid=0, cpu=-1: this thread on any CPU; allowed at perf_event_paranoid <= 2
        pfd = t.perf_event_open(t.perf_attr(lb.PERF_TYPE_SOFTWARE, lb.PERF_COUNT_SW_CPU_CLOCK,
                                            sample_period=PERIOD_NS), pid=0, cpu=-1)
    except OSError as e:
        if e.errno in (errno.EACCES, errno.EPERM):
            t.skip("environment-blocks", "perf_event_open(cpu-clock) refused: %s" % e)
        raise
    t.attach_perf_event(obj, "on_sample", pfd)
    t.wait(lambda: obj.bss.samples >= 5, trigger=_burn, timeout=10)
    t.expect_gt(obj.bss.samples, 0, "samples")  # in 10s of CPU burn
    t.expect_eq(obj.bss.sample_period, PERIOD_NS, "sample_period")
