"""dynptr (verifier): a ring buffer dynptr that is never submitted or discarded is refused."""

CASE = {
    "description": "verifier rejects a bpf_ringbuf_reserve_dynptr that is never submitted or "
                   "discarded (unreleased reference)",
    "requires": {"probes": ["dynptr"],
                 "btf_funcs": ["bpf_ringbuf_reserve_dynptr"]},
    "expect_reject": {"prog": "leak_reservation", "verifier": "Unreleased reference id=",
                      "errno": "EINVAL"},
    "timeout": 60,
}


def run(t):
    t.expect_rejected()
