"""cgroup: a cgroup_skb/egress program counts the packets and bytes a process sends."""

import socket

CASE = {
    "description": "cgroup_skb/egress (legacy bpf_prog_attach on a new cgroup2 group) counts "
                   "the UDP datagrams a process of the group sends to 127.0.0.1 and their "
                   "IPv4 bytes; the receiver gets every one",
}

SIZES = (1, 64, 512, 1400)
HEADERS = 20 + 8  # IPv4 and UDP


def run(t):
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    t.defer(rx.close)
    rx.bind(("127.0.0.1", 0))
    rx.settimeout(5)
    port = rx.getsockname()[1]

    path, cg_fd = t.net.cgroup(t)
    obj = t.load()
    obj.bss.dport = port
    t.net.prog_attach(t, obj.prog_fd("count_egress"), cg_fd, t.net.BPF_CGROUP_INET_EGRESS,
                      "cgroup_skb/egress")

    def send_from_group():
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            for n in SIZES:
                s.sendto(bytes([n & 0xFF]) * n, ("127.0.0.1", port))
        finally:
            s.close()
        return len(SIZES)

    t.net.run_in_cgroup(path, send_from_group)
    got = sorted(len(rx.recv(2048)) for _ in SIZES)
    t.expect_eq(got, sorted(SIZES), "datagram sizes received")
    t.expect_values(obj.bss, packets=len(SIZES), bytes=sum(SIZES) + HEADERS * len(SIZES))
    # Sent from outside the group: not counted.
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.sendto(b"outside", ("127.0.0.1", port))
    finally:
        s.close()
    rx.recv(2048)
    t.expect_eq(obj.bss.packets, len(SIZES), "packets after a send from outside the group")
