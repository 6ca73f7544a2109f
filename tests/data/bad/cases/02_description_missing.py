# expect: 2 description
CASE = {
    "build": False,
}
