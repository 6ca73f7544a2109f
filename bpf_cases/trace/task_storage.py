"""trace: task local storage from a BTF raw tracepoint."""

import errno

CASE = {
    "description": "task local storage: a per-task counter created by "
                   "bpf_task_storage_get(F_CREATE) and counted on each of the check's "
                   "syscalls; a lookup before the first create finds none",
    "requires": {"btf_funcs": ["bpf_task_storage_get", "bpf_task_storage_delete",
                               "bpf_get_current_task_btf"]},
}

GETPPID_NR = {"x86_64": 110, "aarch64": 173, "riscv64": 173}
N = 5
# 5.11 gave task storage to LSM programs only; tracing programs got it in 5.12.
NOT_FOR_TRACING = "cannot use helper bpf_task_storage_get"


def no_cas128(t):
    """Since Linux 6.19 BPF local storage allocates with kmalloc_nolock() (commit
    f484f4a3e058), which fails on a CPU without a double-word cmpxchg; upstream keeps it
    so (lore: "bpf: ... use_kmalloc_nolock only when HAVE_CMPXCHG_DOUBLE", refused). On
    riscv64 that instruction is the Zacas extension: a CPU without it is hardware-missing."""
    if t.arch != "riscv64":
        return
    exts = t.jitimage.riscv_dt_isa()
    if exts is None:
        exts = t.jitimage.riscv_isa_extensions(t.jitimage.cpuinfo_field("isa") or "")
    if "zacas" not in exts:
        t.skip("hardware-missing", "bpf_task_storage_get(F_CREATE) returned NULL on every "
               "call: since Linux 6.19 BPF local storage is allocated with kmalloc_nolock(), "
               "which needs a double-word cmpxchg, and this riscv64 CPU has no Zacas "
               "extension (device tree ISA: %s)" % ",".join(sorted(e for e in exts if len(e) > 1)))


def run(t):
    try:
        obj = t.load()
    except t.LoadFailed as e:
        for line in (e.log or "").splitlines():
            if NOT_FOR_TRACING in line:
                t.skip("kernel-lacks", "this kernel has task local storage for LSM programs "
                       "only (tracing programs: Linux 5.12): the verifier says %r"
                       % line.strip())
        raise
    obj.bss.nr_wanted = GETPPID_NR[t.arch]
    t.attach(obj, "on_enter")
    t.wait(lambda: obj.bss.calls >= N or obj.bss.creates_failed >= N)
    t.expect_eq(obj.data.first_delete_rc, -errno.ENOENT, "first_delete_rc")
    if not obj.bss.calls and obj.bss.creates_failed:
        no_cas128(t)
    t.expect(obj.bss.calls or not obj.bss.creates_failed,
             "bpf_task_storage_get(F_CREATE) returned NULL on all %d calls, while a delete "
             "before them found no storage (%d): this kernel does not create task storage "
             "from a tracing program" % (obj.bss.creates_failed, obj.data.first_delete_rc))
    t.expect_eq(obj.bss.calls, N, "calls")
    t.expect_eq(obj.bss.stored, N, "stored")  # one counter, kept across calls
    t.expect_values(obj.bss, creates_failed=0, first_lookup_found=False)
