"""socket: sk_lookup steers connections on several ports to one listening socket."""

import errno
import socket
import struct

CASE = {
    "description": "sk_lookup attached to a private netns (bpf_program__attach_netns) steers "
                   "TCP connects to ports 7001-7003 to the one listener on 7777 via a sockmap "
                   "and bpf_sk_assign; port 7100 is still refused",
}

LISTEN, PORTS, OUTSIDE = 7777, (7001, 7002, 7003), 7100


def run(t):
    ns = t.net.netns(t)
    with ns.inside():
        t.net.ip("link", "set", "dev", "lo", "up")
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    t.defer(listener.close)
    listener.bind(("127.0.0.1", LISTEN))
    listener.listen(8)
    listener.settimeout(5)

    obj = t.load()
    obj.bss.port_lo, obj.bss.port_hi = PORTS[0], PORTS[-1]
    obj.update("target", struct.pack("=I", 0), struct.pack("=Q", listener.fileno()))
    t.net.netns_attach(t, obj, "steer", ns)

    local_ports = []
    for port in PORTS:
        with ns.inside():
            c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            c.settimeout(5)
            c.connect(("127.0.0.1", port))
            conn, _ = listener.accept()
            local_ports.append(conn.getsockname()[1])  # the address the client asked for
            conn.close()
        finally:
            c.close()
    t.expect_eq(local_ports, list(PORTS), "local ports of the accepted connections")
    t.expect_values(obj.bss, steered=len(PORTS), assign_rc=0, last_port=PORTS[-1])

    with ns.inside():
        c = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        c.settimeout(5)
        err = c.connect_ex(("127.0.0.1", OUTSIDE))
    finally:
        c.close()
    t.expect_eq(errno.errorcode.get(err, err), "ECONNREFUSED", "connect to a port outside")
    t.expect_ge(obj.bss.lookups, len(PORTS) + 1, "lookups")
