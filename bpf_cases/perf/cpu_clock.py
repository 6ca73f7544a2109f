"""perf: a BPF program on a software cpu-clock perf event, fed by burning CPU."""

import errno
import time

CASE = {
    "description": "perf_event program on PERF_COUNT_SW_CPU_CLOCK counts samples while "
                   "the check burns CPU",
    "timeout": 60,
}

PERF_TYPE_SOFTWARE = 1
PERF_COUNT_SW_CPU_CLOCK = 0
PERIOD_NS = 1000000  # cpu-clock periods are in nanoseconds: a sample per ms


def run(t):
    obj = t.load()
    try:
        # pid=0, cpu=-1: this thread on any CPU; allowed at perf_event_paranoid <= 2.
        attr = t.perf_attr(PERF_TYPE_SOFTWARE, PERF_COUNT_SW_CPU_CLOCK, sample_period=PERIOD_NS)
        pfd = t.perf_event_open(attr, pid=0, cpu=-1)
    except OSError as e:
        if e.errno in (errno.EACCES, errno.EPERM):
            t.skip("environment-blocks", "perf_event_open(cpu-clock) refused: %s" % e)
        raise
    t.attach_perf_event(obj, "on_sample", pfd)
    deadline = time.monotonic() + 10
    x = 0
    count = 0
    while time.monotonic() < deadline:
        for i in range(20000):
            x += i * i
        count, period = obj.bss_u64(2)
        if count >= 5:
            break
    t.detail("samples", count)
    t.detail("sample_period", period)
    t.expect(count > 0, "no perf_event samples reached the BPF program in 10s of CPU burn")
    t.expect(period == PERIOD_NS, "ctx->sample_period=%d, expected %d" % (period, PERIOD_NS))
