"""socket: an sk_msg program redirects what one socket sends to another socket's ingress."""

import struct

CASE = {
    "description": "sockmap with an sk_msg verdict program (legacy bpf_prog_attach to the map): "
                   "data sent on one TCP connection arrives on another connection's socket "
                   "(bpf_msg_redirect_map with BPF_F_INGRESS), not at its own peer",
}

DATA = b"kmatrix sk_msg redirect"
SK_PASS = 1


def run(t):
    ns = t.net.netns(t)
    (c1, s1), (_c2, s2) = t.net.tcp_pairs(t, ns, 2)
    obj = t.load()
    t.net.prog_attach(t, obj.prog_fd("redirect_msg"), obj.map_fd("socks"),
                      t.net.BPF_SK_MSG_VERDICT, "sk_msg on the sockmap")
    obj.update("socks", struct.pack("=I", 0), struct.pack("=Q", c1.fileno()))
    obj.update("socks", struct.pack("=I", 1), struct.pack("=Q", s2.fileno()))

    c1.sendall(DATA)
    t.expect_eq(t.net.recv_exact(s2, len(DATA)), DATA, "data on the redirect target")
    t.expect_eq(t.net.pending(s1), b"", "data at the sender's own peer")
    t.expect_values(obj.bss, msgs=1, msg_bytes=len(DATA), verdict=SK_PASS)
