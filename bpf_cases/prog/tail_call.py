"""prog: tail calls through a prog array, three programs deep."""

import struct

CASE = {
    "description": "bpf_tail_call through a BPF_MAP_TYPE_PROG_ARRAY: a chain of three "
                   "programs, each recording its depth; an empty slot falls through",
}


def run(t):
    obj = t.load()
    for slot, prog in ((0, "step"), (1, "last")):
        obj.update("jmp_table", struct.pack("=I", slot), struct.pack("=I", obj.prog_fd(prog)))
    t.attach(obj, "entry")
    t.expect_true(t.wait(lambda: obj.bss.done), "chain finished")
    # entry ran once, then step at depth 2, then last at depth 3
    t.expect_values(obj.bss, entry_runs=1, step_runs=1, last_runs=1, step_depth=2,
                    last_depth=3, empty_slot_fell_through=1)
