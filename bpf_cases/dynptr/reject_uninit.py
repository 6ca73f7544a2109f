"""dynptr (verifier): bpf_dynptr_read of a dynptr that was never initialized is refused."""

CASE = {
    "description": "verifier rejects bpf_dynptr_read on an uninitialized struct bpf_dynptr",
    "requires": {"probes": ["dynptr"],
                 "btf_funcs": ["bpf_dynptr_read"]},
    # The argument number in the message differs between kernels (regno vs. arg).
    "expect_reject": {"prog": "read_uninit", "verifier": "Expected an initialized dynptr as",
                      "errno": "EINVAL"},
    "timeout": 60,
}


def run(t):
    t.expect_rejected()
