"""The check of every case that is a tagged program in a .bpf.c with no .py of its own
(docs/cases.md): loading the program alone must be refused as its tags say
(__failure __msg(...) __errno(...) __rejected_by(...), bpf_cases/include/kmatrix.h).
The catalogue gives such a case meta["program"]; its metadata are the program's tags."""


def run(t):
    t.expect_rejected()
