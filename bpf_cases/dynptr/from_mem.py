"""dynptr: bpf_dynptr_from_mem write, read back, bounds check, and a bpf_dynptr_data slice."""

import errno
import os
import struct

CASE = {
    "description": "bpf_dynptr_from_mem over a map value: write, read back, refuse "
                   "out-of-bounds; write through a bpf_dynptr_data slice",
    # Helpers are BTF FUNCs too: presence beats a version range on backporting vendor kernels.
    "requires": {"probes": ["dynptr"],
                 "btf_funcs": ["bpf_dynptr_from_mem", "bpf_dynptr_read", "bpf_dynptr_write",
                               "bpf_dynptr_data"]},
    "timeout": 60,
}

VALUE = 0x1122334455667788
SLICE_VALUE = 0xA5C3E1F0


def _signed(v):
    return v - (1 << 64) if v >= (1 << 63) else v


def run(t):
    obj = t.load()
    t.attach(obj, "on_sys_enter")
    obj.bss_set_u64(6, os.getpid())
    # Any syscall of this process (wait_bss's getppid) triggers raw_tp/sys_enter.
    res = t.wait_bss(obj, 11)
    done, back, wrc, rrc, oob, direct, _flt, frc, has_slice, back32, data_oob = res
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
    t.detail("data_slice", bool(has_slice))
    t.detail("read_back_via_slice", "0x%x" % back32)
    t.expect(has_slice == 1, "bpf_dynptr_data returned NULL for bytes 0..3 of a 16-byte dynptr")
    t.expect(back32 == SLICE_VALUE, "wrote 0x%x through the bpf_dynptr_data slice, read back "
             "0x%x through the dynptr" % (SLICE_VALUE, back32))
    t.expect(data_oob == 1, "bpf_dynptr_data past the end of the dynptr was not refused")
    t.expect(value is not None and value[:4] == struct.pack("=I", SLICE_VALUE),
             "map value does not start with the slice's write 0x%x" % SLICE_VALUE)
    t.expect(_signed(oob) == -errno.E2BIG,
             "out-of-bounds bpf_dynptr_write returned %d, expected -E2BIG" % _signed(oob))
