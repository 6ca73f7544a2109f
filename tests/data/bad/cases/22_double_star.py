# expect: 2 CASE
CASE = {**{"description": "x", "build": False}}


def run(t):
    pass
