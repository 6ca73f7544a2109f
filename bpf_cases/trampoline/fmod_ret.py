"""trampoline: fmod_ret on bpf_modify_return_test, passive then overriding."""

try:
    from kmatrix_agent import libbpf as lb
except ImportError:  # run from a checkout
    from kmatrix.agent import libbpf as lb

CASE = {
    "description": "fmod_ret on bpf_modify_return_test: returning 0 lets the body run (its "
                   "side effect happens, fexit sees its return); returning 73 skips the body "
                   "and the caller gets 73",
    "requires": {
        "btf_funcs": ["bpf_modify_return_test"],
        "probes": ["trampoline"],
        "ftrace": True,
    },
    "timeout": 60,
}

OVERRIDE = 73
FUNC = "bpf_modify_return_test"


def _signed(v):
    return v - (1 << 64) if v >= (1 << 63) else v


def _round(t, obj, value):
    for i in range(1, 9):
        obj.bss_set_u64(i, 0)
    obj.bss_set_u64(0, value)
    # Test-running an fmod_ret program makes the kernel call bpf_modify_return_test(1, &b)
    # (and, from 6.6, bpf_modify_return_test2), then report
    # (side_effects << 16) | (sum of their returns).
    out = obj.test_run("modify")
    res = [_signed(v) for v in obj.bss_u64(9)]
    got = {"retval": out["retval"], "side_effects": out["retval"] >> 16,
           "ret_sum": out["retval"] & 0xFFFF, "fentry_hits": res[1], "a": res[2],
           "fmod_ret_hits": res[4], "handed": res[5], "fexit_hits": res[6], "ret": res[8]}
    t.detail("return_%d" % value, got)
    t.expect(got["fentry_hits"] == 1 and got["fmod_ret_hits"] == 1 and got["fexit_hits"] == 1,
             "fmod_ret returning %d: hits fentry=%d fmod_ret=%d fexit=%d, expected 1 each"
             % (value, res[1], res[4], res[6]))
    return got


def _load(t):
    """Load, turning "not modifiable" on a kernel without error injection into a skip."""
    try:
        return t.load()
    except lb.LoadFailed as e:
        try:
            cfg = t.facts["kernel_config"] or {}
        except KeyError:
            cfg = {}
        if "is not modifiable" in (e.log or "") and cfg and \
                cfg.get("CONFIG_FUNCTION_ERROR_INJECTION") != "y":
            t.skip("kernel-lacks", "the verifier says %s() is not modifiable: this kernel "
                   "has no fmod_ret id set for it and is built without "
                   "CONFIG_FUNCTION_ERROR_INJECTION" % FUNC)
        raise


def run(t):
    obj = _load(t)
    for prog in ("on_entry", "modify", "on_exit"):
        t.attach(obj, prog)
    passive = _round(t, obj, 0)
    t.expect(passive["a"] == 1, "fentry saw a = %d; the test run calls with a = 1"
             % passive["a"])
    t.expect(passive["handed"] == 0, "the first fmod_ret program was handed %d, expected 0"
             % passive["handed"])
    t.expect(passive["side_effects"] >= 1, "with fmod_ret returning 0 the body should run, "
             "but the kernel counted %d side effects" % passive["side_effects"])
    t.expect(passive["ret"] > passive["a"], "with fmod_ret returning 0 fexit saw %d; the body "
             "returns a + *b > a = %d" % (passive["ret"], passive["a"]))
    active = _round(t, obj, OVERRIDE)
    t.expect(active["ret"] == OVERRIDE, "fmod_ret returned %d but fexit saw %d"
             % (OVERRIDE, active["ret"]))
    # The caller's view: one side effect fewer (the body did not run), and our
    # value in place of the body's.
    t.expect(active["side_effects"] == passive["side_effects"] - 1,
             "the kernel counted %d side effects with the override and %d without"
             % (active["side_effects"], passive["side_effects"]))
    t.expect(active["ret_sum"] - passive["ret_sum"] == OVERRIDE - passive["ret"],
             "the caller's return sum moved by %d, expected %d"
             % (active["ret_sum"] - passive["ret_sum"], OVERRIDE - passive["ret"]))
