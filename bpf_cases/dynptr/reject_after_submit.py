"""dynptr (verifier): a bpf_dynptr_data slice written after the record was submitted is refused."""

CASE = {
    "description": "verifier rejects a write through a bpf_dynptr_data slice after "
                   "bpf_ringbuf_submit_dynptr released its record",
    "requires": {"probes": ["dynptr"],
                 "btf_funcs": ["bpf_ringbuf_reserve_dynptr", "bpf_ringbuf_submit_dynptr",
                               "bpf_dynptr_data"]},
    # The slice register becomes a plain scalar once the reference is released. Kernels
    # with strict alignment checks (riscv64 7.x) report the scalar store as misaligned
    # first; the check below still demands that the refusal comes after the submit.
    "expect_reject": {"prog": "use_after_submit",
                      "verifier": ["invalid mem access 'scalar'", "misaligned access"],
                      "errno": "EACCES"},
    "timeout": 60,
}


def run(t):
    log = t.expect_rejected()
    # The refusal must be at the write after submit, not anywhere earlier.
    t.expect("bpf_ringbuf_submit_dynptr" in log, "the verifier stopped before reaching "
             "bpf_ringbuf_submit_dynptr; the log does not show the submit")
