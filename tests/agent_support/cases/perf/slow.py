"""Test support: never finishes; the agent's timeout must end it."""

import time

CASE = {"description": "sleeps past its timeout", "build": False, "timeout": 1}


def run(t):
    while True:
        time.sleep(0.05)
