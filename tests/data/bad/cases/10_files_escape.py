# expect: 4 files
CASE = {
    "description": "x",
    "files": ["../../etc/passwd"],
    "build": False,
}
