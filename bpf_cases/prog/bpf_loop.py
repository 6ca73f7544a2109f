"""prog: bpf_loop with a callback, run to the end and stopped early."""

CASE = {
    "description": "bpf_loop calls a callback n times with the caller's context, and stops "
                   "when the callback returns 1",
    "requires": {"probes": ["bpf_loop"]},
}

N = 1000  # more iterations than a verifier would ever unroll
STOP = 9


def run(t):
    obj = t.load()
    obj.bss.nr_loops = N
    obj.bss.stop_at = STOP
    t.attach(obj, "loop")
    t.expect_true(t.wait(lambda: obj.bss.done), "fired")
    # bpf_loop returns the number of calls made
    t.expect_values(obj.bss, full_ret=N, full_calls=N, full_sum=N * (N - 1) // 2,
                    early_ret=STOP + 1, early_calls=STOP + 1, early_sum=STOP * (STOP + 1) // 2)
