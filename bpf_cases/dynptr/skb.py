"""dynptr: bpf_dynptr_from_skb, slices of a packet's headers, a write to its payload."""

import socket
import struct

CASE = {
    "description": "bpf_dynptr_from_skb, bpf_dynptr_slice of Ethernet/IPv4/UDP headers and "
                   "payload, bpf_dynptr_slice_rdwr write, run with BPF_PROG_TEST_RUN",
    "requires": {"probes": ["dynptr"],
                 "kfuncs": ["bpf_dynptr_from_skb", "bpf_dynptr_slice", "bpf_dynptr_slice_rdwr"],
                 "btf_funcs": ["bpf_dynptr_write"]},
}

SADDR, DADDR, DPORT, PAYLOAD = "192.0.2.1", "198.51.100.7", 4789, b"KMxDYNP!" + bytes(range(24))
OFF = 14 + 20 + 8  # Ethernet, IPv4 and UDP headers, then the payload
PACKET = b"\x02\x00\x00\x00\x00\x02\x02\x00\x00\x00\x00\x01\x08\x00" + struct.pack(
    "!BBHHHBBH4s4sHHHH", 0x45, 0, OFF - 14 + len(PAYLOAD), 1, 0, 64, socket.IPPROTO_UDP, 0,
    socket.inet_aton(SADDR), socket.inet_aton(DADDR), 40000, DPORT, 8 + len(PAYLOAD), 0) + PAYLOAD


def run(t):
    obj = t.load()
    out = obj.test_run("skb_dynptr", data=PACKET, data_out_size=len(PACKET) + 256)
    t.expect_values(obj.bss, runs=1, from_skb_rc=0, h_proto=0x0800, protocol=socket.IPPROTO_UDP,
                    saddr=socket.inet_aton(SADDR), daddr=socket.inet_aton(DADDR), dport=DPORT,
                    payload=PAYLOAD[:8], past_end_refused=True)
    in_place = t.detail("rdwr_in_place", obj.bss.rdwr_in_place)  # else bpf_dynptr_write
    t.expect_true(in_place or obj.bss.write_rc == 0, "payload written")
    t.expect_eq(out["data"], PACKET[:OFF] + bytes(~c & 0xFF for c in PAYLOAD[:8]) +
                PACKET[OFF + 8:], "output packet")
