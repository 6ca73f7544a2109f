"""trace: a BPF LSM program on file_open denies the check's own file."""

import errno
import os

CASE = {
    "description": "a BPF LSM program on file_open refuses the check's own file with EPERM "
                   "and lets its other opens through",
    "requires": {"config": ["CONFIG_BPF_LSM"], "probes": ["trampoline"], "ftrace": True},
}

ACTIVE = "/sys/kernel/security/lsm"


def run(t):
    try:
        with open(ACTIVE) as f:
            active = f.read().strip()
    except OSError as e:
        t.skip("environment-blocks", "cannot read the active LSM list %s (%s): securityfs "
               "is not mounted" % (ACTIVE, errno.errorcode.get(e.errno, e.errno)))
    t.detail("active_lsms", active)
    if "bpf" not in active.split(","):
        t.skip("environment-blocks", "the BPF LSM is built in but not active: %s lists %s "
               "(boot with lsm=...,bpf)" % (ACTIVE, active))
    deny = os.path.join(t.case_files(), "kmx-lsm-deny")
    allow = os.path.join(t.case_files(), "kmx-lsm-allow")
    for p in (deny, allow):
        with open(p, "w") as f:
            f.write("x")
    obj = t.load()
    obj.bss.target_ino = os.stat(deny).st_ino
    t.attach(obj, "deny_one")
    os.close(os.open(allow, os.O_RDONLY))
    refused = None
    try:
        os.close(os.open(deny, os.O_RDONLY))
    except OSError as e:
        refused = errno.errorcode.get(e.errno, str(e.errno))
    t.expect_eq(refused, "EPERM", "open of the denied file")
    t.expect_ge(obj.bss.opens, 2, "opens")
    t.expect_eq(obj.bss.denied, 1, "denied")
