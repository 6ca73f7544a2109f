"""dynptr: bpf_dynptr_from_mem write, read back and bounds check."""

import errno
import os
import struct
import time

CASE = {
    "description": "bpf_dynptr_from_mem over a map value: write, read back, refuse out-of-bounds",
    # Helpers are BTF FUNCs too: presence beats a version range on backporting vendor kernels.
    "requires": {"btf_funcs": ["bpf_dynptr_from_mem", "bpf_dynptr_read", "bpf_dynptr_write"]},
    "timeout": 60,
}

VALUE = 0x1122334455667788


def _signed(v):
    return v - (1 << 64) if v >= (1 << 63) else v


def run(t):
    obj = t.load()
    t.attach(obj, "on_sys_enter")
    obj.bss_set_u64(6, os.getpid())
    deadline = time.monotonic() + 5
    res = obj.bss_u64(8)
    while not res[0] and time.monotonic() < deadline:
        os.getppid()  # any syscall of this process triggers raw_tp/sys_enter
        res = obj.bss_u64(8)
    done, back, wrc, rrc, oob, direct, _flt, frc = res
    for k, v in (("from_mem_rc", frc), ("write_rc", wrc), ("read_rc", rrc),
                 ("oob_write_rc", oob)):
        t.detail(k, _signed(v))
    t.detail("read_back", "0x%x" % back)
    t.detail("buffer", "0x%x" % direct)
    t.expect(done == 1, "raw_tp/sys_enter program did not fire")
    t.expect(_signed(frc) == 0, "bpf_dynptr_from_mem returned %d" % _signed(frc))
    t.expect(_signed(wrc) == 0, "bpf_dynptr_write returned %d" % _signed(wrc))
    t.expect(_signed(rrc) == 0, "bpf_dynptr_read returned %d" % _signed(rrc))
    t.expect(back == VALUE, "read back 0x%x through the dynptr, wrote 0x%x" % (back, VALUE))
    t.expect(direct == VALUE, "the buffer holds 0x%x, the dynptr wrote 0x%x" % (direct, VALUE))
    # And from user space: the map value must hold the bytes at offset 4.
    value = obj.lookup("scratch", struct.pack("=I", 0), 16)
    t.detail("map_value", value.hex() if value else None)
    t.expect(value is not None and value[4:12] == struct.pack("=Q", VALUE),
             "map value %r does not hold 0x%x at offset 4" % (value, VALUE))
    t.expect(_signed(oob) == -errno.E2BIG,
             "out-of-bounds bpf_dynptr_write returned %d, expected -E2BIG" % _signed(oob))
