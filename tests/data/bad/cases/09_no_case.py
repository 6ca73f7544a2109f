# expect: 1 CASE
def run(t):
    pass
