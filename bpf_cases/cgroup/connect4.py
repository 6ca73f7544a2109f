"""cgroup: a cgroup/connect4 program rewrites the destination port of a connect()."""

import errno
import socket
import sys

CASE = {
    "description": "cgroup/connect4 (legacy bpf_prog_attach on a new cgroup2 group) sends a "
                   "TCP connect to 127.0.0.1:P1 to the listener on P2; processes outside "
                   "the group still get ECONNREFUSED on P1",
}

DATA = b"kmatrix connect4"


def _bound_port(kind):
    s = socket.socket(socket.AF_INET, kind)
    s.bind(("127.0.0.1", 0))
    return s, s.getsockname()[1]


def run(t):
    listener, to_port = _bound_port(socket.SOCK_STREAM)
    t.defer(listener.close)
    listener.listen(4)
    listener.settimeout(5)
    # Bound and never listening: nobody else takes the port, and a connect to it is refused.
    closed, from_port = _bound_port(socket.SOCK_STREAM)
    t.defer(closed.close)

    path, cg_fd = t.net.cgroup(t)
    obj = t.load()
    obj.bss.from_port = from_port
    obj.bss.to_port = to_port
    t.net.prog_attach(t, obj.prog_fd("redirect_connect"), cg_fd,
                      t.net.BPF_CGROUP_INET4_CONNECT, "cgroup/connect4")

    def connect_from_group():
        c = socket.create_connection(("127.0.0.1", from_port), timeout=5)
        try:
            c.sendall(DATA)
            return c.getpeername()[1]
        finally:
            c.close()

    peer_port = t.net.run_in_cgroup(path, connect_from_group)
    conn, _addr = listener.accept()
    t.defer(conn.close)
    conn.settimeout(5)
    got = conn.recv(len(DATA) * 2)
    t.expect_eq(got, DATA, "data at the listener on to_port")
    t.expect_eq(peer_port, to_port, "peer port the connected socket reports")
    t.expect_values(obj.bss, hits=1, rewritten=1,
                    seen_ip4=int.from_bytes(socket.inet_aton("127.0.0.1"), sys.byteorder))

    # Outside the group nothing is rewritten.
    outside = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        outside.settimeout(5)
        err = outside.connect_ex(("127.0.0.1", from_port))
    finally:
        outside.close()
    t.expect_eq(errno.errorcode.get(err, err), "ECONNREFUSED", "connect from outside the group")
    t.expect_eq(obj.bss.hits, 1, "hits after the outside connect")
