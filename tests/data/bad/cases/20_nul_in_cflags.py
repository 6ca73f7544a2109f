# expect: 4 cflags
CASE = {
    "description": "x",
    "cflags": ["-DX\x00"],
}


def run(t):
    pass
