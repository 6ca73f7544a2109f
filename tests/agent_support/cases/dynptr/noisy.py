"""Test support: writes to stdout at Python and fd level; the event stream must survive."""

import os
import sys

CASE = {"description": "prints to stdout", "build": False}


def run(t):
    print("python-level print from a check")
    sys.stdout.write("{not json\n")
    os.write(1, b"fd-level write from a check\n")
    t.detail("printed", True)
