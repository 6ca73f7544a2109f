"""maps: LRU hash evicts instead of refusing, a plain hash refuses."""

import errno
import struct

CASE = {
    "description": "an LRU hash takes 4x its size in inserts from BPF and evicts old keys; "
                   "a plain hash of the same size refuses the extra insert with E2BIG",
}

ENTRIES = 16
INSERTS = 4 * ENTRIES


def run(t):
    obj = t.load()
    t.attach(obj, "fill")
    t.expect_true(t.wait(lambda: obj.bss.done), "fired")
    t.expect_values(obj.bss, lru_ok=INSERTS, plain_ok=ENTRIES, plain_full_rc=-errno.E2BIG,
                    newest_present=1)
    # evictions happened, and the map never held more than its size
    t.expect_ge(obj.bss.present, 1, "present")
    t.expect_le(obj.bss.present, ENTRIES, "present")
    # user space sees the same map: the newest key, and not the oldest
    t.expect_eq(obj.lookup("lru", struct.pack("=I", INSERTS - 1)),
                struct.pack("=Q", 1000 + INSERTS - 1), "newest from user space")
    t.expect_eq(obj.lookup("lru", struct.pack("=I", 0)), None, "oldest from user space")
