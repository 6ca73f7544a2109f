"""trace: a BPF LSM program on file_open denies the check's own file."""

import ctypes
import errno
import os
import shutil
import tempfile

CASE = {
    "description": "a BPF LSM program on file_open refuses the check's own file with EPERM "
                   "and lets its other opens through",
    "requires": {"config": ["CONFIG_BPF_LSM"], "probes": ["trampoline"], "ftrace": True},
}

ACTIVE = "/sys/kernel/security/lsm"
MNT_DETACH = 2


def active_lsms():
    """The kernel's active LSM list, or None. When securityfs is not mounted (a minimal
    guest), mount it on a private directory to read the list, and take it away again."""
    try:
        with open(ACTIVE) as f:
            return f.read().strip()
    except OSError:
        pass
    libc = ctypes.CDLL(None, use_errno=True)
    d = tempfile.mkdtemp(prefix="kmatrix.securityfs.")
    try:
        if libc.mount(b"securityfs", d.encode(), b"securityfs", 0, None) != 0:
            return None
        try:
            with open(os.path.join(d, "lsm")) as f:
                return f.read().strip()
        finally:
            libc.umount2(d.encode(), MNT_DETACH)
    except OSError:
        return None
    finally:
        shutil.rmtree(d, True)


def run(t):
    active = active_lsms()
    if active is None:
        t.skip("environment-blocks", "cannot read the active LSM list: %s is missing and "
               "securityfs cannot be mounted here" % ACTIVE)
    t.detail("active_lsms", active)
    if "bpf" not in active.split(","):
        t.skip("environment-blocks", "the BPF LSM is built in but not active: the active "
               "LSMs are %s (boot with lsm=...,bpf)" % active)
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
