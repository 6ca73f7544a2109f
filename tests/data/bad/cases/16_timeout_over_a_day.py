# expect: 5 timeout
CASE = {
    "description": "x",
    "build": False,
    "timeout": 86401,
}


def run(t):
    pass
