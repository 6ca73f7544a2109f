"""trampoline: fmod_ret on security_task_getsid, passive then overriding getsid(2)."""

import errno
import os

CASE = {
    "description": "fmod_ret on security_task_getsid: returning 0 lets getsid(2) succeed; "
                   "returning -EXDEV makes it fail with EXDEV, for our process only, and "
                   "fexit sees the overridden value",
    "requires": {"btf_funcs": ["security_task_getsid"], "probes": ["trampoline"], "ftrace": True},
}

OVERRIDE = errno.EXDEV  # unusual for getsid(2): only our program can cause it


def _getsid():
    """(sid, errno) of getsid(our pid); a non-zero pid makes the kernel call the hook."""
    try:
        return os.getsid(os.getpid()), 0
    except OSError as e:
        return None, e.errno


def _round(t, bss, value):
    """getsid with fmod_ret returning -value: (sid, errno, what fmod_ret was handed,
    what fexit saw)."""
    bss.modify_hits = bss.fexit_hits = bss.handed = bss.fexit_ret = 0
    bss.override_errno = value
    sid, err = _getsid()
    t.expect(bss.modify_hits >= 1 and bss.fexit_hits >= 1,
             "fmod_ret returning %d: hits fmod_ret=%d fexit=%d, expected at least 1 each"
             % (-value, bss.modify_hits, bss.fexit_hits))
    return [sid, err, bss.handed, bss.fexit_ret]


def run(t):
    want_sid = os.getsid(os.getpid())
    obj = t.load()
    for prog in ("modify", "after"):
        t.attach(obj, prog)
    # fmod_ret returning 0: the hook runs and getsid works; nobody sees an error.
    t.expect_eq(_round(t, obj.bss, 0), [want_sid, 0, 0, 0], "return_0: sid, errno, handed, "
                "fexit_ret")
    sid, err, _handed, seen = t.detail("return_-EXDEV", _round(t, obj.bss, OVERRIDE))
    t.expect_eq(err, OVERRIDE, "getsid errno with fmod_ret returning -EXDEV")
    t.expect_eq(seen, -OVERRIDE, "fexit_ret with fmod_ret returning -EXDEV")
    obj.bss.override_errno = 0  # once the override is off again, getsid works: nothing stuck
    t.expect_eq(_getsid(), (want_sid, 0), "getsid after the override")
