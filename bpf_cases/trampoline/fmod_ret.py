"""trampoline: fmod_ret on security_task_getsid, passive then overriding getsid(2)."""

import errno
import os

CASE = {
    "description": "fmod_ret on security_task_getsid: returning 0 lets getsid(2) succeed; "
                   "returning -EXDEV makes it fail with EXDEV, for our process only, and "
                   "fexit sees the overridden value",
    "requires": {
        "btf_funcs": ["security_task_getsid"],
        "probes": ["trampoline"],
        "ftrace": True,
    },
    "timeout": 60,
}

OVERRIDE = errno.EXDEV  # unusual for getsid(2): only our program can cause it


def _signed(v):
    return v - (1 << 64) if v >= (1 << 63) else v


def _getsid():
    """(sid, errno) of getsid(our pid); a non-zero pid makes the kernel call the hook."""
    try:
        return os.getsid(os.getpid()), 0
    except OSError as e:
        return None, e.errno


def _round(t, obj, value):
    for i in range(2, 6):
        obj.bss_set_u64(i, 0)
    obj.bss_set_u64(0, value)
    sid, err = _getsid()
    res = [_signed(v) for v in obj.bss_u64(6)]
    got = {"sid": sid, "errno": err, "fmod_ret_hits": res[2], "handed": res[3],
           "fexit_hits": res[4], "fexit_ret": res[5]}
    t.detail("return_%d" % -value, got)
    t.expect(res[2] >= 1 and res[4] >= 1, "fmod_ret returning %d: hits fmod_ret=%d fexit=%d, "
             "expected at least 1 each" % (-value, res[2], res[4]))
    return got


def run(t):
    want_sid = os.getsid(os.getpid())
    obj = t.load()
    obj.bss_set_u64(1, os.getpid())
    for prog in ("modify", "after"):
        t.attach(obj, prog)
    passive = _round(t, obj, 0)
    t.expect(passive["sid"] == want_sid, "with fmod_ret returning 0, getsid gave %s (errno %s), "
             "expected %d" % (passive["sid"], passive["errno"], want_sid))
    t.expect(passive["handed"] == 0 and passive["fexit_ret"] == 0,
             "with fmod_ret returning 0 the hook's result should be 0: fmod_ret was handed %d, "
             "fexit saw %d" % (passive["handed"], passive["fexit_ret"]))
    active = _round(t, obj, OVERRIDE)
    t.expect(active["errno"] == OVERRIDE, "fmod_ret returned -EXDEV, yet getsid gave %s "
             "(errno %s)" % (active["sid"], active["errno"]))
    t.expect(active["fexit_ret"] == -OVERRIDE, "fmod_ret returned %d but fexit saw %d"
             % (-OVERRIDE, active["fexit_ret"]))
    # Once the override is off again, getsid works: nothing stuck.
    obj.bss_set_u64(0, 0)
    t.expect(_getsid() == (want_sid, 0), "after the override getsid gives %s" % (_getsid(),))
