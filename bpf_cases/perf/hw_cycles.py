"""perf: a BPF program on a hardware cycles event, fed by burning CPU."""

CASE = {
    "description": "perf_event program on PERF_COUNT_HW_CPU_CYCLES (sampling every 1M cycles) "
                   "counts samples and reads the counter with bpf_perf_prog_read_value",
}

PERIOD = 1000000


def _burn():
    return sum(i * i for i in range(20000))


def run(t):
    obj = t.load()
    fd = t.perfev.open_hardware(t, t.perfev.PERF_COUNT_HW_CPU_CYCLES,
                                "cpu-cycles, sample_period=%d" % PERIOD, sample_period=PERIOD)
    t.attach_perf_event(obj, "on_sample", fd)
    bss = obj.bss
    # No samples in 10s of CPU burn: the PMU counts but never raised an overflow interrupt.
    t.wait(lambda: bss.samples >= 5, trigger=_burn, timeout=10)
    t.expect_gt(bss.samples, 0, "samples")
    t.expect_eq(bss.sample_period, PERIOD, "sample_period")
    t.expect_eq(bss.read_rc, 0, "read_value rc")
    t.expect_gt(bss.counter, 0, "read_value counter")
    t.expect_gt(bss.enabled, 0, "read_value enabled_ns")
