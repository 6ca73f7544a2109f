"""socket: an sk_msg program redirects what one socket sends to another socket's ingress."""

import socket
import struct

CASE = {
    "description": "sockmap with an sk_msg verdict program (legacy bpf_prog_attach to the map): "
                   "data sent on one TCP connection arrives on another connection's socket "
                   "(bpf_msg_redirect_map with BPF_F_INGRESS), not at its own peer",
}

DATA = b"kmatrix sk_msg redirect"
SK_PASS = 1


def tcp_pairs(t, ns, n):
    """n connected (client, server) TCP pairs over the loopback of `ns`."""
    with ns.inside():
        t.net.ip("link", "set", "dev", "lo", "up")
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        clients = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(n)]
    t.defer(listener.close)
    listener.bind(("127.0.0.1", 0))
    listener.listen(n)
    listener.settimeout(5)
    pairs = []
    for c in clients:
        t.defer(c.close)
        c.settimeout(5)
        c.connect(listener.getsockname())
        s, _ = listener.accept()
        t.defer(s.close)
        s.settimeout(5)
        pairs.append((c, s))
    return pairs


def run(t):
    ns = t.net.netns(t)
    (c1, s1), (_c2, s2) = tcp_pairs(t, ns, 2)
    obj = t.load()
    t.net.prog_attach(t, obj.prog_fd("redirect_msg"), obj.map_fd("socks"),
                      t.net.BPF_SK_MSG_VERDICT, "sk_msg on the sockmap")
    obj.update("socks", struct.pack("=I", 0), struct.pack("=Q", c1.fileno()))
    obj.update("socks", struct.pack("=I", 1), struct.pack("=Q", s2.fileno()))

    c1.sendall(DATA)
    got = b""
    while len(got) < len(DATA):
        chunk = s2.recv(len(DATA) - len(got))
        if not chunk:
            break
        got += chunk
    t.expect_eq(got, DATA, "data on the redirect target")
    s1.setblocking(False)
    try:
        stray = s1.recv(64)
    except BlockingIOError:
        stray = b""
    t.expect_eq(stray, b"", "data at the sender's own peer")
    t.expect_values(obj.bss, msgs=1, msg_bytes=len(DATA), verdict=SK_PASS)
