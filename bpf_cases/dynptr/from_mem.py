"""dynptr: bpf_dynptr_from_mem write, read back, bounds check, and a bpf_dynptr_data slice."""

import errno
import struct

CASE = {
    "description": "bpf_dynptr_from_mem over a map value: write, read back, refuse "
                   "out-of-bounds; write through a bpf_dynptr_data slice",
    # Helpers are BTF FUNCs too: presence beats a version range on backporting vendor kernels.
    "requires": {"probes": ["dynptr"],
                 "btf_funcs": ["bpf_dynptr_from_mem", "bpf_dynptr_read", "bpf_dynptr_write",
                               "bpf_dynptr_data"]},
}

VALUE, SLICE_VALUE = 0x1122334455667788, 0xA5C3E1F0


def run(t):
    obj = t.load()
    t.attach(obj, "on_sys_enter")
    # Any syscall of this process (t.wait's getppid) triggers raw_tp/sys_enter.
    t.expect_true(t.wait(lambda: obj.bss.done), "fired")
    t.expect_values(obj.bss, from_mem_rc=0, write_rc=0, read_rc=0, read_back=VALUE,
                    buffer=VALUE, oob_write_rc=-errno.E2BIG, data_slice=True,
                    read_back_via_slice=SLICE_VALUE, data_oob_refused=True)
    # And from user space: the slice's write at 0, the dynptr's at 4.
    value = obj.lookup("scratch", struct.pack("=I", 0), 16) or b""
    t.expect_eq(value[:12].hex(), struct.pack("=IQ", SLICE_VALUE, VALUE).hex(), "map_value")
