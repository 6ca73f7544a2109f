# expect: 5 compiler
CASE = {
    "description": "x",
    "build": False,
    "compiler": "gcc",
}
