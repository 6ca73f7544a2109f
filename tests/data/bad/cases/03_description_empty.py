# expect: 3 description
CASE = {
    "description": "  ",
    "build": False,
}
