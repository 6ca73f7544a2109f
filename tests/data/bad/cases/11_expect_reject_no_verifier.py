# expect: 5 expect_reject
CASE = {
    "description": "x",
    "build": False,
    "expect_reject": {"prog": "p"},
}
