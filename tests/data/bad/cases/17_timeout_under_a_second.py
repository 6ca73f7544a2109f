# expect: 3 timeout
CASE = {
    "timeout": 0.5,
    "description": "x",
    "build": False,
}


def run(t):
    pass
