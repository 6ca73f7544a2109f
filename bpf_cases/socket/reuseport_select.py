"""socket: an sk_reuseport program picks which socket of a SO_REUSEPORT group receives."""

import select
import socket
import struct

CASE = {
    "description": "sk_reuseport program (SO_ATTACH_REUSEPORT_EBPF) chooses the receiving "
                   "socket of a 3-socket SO_REUSEPORT UDP group from a REUSEPORT_SOCKARRAY "
                   "by the datagram's first byte",
}

SO_ATTACH_REUSEPORT_EBPF = 52
N = 3
ORDER = (2, 0, 1, 1, 2, 0)  # the key each datagram asks for, in sending order


def run(t):
    ns = t.net.netns(t)
    with ns.inside():
        t.net.ip("link", "set", "dev", "lo", "up")
        group = [socket.socket(socket.AF_INET, socket.SOCK_DGRAM) for _ in range(N)]
        tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    for s in group + [tx]:
        t.defer(s.close)
    port = 0
    for s in group:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        s.bind(("127.0.0.1", port))
        port = s.getsockname()[1]
        s.setblocking(False)

    obj = t.load()
    for i, s in enumerate(group):
        obj.update("group", struct.pack("=I", i), struct.pack("=Q", s.fileno()))
    group[0].setsockopt(socket.SOL_SOCKET, SO_ATTACH_REUSEPORT_EBPF,
                        struct.pack("=i", obj.prog_fd("select_by_payload")))

    # One source port for all: the kernel's own hash would send them all to one socket.
    for n, key in enumerate(ORDER):
        tx.sendto(bytes([key, n]), ("127.0.0.1", port))
    got = {i: [] for i in range(N)}
    for i, s in enumerate(group):
        while select.select([s], [], [], 0.5)[0]:
            got[i].append(s.recv(64)[1])  # the sequence number
            if sum(len(v) for v in got.values()) == len(ORDER):
                break
    want = {i: [n for n, key in enumerate(ORDER) if key == i] for i in range(N)}
    t.expect_eq(got, want, "datagrams per socket (by sequence number)")
    t.expect_values(obj.bss, runs=len(ORDER), selected=len(ORDER), select_rc=0,
                    last_key=ORDER[-1])
