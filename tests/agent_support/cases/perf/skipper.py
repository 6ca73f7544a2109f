"""Test support: skips from inside the check."""

CASE = {"description": "skips itself", "build": False}


def run(t):
    t.skip("hardware-missing", "no frobnicator on this board")
