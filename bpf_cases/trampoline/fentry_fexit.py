"""trampoline: fentry + fexit on bpf_fentry_test1..8, triggered by BPF_PROG_TEST_RUN."""

CASE = {
    "description": "fentry/fexit on bpf_fentry_test1..8: every argument in, every return "
                   "value out, as BPF_PROG_TEST_RUN of a tracing program passes them",
    "requires": {
        "probes": ["trampoline"],
        "btf_funcs": ["bpf_fentry_test1", "bpf_fentry_test2", "bpf_fentry_test3",
                      "bpf_fentry_test4", "bpf_fentry_test5", "bpf_fentry_test6",
                      "bpf_fentry_test7", "bpf_fentry_test8"],
        "ftrace": True,
    },
    "timeout": 60,
}

ROW = 8
# What bpf_prog_test_run_tracing() passes: (arguments, return value). Pointers are
# recorded as their value (test4..6 pass small integers cast to void *); for
# test7/test8 the program records "pointer is non-NULL" and, for test8, arg->a.
CALLS = {
    1: ((1,), 2),
    2: ((2, 3), 5),
    3: ((4, 5, 6), 15),
    4: ((7, 8, 9, 10), 34),
    5: ((11, 12, 13, 14, 15), 65),
    6: ((16, 17, 18, 19, 20, 21), 111),
    7: ((0,), 0),
    8: ((1, 0), 0),
}


def run(t):
    # An attach error (e.g. -524 ENOTSUPP: no trampoline on this arch/kernel)
    # propagates as a fail naming the errno; known ones are marked in suites/.
    obj = t.load()
    for n in range(1, 9):
        t.attach(obj, "in%d" % n)
        t.attach(obj, "out%d" % n)
    out = obj.test_run("in1")  # the kernel now calls bpf_fentry_test1..8 in turn
    t.detail("test_run_retval", out["retval"])
    res = obj.bss_u64(17 * ROW)
    seen = {}
    bad = []
    for n, (args, ret) in sorted(CALLS.items()):
        e = res[n * ROW:(n + 1) * ROW]
        x = res[(8 + n) * ROW:(9 + n) * ROW]
        k = len(args)
        seen["test%d" % n] = {"fentry_hits": e[0], "fentry_args": e[1:1 + k],
                              "fexit_hits": x[0], "fexit_args": x[1:1 + k], "ret": x[7]}
        if e[0] < 1:
            bad.append("fentry on bpf_fentry_test%d did not fire" % n)
        elif tuple(e[1:1 + k]) != args:
            bad.append("fentry on bpf_fentry_test%d saw %s, expected %s"
                       % (n, list(e[1:1 + k]), list(args)))
        if x[0] < 1:
            bad.append("fexit on bpf_fentry_test%d did not fire" % n)
        elif tuple(x[1:1 + k]) != args or x[7] != ret:
            bad.append("fexit on bpf_fentry_test%d saw %s -> %d, expected %s -> %d"
                       % (n, list(x[1:1 + k]), x[7], list(args), ret))
    t.detail("calls", seen)
    t.expect(not bad, "; ".join(bad))
