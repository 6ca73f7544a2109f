# expect: 2 CASE
CASE = {[]: 1}


def run(t):
    pass
