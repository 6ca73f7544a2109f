"""prog: global functions, verified separately from their callers."""

import os

CASE = {
    "description": "global (non-static) BPF functions, each verified on its own against its "
                   "BTF prototype, calling each other and a helper",
}


def run(t):
    obj = t.load()
    obj.bss.table = [10 * i for i in range(8)]
    t.attach(obj, "calls")
    t.expect_true(t.wait(lambda: obj.bss.done), "fired")
    t.expect_values(obj.bss, scaled_out=43, tgid_out=os.getpid(), picked_out=50,
                    clamped_out=1012)
