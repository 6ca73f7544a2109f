"""socket: sk_skb stream parser + verdict redirect what one socket receives out of another."""

import socket
import struct

CASE = {
    "description": "sockmap with sk_skb stream parser and verdict programs (legacy "
                   "bpf_prog_attach to the map): data one socket receives is sent out of "
                   "another connection (bpf_sk_redirect_map) and arrives at that one's peer",
}

DATA = b"kmatrix sk_skb redirect"
SK_PASS = 1


def run(t):
    ns = t.net.netns(t)
    with ns.inside():
        t.net.ip("link", "set", "dev", "lo", "up")
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        c1, c2 = (socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(2))
    socks = [listener, c1, c2]
    listener.bind(("127.0.0.1", 0))
    listener.listen(2)
    for c in (c1, c2):
        c.settimeout(5)
        c.connect(listener.getsockname())
        s, _ = listener.accept()
        s.settimeout(5)
        socks.append(s)
    s1, s2 = socks[3], socks[4]
    for s in socks:
        t.defer(s.close)

    obj = t.load()
    socks_fd = obj.map_fd("socks")
    t.net.prog_attach(t, obj.prog_fd("parse"), socks_fd, t.net.BPF_SK_SKB_STREAM_PARSER,
                      "sk_skb/stream_parser on the sockmap")
    t.net.prog_attach(t, obj.prog_fd("redirect_skb"), socks_fd, t.net.BPF_SK_SKB_STREAM_VERDICT,
                      "sk_skb/stream_verdict on the sockmap")
    # s1 receives what c1 sends; the verdict sends it out of c2, to s2.
    obj.update("socks", struct.pack("=I", 0), struct.pack("=Q", s1.fileno()))
    obj.update("socks", struct.pack("=I", 1), struct.pack("=Q", c2.fileno()))

    c1.sendall(DATA)
    got = b""
    while len(got) < len(DATA):
        chunk = s2.recv(len(DATA) - len(got))
        if not chunk:
            break
        got += chunk
    t.expect_eq(got, DATA, "data at the redirect target's peer")
    s1.setblocking(False)
    try:
        stray = s1.recv(64)
    except BlockingIOError:
        stray = b""
    t.expect_eq(stray, b"", "data left on the receiving socket")
    t.expect_values(obj.bss, verdict_bytes=len(DATA), verdict=SK_PASS)
    t.expect_ge(obj.bss.parsed, 1, "parsed")
    t.expect_ge(obj.bss.verdicts, 1, "verdicts")
