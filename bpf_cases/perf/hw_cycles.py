"""perf: a BPF program on a hardware cycles event, fed by burning CPU."""

import time

try:
    from kmatrix_agent import perfev
except ImportError:  # run from a checkout
    from kmatrix.agent import perfev

CASE = {
    "description": "perf_event program on PERF_COUNT_HW_CPU_CYCLES (sampling every 1M cycles) "
                   "counts samples and reads the counter with bpf_perf_prog_read_value",
    "timeout": 60,
}

PERIOD = 1000000


def run(t):
    obj = t.load()
    fd = perfev.open_hardware(t, perfev.PERF_COUNT_HW_CPU_CYCLES,
                              "cpu-cycles, sample_period=%d" % PERIOD, sample_period=PERIOD)
    t.attach_perf_event(obj, "on_sample", fd)
    deadline = time.monotonic() + 10
    x = 0
    res = obj.bss_u64(5)
    while time.monotonic() < deadline and res[0] < 5:
        for i in range(20000):
            x += i * i
        res = obj.bss_u64(5)
    samples, period, counter, rc, enabled = res
    rc = rc - (1 << 64) if rc >= (1 << 63) else rc
    t.detail("samples", samples)
    t.detail("sample_period", period)
    t.detail("read_value", {"rc": rc, "counter": counter, "enabled_ns": enabled})
    t.expect(samples > 0, "no cycles samples reached the BPF program in 10s of CPU burn (the "
             "PMU counts but never raised an overflow interrupt)")
    t.expect(period == PERIOD, "ctx->sample_period=%d, expected %d" % (period, PERIOD))
    t.expect(rc == 0, "bpf_perf_prog_read_value returned %d" % rc)
    t.expect(counter > 0 and enabled > 0, "bpf_perf_prog_read_value gave counter=%d "
             "enabled=%d" % (counter, enabled))
