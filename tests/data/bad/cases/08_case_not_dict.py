# expect: 2 CASE
CASE = ["description", "x"]
