# expect: 2 CASE
CASE = {"description": __import__("os").system("touch /tmp/kmatrix-pwned-case"), "build": False}
