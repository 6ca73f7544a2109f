"""Test support: the BPF source does not compile."""

CASE = {"description": "does not compile"}


def run(t):
    t.load()
