# expect: 4 timeout
CASE = {
    "description": "x",
    "timeout": "sixty",
    "build": False,
}
