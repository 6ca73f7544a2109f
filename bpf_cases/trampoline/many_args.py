"""trampoline: seven arguments (fentry, fmod_ret, fexit on bpf_modify_return_test2)."""

CASE = {
    "description": "fentry/fmod_ret/fexit on the 7-argument bpf_modify_return_test2: all "
                   "arguments, the side effect through the pointer and the return value",
    "requires": {"probes": ["trampoline"], "btf_funcs": ["bpf_modify_return_test2"],
                 "ftrace": True},
}


def run(t):
    obj = t.load()
    # Attach errors name their errno: -524 (ENOTSUPP) is an arch trampoline that
    # cannot take this many arguments; suites/ marks where that is known.
    for prog in ("on_entry", "passive", "on_exit"):
        t.attach(obj, prog)
    t.detail("test_run_retval", obj.test_run("passive")["retval"])
    entry, exit_ = obj.bss.entry_seen, obj.bss.exit_seen
    t.expect_eq([entry.hits, obj.bss.modret_hits, exit_.hits], [1, 1, 1],
                "hits fentry, fmod_ret, fexit")
    # The kernel passes (1, &b, 3, 4, (void *)5, 6, 7), b = 2, and its body increments *b.
    t.expect_eq(entry.args, [1, 2, 3, 4, 5, 6, 7], "fentry args")
    t.expect_eq(obj.bss.modret_g, 7, "fmod_ret's 7th argument")
    t.expect_eq(exit_.args, [1, 3, 3, 4, 5, 6, 7], "fexit args")
    t.expect_eq(exit_.ret, 1 + 3 + 3 + 4 + 5 + 6 + 7, "fexit return value")  # their sum
