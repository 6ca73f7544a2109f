"""kfunc (negative): a call to a kfunc that is not in BTF must fail to load, reported as such."""

CASE = {
    "description": "loading a program that calls a kfunc missing from vmlinux and module BTF "
                   "fails, and libbpf names the missing kfunc",
    # Any BTF function: the kernel must have BTF for the lookup to mean something.
    "requires": {"probes": ["kfunc_call"],
                 "btf_funcs": ["bpf_fentry_test1"]},
    # libbpf's message; its errno differs between libbpf versions.
    "expect_reject": {"prog": "call_missing",
                      "verifier": "'kmatrix_no_such_kfunc': not found in kernel or module BTFs"},
    "timeout": 60,
}


def run(t):
    log = t.expect_rejected()
    # libbpf resolves externs before any program reaches the kernel.
    t.expect("BEGIN PROG LOAD LOG" not in log,
             "the program reached the verifier although its kfunc cannot be resolved")
