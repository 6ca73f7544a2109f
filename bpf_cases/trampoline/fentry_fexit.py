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
}

# What bpf_prog_test_run_tracing() passes: (arguments, return value). Pointers are
# recorded as their value (test4..6 pass small integers cast to void *); for
# test7/test8 the program records "pointer is non-NULL" and, for test8, arg->a.
CALLS = {1: ((1,), 2), 2: ((2, 3), 5), 3: ((4, 5, 6), 15), 4: ((7, 8, 9, 10), 34),
         5: ((11, 12, 13, 14, 15), 65), 6: ((16, 17, 18, 19, 20, 21), 111),
         7: ((0,), 0), 8: ((1, 0), 0)}


def run(t):
    # -524 ENOTSUPP from an attach (no trampoline for this arch or function) is a
    # kernel-lacks skip (agent/refusals.py); any other attach error fails, naming it.
    obj = t.load()
    for n in range(1, 9):
        t.attach(obj, "in%d" % n)
        t.attach(obj, "out%d" % n)
    # The kernel now calls bpf_fentry_test1..8 in turn.
    t.detail("test_run_retval", obj.test_run("in1")["retval"])
    fentry, fexit = obj.bss.fentry_seen, obj.bss.fexit_seen
    for n, (args, ret) in sorted(CALLS.items()):
        t.expect_ge(fentry[n].hits, 1, "test%d fentry hits" % n)
        t.expect_eq(fentry[n].args[:len(args)], list(args), "test%d fentry args" % n)
        t.expect_ge(fexit[n].hits, 1, "test%d fexit hits" % n)
        t.expect_eq([fexit[n].args[:len(args)], fexit[n].ret], [list(args), ret],
                    "test%d fexit args, ret" % n)
