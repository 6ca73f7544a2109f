# expect: 4 CASE
CASE = {
    "description": "x",
    1: "one",
    "build": False,
}


def run(t):
    pass
