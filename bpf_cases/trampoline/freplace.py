"""trampoline: an extension (freplace) program replaces a global subprogram of XDP."""

import ctypes

CASE = {
    "description": "freplace: an extension program replaces the global subprogram that gives "
                   "a loaded XDP program its verdict (XDP_PASS -> XDP_DROP under test_run), "
                   "and detaching it restores the original",
    "requires": {"jit": True},
}

XDP_DROP, XDP_PASS = 1, 2
TARGET = b"kmx_verdict"
PACKET = b"\xff" * 6 + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00" + bytes(50)


def _load_extension(t, target_fd):
    """A second copy of the object where only the extension loads, aimed at the live
    program."""
    lb, lib = t.libbpf, t.lib.lib
    lib.bpf_program__set_attach_target.argtypes = [ctypes.c_void_p, ctypes.c_int,
                                                   ctypes.c_char_p]
    ext = t.open()
    for name in ext.programs():
        ext.set_autoload(name, name == "new_verdict")
    rc = lib.bpf_program__set_attach_target(ext.program("new_verdict"), target_fd, TARGET)
    if rc < 0:
        raise lb.LibbpfError("bpf_program__set_attach_target(new_verdict)", -rc,
                             t.lib.take_log())
    ext.load()  # EPERM here is a policy: the agent classifies it (environment-blocks)
    return ext


def _attach_extension(t, ext, target_fd):
    lb, lib = t.libbpf, t.lib.lib
    fn = lib.bpf_program__attach_freplace
    fn.restype, fn.argtypes = ctypes.c_void_p, [ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p]
    ctypes.set_errno(0)
    ptr = fn(ext.program("new_verdict"), target_fd, TARGET)
    err = lb._ptr_err(ptr)
    if err:
        raise lb.AttachFailed("bpf_program__attach_freplace(new_verdict -> kmx_verdict)", err,
                              t.lib.take_log(), "freplace")
    link = lb.Link(t.lib, ptr, "freplace link")
    t.defer(link.destroy)
    return link


def run(t):
    target = t.load(only=["xdp_main"])
    fd = target.prog_fd("xdp_main")
    verdict = lambda: target.test_run("xdp_main", data=PACKET)["retval"]  # noqa: E731
    t.expect_eq(verdict(), XDP_PASS, "verdict_before")
    ext = _load_extension(t, fd)
    link = _attach_extension(t, ext, fd)
    t.expect_eq(verdict(), XDP_DROP, "verdict_replaced")
    t.expect_eq(ext.bss.replacement_runs, 1, "replacement runs")
    # The original subprogram must not run while replaced.
    t.expect_eq([target.bss.main_runs, target.bss.original_runs], [2, 1], "runs main, original")
    link.destroy()
    t.expect_eq(verdict(), XDP_PASS, "verdict_after_detach")
    t.expect_eq(target.bss.original_runs, 2, "original runs after detach")
