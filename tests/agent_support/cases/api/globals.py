"""Test-only: typed globals both ways, kmx_tgid filled by the agent (tests/test_case_api.py)."""

import os

CASE = {"description": "test-only: typed globals in every shape, written and read back"}


def _raises(fn, *errors):
    try:
        fn()
    except errors:
        return True
    return False


def run(t):
    obj = t.load()
    bss = obj.bss
    t.expect_eq(bss.kmx_tgid, os.getpid(), "kmx_tgid")  # filled by t.load()
    bss.in_s64, bss.in_u8, bss.in_colour = -5, 254, 7
    bss.in_pair = {"neg": -7, "small": 65535, "flag": True, "big": 2**64 - 1}
    bss.in_arr = [1, 2, 3]  # a prefix: in_arr[3] stays 0
    bss.in_name = b"kmx"
    t.attach(obj, "copy")
    t.expect_true(t.wait(lambda: bss.done), "fired")
    t.expect_values(bss, out_s64=-6, out_u8=255, out_arr=[2, 4, 6, 0], out_name=b"kmx" + bytes(5),
                    out_colour=7, seen_tgid=os.getpid())
    t.expect_eq(bss.out_pair, {"neg": -7, "small": 65535, "flag": True, "big": 2**64 - 1},
                "out_pair")
    t.expect_eq([bss.out_pair.neg, bss.pairs[1].neg, bss.pairs[1].big], [-7, -42, 3 + 0xC0FFEE],
                "members")
    t.expect_eq([obj.data.data_neg, obj.data.data_arr, obj.rodata.ro_magic], [-42, [1, 2, 3],
                0xC0FFEE], "data, rodata")
    obj.data.data_arr = [9]  # .data is writable too
    t.expect_eq(obj.data.data_arr, [9, 2, 3], "data_arr after a write")
    t.expect_true(_raises(lambda: setattr(bss, "in_u8", 256), ValueError), "256 refused by u8")
    t.expect_true(_raises(lambda: bss.nope, AttributeError), "unknown name refused")
    t.expect_true(_raises(lambda: setattr(obj.rodata, "ro_magic", 1), Exception),
                  "rodata is frozen")
    t.detail("bss", list(bss))  # in offset order
