"""trampoline: an extension (freplace) program replaces a global subprogram of XDP."""

import ctypes
import errno
import os

try:
    from kmatrix_agent import libbpf as lb
except ImportError:  # run from a checkout
    from kmatrix.agent import libbpf as lb

CASE = {
    "description": "freplace: an extension program replaces the global subprogram that gives "
                   "a loaded XDP program its verdict (XDP_PASS -> XDP_DROP under test_run), "
                   "and detaching it restores the original",
    "requires": {"jit": True},
    "timeout": 60,
}

XDP_DROP, XDP_PASS = 1, 2
TARGET = "kmx_verdict"
PACKET = b"\xff" * 6 + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00" + bytes(50)


def _bind(lib):
    lib.bpf_program__set_attach_target.restype = ctypes.c_int
    lib.bpf_program__set_attach_target.argtypes = [ctypes.c_void_p, ctypes.c_int,
                                                   ctypes.c_char_p]
    lib.bpf_program__attach_freplace.restype = ctypes.c_void_p
    lib.bpf_program__attach_freplace.argtypes = [ctypes.c_void_p, ctypes.c_int,
                                                 ctypes.c_char_p]


def _skip_if_policy(t, e):
    """EPERM for root with no verifier output: a policy (LSM, sandbox) forbids the type."""
    verifier = [ln for ln in (e.log or "").splitlines() if ln.strip() and
                not ln.startswith("libbpf:")]
    if e.errno == errno.EPERM and os.geteuid() == 0 and not verifier:
        t.skip("environment-blocks", "the kernel refuses to load an extension "
               "(BPF_PROG_TYPE_EXT) program with EPERM although the agent runs as root and the "
               "verifier said nothing: a security policy forbids it")


def _run(obj):
    return obj.test_run("xdp_main", data=PACKET)["retval"]


def run(t):
    lib = t.lib.lib
    _bind(lib)
    target = t.load(only=["xdp_main"])
    tfd = target.prog_fd("xdp_main")
    before = _run(target)
    t.detail("verdict_before", before)
    t.expect(before == XDP_PASS, "the original program returned %d, expected XDP_PASS" % before)

    # Second copy of the object: only the extension loads, aimed at the live program.
    ext = t.open()
    for name in ext.programs():
        ext.set_autoload(name, name == "new_verdict")
    rc = lib.bpf_program__set_attach_target(ext.program("new_verdict"), tfd, TARGET.encode())
    if rc < 0:
        raise lb.LibbpfError("bpf_program__set_attach_target(new_verdict)", -rc,
                             t.lib.take_log())
    try:
        ext.load()
    except lb.LoadFailed as e:
        _skip_if_policy(t, e)
        raise
    ctypes.set_errno(0)
    ptr = lib.bpf_program__attach_freplace(ext.program("new_verdict"), tfd, TARGET.encode())
    err = lb._ptr_err(ptr)
    if err:
        raise lb.AttachFailed("bpf_program__attach_freplace(new_verdict -> %s)" % TARGET, err,
                              t.lib.take_log(), "freplace")
    link = lb.Link(t.lib, ptr, "freplace link")
    t.defer(link.destroy)

    during = _run(target)
    main_runs, orig_runs, _ = target.bss_u64(3)
    repl_runs = ext.bss_u64(3)[2]
    t.detail("verdict_replaced", during)
    t.detail("runs_replaced", {"main": main_runs, "original": orig_runs, "replacement": repl_runs})
    t.expect(during == XDP_DROP, "with the extension attached the verdict is %d, expected "
             "XDP_DROP" % during)
    t.expect(repl_runs == 1, "the replacement ran %d times, expected 1" % repl_runs)
    t.expect(main_runs == 2 and orig_runs == 1, "runs main=%d original=%d, expected 2 and 1 "
             "(the original subprogram must not run while replaced)" % (main_runs, orig_runs))

    link.destroy()
    after = _run(target)
    t.detail("verdict_after_detach", after)
    t.expect(after == XDP_PASS, "after detaching the extension the verdict is %d, expected "
             "XDP_PASS" % after)
    t.expect(target.bss_u64(3)[1] == 2, "the original subprogram did not come back")
