"""trampoline: fentry + fexit on bpf_fentry_test1, triggered by BPF_PROG_TEST_RUN."""

CASE = {
    "description": "fentry/fexit on bpf_fentry_test1: argument 1 in, return value 2 out",
    "requires": {
        "btf_funcs": ["bpf_fentry_test1"],
        "ftrace": True,
    },
    "timeout": 60,
}


def run(t):
    # A load/attach error (e.g. -524 ENOTSUPP: no trampoline on this arch/kernel)
    # propagates as a fail naming the errno; known ones are marked in suites/.
    obj = t.load()
    t.attach(obj, "on_entry")
    t.attach(obj, "on_exit")
    # Test-running a fentry program makes the kernel call bpf_fentry_test1(1)...
    out = obj.test_run("on_entry")
    t.detail("test_run_retval", out["retval"])
    hits_in, arg_in, hits_out, arg_out, ret = obj.bss_u64(5)
    t.detail("fentry", {"hits": hits_in, "a": arg_in})
    t.detail("fexit", {"hits": hits_out, "a": arg_out, "ret": ret})
    t.expect(hits_in >= 1, "fentry program did not fire")
    t.expect(hits_out >= 1, "fexit program did not fire")
    t.expect(arg_in == 1, "fentry saw a=%d, expected 1" % arg_in)
    t.expect(arg_out == 1, "fexit saw a=%d, expected 1" % arg_out)
    t.expect(ret == 2, "fexit saw return value %d, expected 2" % ret)
