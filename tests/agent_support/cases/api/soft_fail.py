"""Test-only: failed soft expectations are all listed at the end (tests/test_case_api.py)."""

CASE = {"description": "test-only: soft expectations keep going and fail the case at the end",
        "build": False}


def run(t):
    t.expect_eq(1, 2, "one")
    t.expect_ge(3, 1, "three")
    t.expect_true(0, "flag")
    t.expect_eq(b"\x01" * 40, b"\x01" * 39 + b"\x02", "packet")
    t.detail("reached_end", True)
