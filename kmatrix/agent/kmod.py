"""Build, load and unload a small out-of-tree kernel module on the target.

Stdlib only, Python 3.7. Used by cases that need a module (a module-registered
kfunc, fentry on a module function). Every precondition that is not met raises
Unavailable(reason_class, sentence), which CaseContext turns into a skip.

Module BTF: Kbuild writes .BTF into a module only when the kernel build tree
has `vmlinux`, which distribution header packages (Debian's among them) do not
ship. So when the built .ko has no .BTF, it is added here the way Kbuild would:
`pahole -J --btf_base /sys/kernel/btf/vmlinux`, then the headers' own
`resolve_btfids` fills the module's BTF id sets (the kfunc set) against it.
"""

import ctypes
import errno
import os
import platform
import re
import shutil
import struct
import subprocess

VMLINUX_BTF = "/sys/kernel/btf/vmlinux"
ENV_BLOCKS = "environment-blocks"
KERNEL_LACKS = "kernel-lacks"

# finit_module / delete_module syscall numbers (generic table on arm64/riscv64).
_SYSCALLS = {
    "x86_64": {"finit_module": 313, "delete_module": 176},
    "aarch64": {"finit_module": 273, "delete_module": 106},
    "riscv64": {"finit_module": 273, "delete_module": 106},
}
O_NONBLOCK = os.O_NONBLOCK


class Unavailable(Exception):
    """The target cannot build or load the module; carries a skip reason."""

    def __init__(self, reason_class, sentence):
        self.reason_class = reason_class
        self.sentence = sentence
        Exception.__init__(self, sentence)


class ModuleError(Exception):
    """Building or loading failed for a reason that is not a missing precondition."""

    def __init__(self, sentence, output=""):
        self.sentence = sentence
        self.output = output
        Exception.__init__(self, sentence)


def _read(path):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _which(name, extra=()):
    for d in list(extra) + os.environ.get("PATH", "/usr/bin:/bin").split(":") + \
            ["/usr/sbin", "/sbin"]:
        p = os.path.join(d, name)
        if d and os.path.isfile(p) and os.access(p, os.X_OK):
            return p
    return None


def load_blockers(root="/"):
    """None when an unsigned test module may load, else (reason_class, sentence)."""
    def at(p):
        return os.path.join(root, p.lstrip("/"))
    if not os.path.exists(at("/proc/modules")):
        return (KERNEL_LACKS, "the kernel has no loadable module support (no /proc/modules; "
                "CONFIG_MODULES is off)")
    if _read(at("/proc/sys/kernel/modules_disabled")) == "1":
        return (ENV_BLOCKS, "module loading is disabled (kernel.modules_disabled=1)")
    if _read(at("/sys/module/module/parameters/sig_enforce")) in ("Y", "1"):
        return (ENV_BLOCKS, "module signatures are enforced (module.sig_enforce=Y); the "
                "test module is built on the target and unsigned")
    lockdown = _read(at("/sys/kernel/security/lockdown")) or ""
    m = re.search(r"\[(\w+)\]", lockdown)
    if m and m.group(1) != "none":
        return (ENV_BLOCKS, "kernel lockdown is '%s' (/sys/kernel/security/lockdown): "
                "unsigned modules cannot load" % m.group(1))
    if not os.path.exists(at(VMLINUX_BTF)):
        return (KERNEL_LACKS, "the kernel has no BTF (%s); module BTF needs it as base"
                % VMLINUX_BTF)
    return None


# What to install, by distro family: (Debian/Ubuntu, openEuler and other rpm distros).
PACKAGES = {
    "headers": ("linux-headers-%s", "kernel-devel-%s"),
    "pahole": ("dwarves", "dwarves"),
    "bpftool": ("bpftool", "bpftool"),
    "libbpf": ("libbpf1", "libbpf"),
}


def is_rpm(os_release):
    """True for openEuler and other rpm distros, from an os-release mapping."""
    ids = ("%s %s" % (os_release.get("ID", ""), os_release.get("ID_LIKE", ""))).lower()
    return any(x in ids for x in ("openeuler", "rhel", "fedora", "centos", "suse"))


def rpm_based(os_release_path="/etc/os-release"):
    """is_rpm() of this machine's os-release (without one: is there an rpm?)."""
    try:
        with open(os_release_path) as f:
            pairs = [ln.split("=", 1) for ln in f.read().splitlines() if "=" in ln]
    except OSError:
        return os.path.exists("/usr/bin/rpm")
    return is_rpm(dict((k, v.strip().strip('"')) for k, v in pairs))


def package_hint(what, release=None, rpm=None):
    """'install it: dnf install kernel-devel-6.6.0-72...' or the apt equivalent."""
    deb, rpmname = PACKAGES[what]
    if rpm is None:
        rpm = rpm_based()
    name = rpmname if rpm else deb
    if "%s" in name:
        name = name % (release or platform.release())
    return "install it: %s install %s" % ("dnf" if rpm else "apt", name)


def build_dir(release=None):
    """/lib/modules/<release>/build when it holds a configured tree; else Unavailable."""
    release = release or platform.release()
    # Debian links /lib/modules/<r>/build to its headers; openEuler's kernel-devel
    # installs /usr/src/kernels/<r> (the link may be missing in a container).
    cands = ["/lib/modules/%s/build" % release, "/usr/src/kernels/%s" % release]
    kdir = next((d for d in cands if os.path.isfile(os.path.join(d, "Makefile"))), None)
    if kdir is None:
        raise Unavailable(ENV_BLOCKS, "no kernel headers for %s (%s/Makefile missing; %s)"
                          % (release, cands[0], package_hint("headers", release)))
    for tool in ("make", "gcc"):
        if not _which(tool):
            raise Unavailable(ENV_BLOCKS, "%s is not installed on the target; it is needed "
                              "to build the test module" % tool)
    return kdir


def elf_sections(path):
    """Section names of an ELF64 little-endian file."""
    with open(path, "rb") as f:
        elf = f.read()
    if elf[:4] != b"\x7fELF" or elf[4] != 2 or elf[5] != 1:
        raise ModuleError("%s is not a little-endian ELF64 file" % path)
    shoff, = struct.unpack_from("<Q", elf, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", elf, 0x3A)
    heads = [struct.unpack_from("<IIQQQQ", elf, shoff + i * shentsize) for i in range(shnum)]
    stroff = heads[shstrndx][4]
    names = []
    for h in heads:
        end = elf.index(b"\0", stroff + h[0])
        names.append(elf[stroff + h[0]:end].decode("ascii", "replace"))
    return names


def _run(argv, cwd=None, timeout=600, env=None):
    try:
        p = subprocess.run(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           timeout=timeout, env=env)
    except subprocess.TimeoutExpired:
        raise ModuleError("%s timed out after %ds" % (argv[0], timeout)) from None
    except OSError as e:
        raise ModuleError("cannot run %s: %s" % (argv[0], e)) from None
    return p.returncode, p.stdout.decode("utf-8", "replace")


def build(src_dir, kdir, timeout=600):
    """`make -C kdir M=src_dir modules`; returns (path of the single .ko, build log)."""
    jobs = str(max(1, min(4, os.cpu_count() or 1)))
    rc, out = _run(["make", "-C", kdir, "M=" + src_dir, "-j" + jobs, "modules"],
                   cwd=src_dir, timeout=timeout)
    if rc != 0:
        raise ModuleError("building the test module failed (make exit %d)" % rc, out)
    kos = sorted(f for f in os.listdir(src_dir) if f.endswith(".ko"))
    if len(kos) != 1:
        raise ModuleError("expected one .ko in %s, found %s" % (src_dir, kos or "none"), out)
    return os.path.join(src_dir, kos[0]), out


def btf_precheck(kdir):
    """Before a (slow) build: Unavailable when the module could not get BTF anyway.
    Kbuild adds it when the tree has vmlinux (Debian ships one since 6.12); else
    pahole and the tree's resolve_btfids must do it (see ensure_btf)."""
    if os.path.isfile(os.path.join(kdir, "vmlinux")):
        return
    if not _which("pahole"):
        raise Unavailable(ENV_BLOCKS, "the headers tree %s has no vmlinux, so Kbuild writes no "
                          "module BTF, and pahole is not installed to add it (%s)"
                          % (kdir, package_hint("pahole")))
    resolver = os.path.join(kdir, "tools/bpf/resolve_btfids/resolve_btfids")
    if not os.access(resolver, os.X_OK):
        raise Unavailable(ENV_BLOCKS, "the headers tree %s has neither vmlinux nor "
                          "tools/bpf/resolve_btfids, so the module's kfunc id set cannot be "
                          "resolved against the kernel's BTF" % kdir)


def ensure_btf(ko, kdir, timeout=300):
    """Give `ko` a .BTF section (split on the running kernel's BTF) with resolved
    BTF id sets. Returns a log line of what was done."""
    if ".BTF" in elf_sections(ko):
        return "Kbuild wrote the module's .BTF"
    pahole = _which("pahole")
    if not pahole:
        raise Unavailable(ENV_BLOCKS, "the headers tree has no vmlinux, so Kbuild wrote no "
                          "module BTF, and pahole is not installed to add it (%s)"
                          % package_hint("pahole"))
    resolver = os.path.join(kdir, "tools/bpf/resolve_btfids/resolve_btfids")
    if not os.access(resolver, os.X_OK):
        raise Unavailable(ENV_BLOCKS, "the headers tree has neither vmlinux nor "
                          "tools/bpf/resolve_btfids (%s), so the module's kfunc id set "
                          "cannot be resolved against the kernel's BTF" % kdir)
    env = dict(os.environ)
    env.setdefault("LLVM_OBJCOPY", _which("objcopy") or "objcopy")  # older pahole shells out
    rc, out = _run([pahole, "-J", "--btf_base", VMLINUX_BTF, ko], timeout=timeout, env=env)
    if rc != 0 or ".BTF" not in elf_sections(ko):
        raise ModuleError("pahole -J --btf_base %s %s failed (exit %d)" % (VMLINUX_BTF, ko, rc),
                          out)
    rc2, out2 = _run([resolver, "-b", VMLINUX_BTF, ko], timeout=timeout)
    if rc2 != 0:
        raise ModuleError("resolve_btfids -b %s failed (exit %d)" % (VMLINUX_BTF, rc2), out2)
    return "added .BTF with %s and resolved ids with %s" % (pahole, resolver)


def module_name(ko):
    return os.path.basename(ko)[:-3].replace("-", "_")


def loaded(name, root="/"):
    return os.path.isdir(os.path.join(root, "sys/module", name))


def _syscall(name):
    nums = _SYSCALLS.get(platform.machine())
    if nums is None:
        raise Unavailable(ENV_BLOCKS, "no syscall numbers known for %s" % platform.machine())
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    return libc.syscall, nums[name]


def insmod(ko, params=""):
    """finit_module(2) of `ko`; returns its module name. A refusal that means
    "this target does not take unsigned modules" is Unavailable."""
    name = module_name(ko)
    call, nr = _syscall("finit_module")
    fd = os.open(ko, os.O_RDONLY | os.O_CLOEXEC)
    try:
        ctypes.set_errno(0)
        rc = call(ctypes.c_long(nr), ctypes.c_int(fd), ctypes.c_char_p(params.encode()),
                  ctypes.c_int(0))
        err = ctypes.get_errno()
    finally:
        os.close(fd)
    if rc == 0:
        return name
    text = "%s (%s)" % (errno.errorcode.get(err, str(err)), os.strerror(err))
    if err == errno.EKEYREJECTED or err == errno.ENOKEY:
        raise Unavailable(ENV_BLOCKS, "the kernel refuses the unsigned test module: %s" % text)
    if err == errno.EPERM:
        raise Unavailable(ENV_BLOCKS, "loading the test module is not permitted here: %s"
                          % text)
    raise ModuleError("finit_module(%s) failed: %s" % (os.path.basename(ko), text))


def rmmod(name):
    """delete_module(2), non-blocking; a module that is already gone is fine."""
    call, nr = _syscall("delete_module")
    ctypes.set_errno(0)
    rc = call(ctypes.c_long(nr), ctypes.c_char_p(name.encode()), ctypes.c_int(O_NONBLOCK))
    err = ctypes.get_errno()
    if rc != 0 and err != errno.ENOENT:
        raise ModuleError("delete_module(%s) failed: %s" % (name, os.strerror(err)))


def copy_sources(files_dir, subdir, dest):
    """Copy a module's sources (a CASE["files"] subdirectory) to a fresh build dir."""
    src = os.path.join(files_dir, subdir)
    if not os.path.isdir(src):
        raise ModuleError("module sources %s are not among the case's files" % subdir)
    shutil.copytree(src, dest)
    return dest
