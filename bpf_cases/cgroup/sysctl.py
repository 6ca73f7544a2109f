"""cgroup: a cgroup/sysctl program refuses one sysctl write and rewrites another."""

import errno
import os

CASE = {
    "description": "cgroup/sysctl refuses a write to net.ipv4.ip_forward (EPERM, value kept) "
                   "and rewrites one to net.ipv4.ip_default_ttl (100 becomes 77), for a "
                   "process of its cgroup in a private netns",
}

FORWARD = "/proc/sys/net/ipv4/ip_forward"
TTL = "/proc/sys/net/ipv4/ip_default_ttl"


def _read(path):
    with open(path) as f:
        return f.read().strip()


def _write(path, value):
    fd = os.open(path, os.O_WRONLY)
    try:
        os.write(fd, value)
        return "ok"
    except OSError as e:
        return errno.errorcode.get(e.errno, str(e.errno))
    finally:
        os.close(fd)


def run(t):
    ns = t.net.netns(t)  # the sysctls written are this namespace's own
    path, cg_fd = t.net.cgroup(t)
    obj = t.load()
    t.net.prog_attach(t, obj.prog_fd("guard_sysctl"), cg_fd, t.net.BPF_CGROUP_SYSCTL,
                      "cgroup/sysctl")

    def in_group():
        with ns.inside():
            out = {"forward_before": _read(FORWARD)}
            out["forward_write"] = _write(FORWARD, b"1")
            out["forward_after"] = _read(FORWARD)
            out["ttl_write"] = _write(TTL, b"100")
            out["ttl_after"] = _read(TTL)
            return out

    out = t.net.run_in_cgroup(path, in_group)
    t.expect_eq(out["forward_write"], "EPERM", "write of 1 to ip_forward")
    t.expect_eq(out["forward_after"], out["forward_before"], "ip_forward after the refusal")
    t.expect_eq(out["ttl_write"], "ok", "write of 100 to ip_default_ttl")
    t.expect_eq(out["ttl_after"], "77", "ip_default_ttl after the rewrite")
    t.expect_values(obj.bss, writes=2, refused=1, rewritten=1, set_rc=0,
                    refused_value=b"1" + bytes(7))
    t.expect_ge(obj.bss.reads, 4, "reads")
