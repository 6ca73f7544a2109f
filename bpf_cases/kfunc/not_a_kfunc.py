"""kfunc (negative): a kernel function in BTF but registered in no kfunc set is refused by the
verifier, which names it."""

CASE = {
    "description": "a call to bpf_fentry_test1 (in vmlinux BTF, in no kfunc set) as a kfunc is "
                   "refused by the verifier",
    "requires": {"probes": ["kfunc_call"],
                 "btf_funcs": ["bpf_fentry_test1"]},
    "expect_reject": {"prog": "call_unregistered",
                      "verifier": "calling kernel function bpf_fentry_test1 is not allowed",
                      "errno": "EACCES"},
    "timeout": 60,
}


def run(t):
    log = t.expect_rejected()
    t.expect("BEGIN PROG LOAD LOG" in log, "the refusal did not come from the verifier")
