"""jit: arm64 JITed programs sign their return address (PACIASP) and authenticate it
(AUTIASP) on a CPU with pointer authentication.

PACIASP/AUTIASP are hint-space instructions: a CPU without pointer authentication
runs them as NOPs, so their presence in the image proves nothing there. The CPU's
answer is HWCAP_PACA (getauxval(AT_HWCAP), read from /proc/self/auxv).
"""

CASE = {
    "description": "arm64 BPF JIT signs the return address: PACIASP in the prologue, AUTIASP "
                   "in the epilogue of the JITed image, on a CPU with pointer authentication",
    "requires": {"arch": ["aarch64"], "jit": True},
}

X = 0x1234567
PACKET = bytes(64)


def cpu_paca(t):
    """(the CPU has address authentication, evidence), from AT_HWCAP or cpuinfo Features."""
    ji = t.jitimage
    hwcap = ji.auxv_hwcap()
    features = (ji.cpuinfo_field("Features") or "").split()
    t.detail("hwcap", None if hwcap is None else hex(hwcap))
    if hwcap is not None:
        return bool(hwcap & ji.HWCAP_PACA), "AT_HWCAP bit HWCAP_PACA"
    return "paca" in features, "/proc/cpuinfo Features paca"


def run(t):
    obj = t.load()
    obj.bss.x = X
    out = obj.test_run("signed_ret", data=PACKET)
    t.expect_eq(out["retval"], 0, "retval")
    t.expect_values(obj.bss, runs=1, out=X * 3 + 1)
    insns = t.jit_insns(obj, "signed_ret")
    pac = t.detail("pac_insns", t.jitimage.known(insns, ("paciasp", "autiasp")))
    has, where = cpu_paca(t)
    if not has:
        try:
            cfg = t.facts["kernel_config"]
        except (KeyError, TypeError):
            cfg = None
        if cfg is not None and cfg.get("CONFIG_ARM64_PTR_AUTH") != "y":
            t.skip("kernel-lacks", "the kernel is built without CONFIG_ARM64_PTR_AUTH, so it "
                   "neither uses nor reports pointer authentication (%s unset)" % where)
        t.skip("hardware-missing", "the CPU has no pointer authentication (%s unset); "
               "PACIASP/AUTIASP would run as NOPs" % where)
    names = [p.split(": ", 1)[1] for p in pac]
    missing = [m for m in ("paciasp", "autiasp") if m not in names]
    if missing:
        t.skip("kernel-lacks", "the JITed image holds no %s: this JIT does not sign return "
               "addresses" % " / ".join(missing).upper())
    t.expect_true(names.index("paciasp") < len(names) - 1 - names[::-1].index("autiasp"),
                  "PACIASP before the last AUTIASP")
