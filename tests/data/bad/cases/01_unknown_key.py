# expect: 5 colour
CASE = {
    "description": "x",
    "build": False,
    "colour": "blue",
}
