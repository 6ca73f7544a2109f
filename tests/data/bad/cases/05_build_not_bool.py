# expect: 4 build
CASE = {
    "description": "x",
    "build": "no",
}
