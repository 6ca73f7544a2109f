"""socket: sk_skb stream parser + verdict redirect what one socket receives out of another."""

import struct

CASE = {
    "description": "sockmap with sk_skb stream parser and verdict programs (legacy "
                   "bpf_prog_attach to the map): data one socket receives is sent out of "
                   "another connection (bpf_sk_redirect_map) and arrives at that one's peer",
}

DATA = b"kmatrix sk_skb redirect"
SK_PASS = 1


def run(t):
    (c1, s1), (c2, s2) = t.net.tcp_pairs(t, t.net.netns(t), 2)

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
    t.expect_eq(t.net.recv_exact(s2, len(DATA)), DATA, "data at the redirect target's peer")
    t.expect_eq(t.net.pending(s1), b"", "data left on the receiving socket")
    t.expect_values(obj.bss, verdict_bytes=len(DATA), verdict=SK_PASS)
    t.expect_ge(obj.bss.parsed, 1, "parsed")
    t.expect_ge(obj.bss.verdicts, 1, "verdicts")
