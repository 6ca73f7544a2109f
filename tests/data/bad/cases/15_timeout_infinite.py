# expect: 4 timeout
CASE = {
    "description": "x",
    "timeout": 1e999,
    "build": False,
}


def run(t):
    pass
