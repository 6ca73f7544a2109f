"""maps: LPM trie longest-prefix lookups from BPF."""

import socket
import struct

CASE = {
    "description": "an LPM trie with nested IPv4 prefixes (/8, /16, /24, /32): lookups "
                   "from BPF return the longest matching prefix, or none",
}

ROUTES = [("10.0.0.0", 8, 1), ("10.1.0.0", 16, 2), ("10.1.2.0", 24, 3), ("10.1.2.3", 32, 4)]
# address -> value of the longest prefix that holds it (-1: none)
QUERIES = [("10.9.9.9", 1), ("10.1.9.9", 2), ("10.1.2.200", 3), ("192.168.0.1", -1)]


def run(t):
    obj = t.load()
    for addr, plen, val in ROUTES:
        obj.update("routes", struct.pack("=I", plen) + socket.inet_aton(addr),
                   struct.pack("=I", val))
    obj.bss.queries = [struct.unpack("=I", socket.inet_aton(a))[0] for a, _ in QUERIES]
    t.attach(obj, "lookup")
    t.expect_true(t.wait(lambda: obj.bss.done), "fired")
    t.expect_eq(list(obj.bss.matched), [v for _, v in QUERIES], "matched")
    # the /32 route is exact: a lookup of that host from user space finds it
    t.expect_eq(obj.lookup("routes", struct.pack("=I", 32) + socket.inet_aton("10.1.2.3")),
                struct.pack("=I", 4), "host route from user space")
