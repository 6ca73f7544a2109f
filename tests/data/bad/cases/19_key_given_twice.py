# expect: 5 timeout
CASE = {
    "description": "x",
    "timeout": 5,
    "timeout": 1e999,
    "build": False,
}


def run(t):
    pass
