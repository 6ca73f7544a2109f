"""trampoline: seven arguments (fentry, fmod_ret, fexit on bpf_modify_return_test2)."""

CASE = {
    "description": "fentry/fmod_ret/fexit on the 7-argument bpf_modify_return_test2: all "
                   "arguments, the side effect through the pointer and the return value",
    "requires": {
        "probes": ["trampoline"],
        "btf_funcs": ["bpf_modify_return_test2"],
        "ftrace": True,
    },
    "timeout": 60,
}

ARGS = [1, 2, 3, 4, 5, 6, 7]  # as the kernel passes them; *b shown as its value (2)


def _signed(v):
    return v - (1 << 64) if v >= (1 << 63) else v


def run(t):
    obj = t.load()
    # Attach errors name their errno: -524 (ENOTSUPP) is an arch trampoline that
    # cannot take this many arguments; suites/ marks where that is known.
    for prog in ("on_entry", "passive", "on_exit"):
        t.attach(obj, prog)
    out = obj.test_run("passive")
    res = [_signed(v) for v in obj.bss_u64(19)]
    entry, modret, exit_ = res[1:8], res[9], res[11:18]
    want_ret = 1 + 3 + 3 + 4 + 5 + 6 + 7  # a + (*b after += 1) + c + d + e + f + g
    t.detail("test_run_retval", out["retval"])
    t.detail("fentry", {"hits": res[0], "args": entry})
    t.detail("fmod_ret", {"hits": res[8], "g": modret})
    t.detail("fexit", {"hits": res[10], "args": exit_, "ret": res[18]})
    t.expect(res[0] == 1 and res[8] == 1 and res[10] == 1,
             "hits fentry=%d fmod_ret=%d fexit=%d, expected 1 each" % (res[0], res[8], res[10]))
    t.expect(entry == ARGS, "fentry saw %s, expected %s" % (entry, ARGS))
    t.expect(modret == 7, "fmod_ret saw the 7th argument as %d, expected 7" % modret)
    want_exit = ARGS[:1] + [3] + ARGS[2:]  # the body incremented *b
    t.expect(exit_ == want_exit, "fexit saw %s, expected %s" % (exit_, want_exit))
    t.expect(res[18] == want_ret, "fexit saw return value %d, expected %d" % (res[18], want_ret))
