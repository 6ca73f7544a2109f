"""dynptr: bpf_dynptr_from_skb + bpf_dynptr_slice/slice_rdwr in a tc program run with
BPF_PROG_TEST_RUN; header fields read through slices, payload rewritten in place."""

import socket
import struct

CASE = {
    "description": "bpf_dynptr_from_skb, bpf_dynptr_slice of Ethernet/IPv4/UDP headers and "
                   "payload, bpf_dynptr_slice_rdwr write, run with BPF_PROG_TEST_RUN",
    "requires": {"probes": ["dynptr"],
                 "kfuncs": ["bpf_dynptr_from_skb", "bpf_dynptr_slice", "bpf_dynptr_slice_rdwr"],
                 "btf_funcs": ["bpf_dynptr_write"]},
    "timeout": 60,
}

SADDR, DADDR, DPORT = "192.0.2.1", "198.51.100.7", 4789
PAYLOAD = b"KMxDYNP!" + bytes(range(24))


def _signed(v):
    return v - (1 << 64) if v >= (1 << 63) else v


def _packet():
    udp = struct.pack("!HHHH", 40000, DPORT, 8 + len(PAYLOAD), 0) + PAYLOAD
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, socket.IPPROTO_UDP, 0,
                     socket.inet_aton(SADDR), socket.inet_aton(DADDR))
    eth = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + struct.pack("!H", 0x0800)
    return eth + ip + udp


def run(t):
    obj = t.load()
    pkt = _packet()
    # A tc program has no attach point in a test run: BPF_PROG_TEST_RUN is the trigger.
    out = obj.test_run("skb_dynptr", data=pkt, data_out_size=len(pkt) + 256)
    res = obj.bss_u64(11)
    payload_word = struct.pack("=Q", res[7])
    t.detail("runs", res[0])
    t.detail("retval", out["retval"])
    t.detail("from_skb_rc", _signed(res[1]))
    t.detail("fields", {"h_proto": "0x%04x" % res[2], "saddr": socket.inet_ntoa(
        struct.pack("!I", res[3])), "daddr": socket.inet_ntoa(struct.pack("!I", res[4])),
        "protocol": res[5], "dport": res[6]})
    t.detail("payload_read", payload_word.decode("latin-1"))
    t.detail("rdwr_in_place", res[8])
    t.detail("write_rc", _signed(res[10]))
    t.expect(res[0] == 1, "program ran %d times, expected 1" % res[0])
    t.expect(_signed(res[1]) == 0, "bpf_dynptr_from_skb returned %d" % _signed(res[1]))
    t.expect(res[2] == 0x0800, "h_proto read through the slice is 0x%04x, expected 0x0800"
             % res[2])
    t.expect(socket.inet_ntoa(struct.pack("!I", res[3])) == SADDR and
             socket.inet_ntoa(struct.pack("!I", res[4])) == DADDR,
             "IPv4 addresses read through the slice do not match the packet")
    t.expect(res[5] == socket.IPPROTO_UDP and res[6] == DPORT,
             "protocol/port read %d/%d, expected %d/%d" % (res[5], res[6], socket.IPPROTO_UDP,
                                                          DPORT))
    t.expect(payload_word == PAYLOAD[:8], "payload read %r, expected %r"
             % (payload_word, PAYLOAD[:8]))
    t.expect(res[9] == 1, "bpf_dynptr_slice past the end of the packet was not refused")
    t.expect(res[8] == 1 or _signed(res[10]) == 0, "writing the payload failed (in place: %d, "
             "bpf_dynptr_write rc %d)" % (res[8], _signed(res[10])))
    data = out["data"]
    want = bytearray(pkt)
    off = 14 + 20 + 8
    want[off:off + 8] = bytes(~c & 0xFF for c in PAYLOAD[:8])
    t.detail("data_out_len", len(data))
    t.expect(data == bytes(want), "output packet does not carry the flipped payload "
             "(got %r at offset %d)" % (data[off:off + 8], off))
