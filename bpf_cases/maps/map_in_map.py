"""maps: array-of-maps and hash-of-maps, inner maps used from BPF."""

import struct

CASE = {
    "description": "array-of-maps and hash-of-maps: BPF looks inner arrays up through the "
                   "outer maps, reads what the check wrote and writes a value back",
}


def key(i):
    return struct.pack("=I", i)


def run(t):
    obj = t.load()
    obj.update("inner_a", key(0), struct.pack("=Q", 1111))
    obj.update("inner_b", key(2), struct.pack("=Q", 2222))
    t.attach(obj, "walk")
    t.expect_true(t.wait(lambda: obj.bss.done), "fired")
    t.expect_values(obj.bss, read_a=1111, read_b_via_hash=2222, missing_outer=1)
    t.expect_eq(obj.lookup("inner_a", key(1)), struct.pack("=Q", 4242), "written via outer")
