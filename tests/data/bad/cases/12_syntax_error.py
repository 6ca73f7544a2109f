# expect: 3 syntax
CASE = {
    "description": "x",,
}
