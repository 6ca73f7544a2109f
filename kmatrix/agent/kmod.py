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
import hashlib
import os
import platform
import re
import shutil
import struct
import subprocess

from .reasons import ENVIRONMENT_BLOCKS, KERNEL_LACKS

VMLINUX_BTF = "/sys/kernel/btf/vmlinux"

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

    def __init__(self, sentence, output="", err=None):
        self.sentence = sentence
        self.output = output
        self.errno = err  # finit_module's errno, when the kernel refused the module
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
        return (ENVIRONMENT_BLOCKS, "module loading is disabled (kernel.modules_disabled=1)")
    if _read(at("/sys/module/module/parameters/sig_enforce")) in ("Y", "1"):
        return (ENVIRONMENT_BLOCKS, "module signatures are enforced (module.sig_enforce=Y); the "
                "test module is built on the target and unsigned")
    lockdown = _read(at("/sys/kernel/security/lockdown")) or ""
    m = re.search(r"\[(\w+)\]", lockdown)
    if m and m.group(1) != "none":
        return (ENVIRONMENT_BLOCKS, "kernel lockdown is '%s' (/sys/kernel/security/lockdown): "
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
        raise Unavailable(ENVIRONMENT_BLOCKS, "no kernel headers for %s (%s/Makefile missing; %s)"
                          % (release, cands[0], package_hint("headers", release)))
    for tool in ("make", "gcc"):
        if not _which(tool):
            raise Unavailable(ENVIRONMENT_BLOCKS, "%s is not installed on the target; it is needed "
                              "to build the test module" % tool)
    return kdir


def _elf_table(elf, what):
    """[(name, offset, size)] of the sections of an ELF64 little-endian image."""
    if elf[:4] != b"\x7fELF" or len(elf) < 0x40 or elf[4] != 2 or elf[5] != 1:
        raise ModuleError("%s is not a little-endian ELF64 file" % what)
    try:
        shoff, = struct.unpack_from("<Q", elf, 0x28)
        shentsize, shnum, shstrndx = struct.unpack_from("<HHH", elf, 0x3A)
        heads = [struct.unpack_from("<IIQQQQ", elf, shoff + i * shentsize)
                 for i in range(shnum)]
        stroff = heads[shstrndx][4]
        out = []
        for h in heads:
            end = elf.index(b"\0", stroff + h[0])
            out.append((elf[stroff + h[0]:end].decode("ascii", "replace"), h[4], h[5]))
    except (struct.error, IndexError, ValueError):
        raise ModuleError("%s has a truncated ELF section table" % what) from None
    return out


def elf_sections(path):
    """Section names of an ELF64 little-endian file."""
    with open(path, "rb") as f:
        elf = f.read()
    return [name for name, _, _ in _elf_table(elf, path)]


def modinfo_name(data, what="module"):
    """The module name (`name=` of .modinfo, what modpost writes) of a .ko image."""
    for name, off, size in _elf_table(data, what):
        if name == ".modinfo":
            for item in data[off:off + size].split(b"\0"):
                if item.startswith(b"name="):
                    return item[5:].decode("ascii", "replace")
    return None


# -- the module cache (kmatrix/kmod_cache.py on the controller imports this too) --------

# Bumped when the way a module is built changes (flags, BTF steps, stripping), so a
# cached .ko from an older recipe is never shipped again.
KEY_RECIPE = "kmatrix-kmod-1"
KEY_RE = re.compile(r"[0-9a-f]{64}\Z")
MODNAME_RE = re.compile(r"[A-Za-z0-9_]{1,56}\Z")
# The controller drops event lines longer than this (kmatrix.runner.MAX_EVENT_LINE).
MAX_EVENT_LINE = 1 << 20
# Room left in an event line for everything but the base64 of the .ko.
_EVENT_OVERHEAD = 512
MAX_KO_BYTES = (MAX_EVENT_LINE - _EVENT_OVERHEAD) // 4 * 3


def module_sources(files, subdir):
    """{path under subdir: bytes} of a CASE["files"] mapping (path -> bytes)."""
    prefix = subdir.strip("/") + "/"
    return dict((rel[len(prefix):], data) for rel, data in files.items()
                if rel.startswith(prefix))


def module_key(sources, release, version, machine):
    """The cache key of a module: sha256 (hex) of its sources ({path: bytes}, paths
    relative to the module's directory), the kernel's release, `uname -v` and machine,
    and the build recipe. The agent keys the sources it has, the controller the
    sources it ships: one function, so both agree."""
    h = hashlib.sha256()
    h.update(KEY_RECIPE.encode() + b"\0")
    for rel in sorted(sources):
        data = sources[rel]
        h.update(b"F\0%s\0%d\0" % (rel.encode("utf-8"), len(data)))
        h.update(data)
    for part in (release, version, machine):
        h.update(b"U\0%s\0" % (part or "").encode("utf-8"))
    return h.hexdigest()


def check_module_image(data, what="module"):
    """None when `data` looks like a .ko the cache may keep (ELF64 LE, a .modinfo
    name, .BTF), else a sentence saying what is wrong."""
    if len(data) > MAX_KO_BYTES:
        return "%s is %d bytes, over the %d-byte limit of an event line" % (
            what, len(data), MAX_KO_BYTES)
    try:
        names = [name for name, _, _ in _elf_table(data, what)]
        modname = modinfo_name(data, what)
    except ModuleError as e:
        return e.sentence
    if ".BTF" not in names:
        return "%s has no .BTF section" % what
    if modname is None or not MODNAME_RE.match(modname):
        return "%s has no valid module name in .modinfo" % what
    return None


def strip_debug(ko, out):
    """`objcopy --strip-debug ko out` (what INSTALL_MOD_STRIP=1 does: .BTF, .symtab and
    relocations stay). Returns `out`, or None when objcopy is missing, fails, or the
    result lost what loading needs."""
    objcopy = _which("objcopy")
    if not objcopy:
        return None
    try:
        rc, _ = _run([objcopy, "--strip-debug", ko, out], timeout=300)
    except ModuleError:
        return None
    if rc != 0 or not os.path.isfile(out):
        return None
    with open(out, "rb") as f:
        data = f.read()
    if check_module_image(data, out) is not None:
        return None
    names = [name for name, _, _ in _elf_table(data, out)]
    if ".symtab" not in names or ".gnu.linkonce.this_module" not in names:
        return None
    return out


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
        raise Unavailable(ENVIRONMENT_BLOCKS, "the headers tree %s has no vmlinux, so Kbuild writes no "
                          "module BTF, and pahole is not installed to add it (%s)"
                          % (kdir, package_hint("pahole")))
    resolver = os.path.join(kdir, "tools/bpf/resolve_btfids/resolve_btfids")
    if not os.access(resolver, os.X_OK):
        raise Unavailable(ENVIRONMENT_BLOCKS, "the headers tree %s has neither vmlinux nor "
                          "tools/bpf/resolve_btfids, so the module's kfunc id set cannot be "
                          "resolved against the kernel's BTF" % kdir)


def ensure_btf(ko, kdir, timeout=300):
    """Give `ko` a .BTF section (split on the running kernel's BTF) with resolved
    BTF id sets. Returns a log line of what was done."""
    if ".BTF" in elf_sections(ko):
        return "Kbuild wrote the module's .BTF"
    pahole = _which("pahole")
    if not pahole:
        raise Unavailable(ENVIRONMENT_BLOCKS, "the headers tree has no vmlinux, so Kbuild wrote no "
                          "module BTF, and pahole is not installed to add it (%s)"
                          % package_hint("pahole"))
    resolver = os.path.join(kdir, "tools/bpf/resolve_btfids/resolve_btfids")
    if not os.access(resolver, os.X_OK):
        raise Unavailable(ENVIRONMENT_BLOCKS, "the headers tree has neither vmlinux nor "
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


def module_btf_loaded(name, root="/"):
    """True once the kernel accepted the module's BTF (/sys/kernel/btf/<name>)."""
    return os.path.exists(os.path.join(root, "sys/kernel/btf", name))


def _syscall(name):
    nums = _SYSCALLS.get(platform.machine())
    if nums is None:
        raise Unavailable(ENVIRONMENT_BLOCKS, "no syscall numbers known for %s" % platform.machine())
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
        raise Unavailable(ENVIRONMENT_BLOCKS, "the kernel refuses the unsigned test module: %s" % text)
    if err == errno.EPERM:
        raise Unavailable(ENVIRONMENT_BLOCKS, "loading the test module is not permitted here: %s"
                          % text)
    raise ModuleError("finit_module(%s) failed: %s" % (os.path.basename(ko), text), err=err)


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
