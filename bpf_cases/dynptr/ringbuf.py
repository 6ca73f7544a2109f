"""dynptr: bpf_ringbuf_reserve_dynptr/submit/discard; the check consumes the ring buffer."""

import os
import struct
import time

CASE = {
    "description": "bpf_ringbuf_reserve_dynptr + bpf_dynptr_write + submit, record read back; "
                   "a discarded reservation never arrives",
    "requires": {"probes": ["dynptr"],
                 "btf_funcs": ["bpf_ringbuf_reserve_dynptr", "bpf_ringbuf_submit_dynptr",
                               "bpf_ringbuf_discard_dynptr", "bpf_dynptr_write"]},
    "timeout": 60,
}

REC = struct.Struct("=QII16sQ")
MAGIC = 0x6B6D617472697821


def _signed(v):
    return v - (1 << 64) if v >= (1 << 63) else v


def _comm():
    try:
        with open("/proc/self/comm", "rb") as f:
            return f.read().strip()
    except OSError:
        return None


def run(t):
    obj = t.load()
    t.attach(obj, "on_sys_enter")
    obj.bss_set_u64(2, os.getpid())
    deadline = time.monotonic() + 5
    res = obj.bss_u64(6)
    while not res[0] and time.monotonic() < deadline:
        os.getppid()
        res = obj.bss_u64(6)
    done, rrc, _flt, wrc, jrc, jwrc = res
    t.detail("reserve_rc", _signed(rrc))
    t.detail("write_rc", _signed(wrc))
    t.detail("discarded_reserve_rc", _signed(jrc))
    t.detail("discarded_write_rc", _signed(jwrc))
    t.expect(done == 1, "raw_tp/sys_enter program did not fire")
    t.expect(_signed(rrc) == 0, "bpf_ringbuf_reserve_dynptr returned %d" % _signed(rrc))
    t.expect(_signed(wrc) == 0, "bpf_dynptr_write returned %d" % _signed(wrc))
    t.expect(_signed(jrc) == 0 and _signed(jwrc) == 0,
             "second reservation (to discard) failed: reserve %d, write %d"
             % (_signed(jrc), _signed(jwrc)))
    # want=2: poll until the time runs out unless the discarded record wrongly shows up.
    records = obj.ringbuf("rb", timeout_ms=100, max_polls=3, want=2)
    t.detail("records", len(records))
    t.expect(len(records) == 1, "expected 1 ring buffer record (the other was discarded), "
             "got %d" % len(records))
    t.expect(len(records[0]) == REC.size, "record is %d bytes, expected %d"
             % (len(records[0]), REC.size))
    magic, tgid, length, comm, seq = REC.unpack(records[0])
    comm = comm.split(b"\0", 1)[0]
    t.detail("record", {"magic": "0x%x" % magic, "tgid": tgid, "len": length,
                        "comm": comm.decode("utf-8", "replace"), "seq": seq})
    t.expect(magic == MAGIC, "record magic 0x%x, expected 0x%x" % (magic, MAGIC))
    t.expect(tgid == os.getpid(), "record tgid %d, expected %d" % (tgid, os.getpid()))
    t.expect(length == REC.size and seq == 42, "record len/seq %d/%d, expected %d/42"
             % (length, seq, REC.size))
    want = _comm()
    if want is not None:
        t.expect(comm == want[:15], "record comm %r, expected %r" % (comm, want[:15]))
