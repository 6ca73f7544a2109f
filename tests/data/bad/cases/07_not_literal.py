# expect: 2 CASE
CASE = dict(description="x", build=False)
