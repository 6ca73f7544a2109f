# ruff: noqa: UP031  (target code: Python 3.7, %-formatting as the checks of that time)
"""Test-only, kept verbatim from before issue 12: dynptr/reject_unreleased written against the old
API (`__u64 res[N]`, bss_u64/bss_set_u64, wait_bss, t.expect, CASE["expect_reject"],
`from kmatrix_agent import ...`); it must keep passing (tests/test_case_api.py).

dynptr (verifier): a ring buffer dynptr that is never submitted or discarded is refused.
"""

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
