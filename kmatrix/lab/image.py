"""Build (or reuse) a bootable Debian guest image for the QEMU lab.

An image is a directory ``<cache>/<arch>-<suite>-<hash12>/`` holding:

- ``vmlinuz``      the Debian kernel (from the suite's linux-image-<arch> .debs)
- ``initrd.gz``    a tiny busybox initramfs that insmods virtio/ext4 and mounts /dev/vda
- ``disk.img``     raw ext4 root filesystem (mmdebstrap) with that kernel's modules
- ``client_key``   ed25519 key whose public half is root's authorized_keys in the guest
- ``host_key.pub`` the guest's ssh host key, generated here, so SSH is verified strictly
- ``manifest.json`` suite, arch, installed packages + versions, sha256 of the artefacts

Builds run in a temporary sibling directory that is renamed into place only when
complete, under a file lock, so an interrupted or concurrent run never sees a half
image. The hash in the directory name covers every input (suite, arch, packages,
mirror, builder version): changing any of them builds a new image.
"""

from __future__ import annotations

import atexit
import contextlib
import fcntl
import gzip
import hashlib
import io
import json
import lzma
import os
import re
import shlex
import shutil
import stat
import subprocess
import tarfile
import tempfile
import threading
import time
from collections.abc import Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional
from urllib.parse import unquote

from kmatrix import archs
from kmatrix.errors import LabError
from kmatrix.fileutil import sha256_file

# Bump when the build recipe changes in a way that changes the image.
BUILDER_VERSION = "2"

DEFAULT_MIRROR = "http://deb.debian.org/debian"
SECURITY_MIRROR = "http://deb.debian.org/debian-security"
# Suites that have -updates and -security archives worth pulling fixes from.
_STABLE_SUITES = {"bullseye", "bookworm", "trixie"}
# Official Debian riscv64 starts with trixie.
_NO_RISCV64 = {"buster", "bullseye", "bookworm"}

DEFAULT_PACKAGES = [
    "openssh-server",
    "python3-minimal",
    "libbpf1",
    "iproute2",
    "bpftool",
    "kmod",
    "mount",
    "procps",
    "linux-perf",
]
# What an out-of-tree module build in the guest needs (the kfunc-module case):
# compiler, make, headers matching the guest kernel, and pahole for module BTF.
# Only x86_64 gets it by default: there it installs natively in seconds, while
# under qemu-user (foreign arches) gcc's maintainer scripts cost minutes.
MODULE_BUILD_PACKAGES = ["gcc", "make", "linux-headers", "dwarves"]
ARCH_DEFAULT_PACKAGES = {"x86_64": MODULE_BUILD_PACKAGES}
# Pseudo-package: the headers metapackage of the kernel flavour the image boots,
# e.g. linux-headers-amd64; resolved in the same apt run as the kernel, so the
# versions match (checked after the build).
HEADERS_PSEUDO = "linux-headers"

# Packages named differently per suite: a name -> the suite's package(s). Applied to
# the defaults and to qemu.packages, so part of the cache key. bullseye ships libbpf
# 0.3 as libbpf0 (libbpf.so.0, which the agent binds too), and its linux-perf has
# only perf_5.10: the `perf` wrapper is in linux-base. bpftool, dwarves and
# python3-minimal (3.9) keep their names there.
SUITE_RENAMES: dict[str, dict[str, list[str]]] = {
    "bullseye": {"libbpf1": ["libbpf0"], "linux-perf": ["linux-perf", "linux-base"]},
}

# trixie's riscv64 Packages.xz was served with a wrong size by the mirror; forky works.
DEFAULT_SUITES = {"x86_64": "bookworm", "aarch64": "bookworm", "riscv64": "forky"}
CONSOLES = {"x86_64": "ttyS0", "aarch64": "ttyAMA0", "riscv64": "ttyS0"}
# qemu-user-static binfmt entry names, for building foreign-arch rootfs.
_BINFMT_NAMES = {"x86_64": "qemu-x86_64", "aarch64": "qemu-aarch64", "riscv64": "qemu-riscv64"}

# Free space left in the guest root: the agent's workdir, a module build and perf
# data fit easily. Kept modest because every byte of disk.img is hashed into the
# manifest (sparse zeros too), which costs seconds per GiB on a loaded 2-core CI box.
DISK_HEADROOM_BYTES = 1 << 30
FILES_DIR = Path(__file__).resolve().parent / "files"
# Modules the initramfs needs to reach the root disk (dependencies are added).
_INITRAMFS_MODULES = ["virtio_pci", "virtio_mmio", "virtio_blk", "crc32c", "ext4"]

# mmdebstrap/apt output that means the mirror, not kmatrix, is broken.
_MIRROR_ERRORS = [
    "Hash Sum mismatch",
    "File has unexpected size",
    "is not valid yet",
    "does not have a Release file",
    "NO_PUBKEY",
    "Temporary failure resolving",
    "Could not connect to",
    "Failed to fetch",
]
_PROGRESS_EVERY = 10.0
# Builds are CPU-heavy (qemu-user for foreign maintainer scripts, mkfs, depmod): when
# a run boots many lab hosts at once, build at most this many images at a time.
def _build_jobs() -> int:
    env = os.environ.get("KMATRIX_LAB_BUILD_JOBS", "")
    if env.isdigit() and int(env) > 0:
        return int(env)
    return min(2, os.cpu_count() or 1)


_BUILD_SLOTS = threading.BoundedSemaphore(_build_jobs())

Progress = Callable[[str], None]


@dataclass
class Image:
    """A bootable guest: what lab/qemu.py needs to start it and SSH into it."""

    arch: str
    suite: str
    kernel: Optional[Path]
    initrd: Optional[Path]
    disk: Path
    kernel_release: str
    manifest: Optional[Path]
    client_key: Optional[Path]
    host_key_pub: Optional[Path]
    console: str
    disk_format: str = "raw"
    append: str = ""  # extra kernel command line (user-supplied images)
    firmware: Optional[Path] = None  # -bios FILE (user images booting via UEFI/U-Boot)
    user_supplied: bool = False
    directory: Optional[Path] = None
    packages: dict[str, str] = field(default_factory=dict, repr=False)

    def host_key(self) -> str:
        """The guest host key as ``TYPE BASE64`` (no comment), for known_hosts."""
        if self.host_key_pub is None:
            raise LabError(
                f"{self.arch} image {self.disk}: no guest host public key; set image.host_key_pub "
                "or give known_hosts in the host entry"
            )
        return parse_public_key(self.host_key_pub.read_text(), str(self.host_key_pub))


def parse_public_key(text: str, where: str) -> str:
    parts = text.strip().split()
    if len(parts) < 2 or not parts[0].startswith(("ssh-", "ecdsa-", "sk-")):
        raise LabError(f"{where}: not an OpenSSH public key")
    return f"{parts[0]} {parts[1]}"


# ---------------------------------------------------------------- inputs and keys


def default_cache_dir() -> Path:
    """``$KMATRIX_CACHE/images``, else ``${XDG_CACHE_HOME:-~/.cache}/kmatrix/images``
    (the same root the CLI uses for its other caches)."""
    root = os.environ.get("KMATRIX_CACHE")
    if root:
        return Path(root).expanduser() / "images"
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "kmatrix" / "images"


def default_suite(arch: str) -> str:
    return DEFAULT_SUITES[archs.normalize(arch)]


def suggest_suite(arch: str, broken: str) -> str:
    """Another suite to try when ``broken`` fails on the mirror (no bookworm riscv64)."""
    cands = [default_suite(arch), "trixie", "forky", "bookworm"]
    return next(c for c in cands if c != broken and not (arch == "riscv64" and c == "bookworm"))


def spec_suite(arch: str, spec: Any) -> str:
    suite = getattr(spec, "suite", None)
    return str(suite) if suite else default_suite(arch)


def suite_packages(suite: Optional[str], name: str) -> list[str]:
    """``name`` as the suite calls it (SUITE_RENAMES), e.g. libbpf1 -> [libbpf0] on bullseye."""
    return SUITE_RENAMES.get(suite or "", {}).get(name, [name])


def package_list(spec: Any, arch: Optional[str] = None) -> list[str]:
    """Default packages (plus the arch's extras) plus ``spec.packages``, named as the
    suite names them (SUITE_RENAMES; the suite is spec.suite, else the arch's default);
    an entry ``-NAME`` drops a default under either name (e.g. ``-linux-perf`` for a
    suite where it does not install). ``linux-headers`` stays a pseudo-name here; see
    resolve_packages."""
    suite = getattr(spec, "suite", None) or (default_suite(arch) if arch is not None else None)
    pkgs = list(DEFAULT_PACKAGES)
    if arch is not None:
        pkgs += [p for p in ARCH_DEFAULT_PACKAGES.get(archs.normalize(arch), []) if p not in pkgs]
    pkgs = list(dict.fromkeys(n for p in pkgs for n in suite_packages(suite, p)))
    for p in getattr(spec, "packages", None) or []:
        p = str(p).strip()
        if p.startswith("-"):
            drop = set(suite_packages(suite, p[1:]))
            pkgs = [x for x in pkgs if x not in drop]
        elif p:
            pkgs += [n for n in suite_packages(suite, p) if n not in pkgs]
    return pkgs


def resolve_packages(arch: str, packages: list[str]) -> list[str]:
    """Debian package names for mmdebstrap: ``linux-headers`` becomes the headers
    metapackage of the arch's kernel flavour (linux-headers-amd64, -arm64, -riscv64)."""
    deb = archs.info(arch).debian
    return [f"linux-headers-{deb}" if p == HEADERS_PSEUDO else p for p in packages]


def cache_key(arch: str, suite: str, packages: list[str], mirror: Optional[str]) -> str:
    """sha256 over every input that changes the built image (package order ignored)."""
    doc = {
        "arch": archs.normalize(arch),
        "suite": suite,
        "packages": sorted(set(packages)),
        "mirror": mirror or DEFAULT_MIRROR,
        "builder": BUILDER_VERSION,
    }
    return hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()


def image_name(arch: str, spec: Any) -> str:
    arch = archs.normalize(arch)
    suite = spec_suite(arch, spec)
    key = cache_key(arch, suite, package_list(spec, arch), getattr(spec, "mirror", None))
    return f"{arch}-{suite}-{key[:12]}"


def pool_names(suite: str, mirror: Optional[str]) -> list[str]:
    """The archives an image pulls from: the suite, plus -updates and -security for
    stable suites on the default mirror (a custom mirror may not carry them)."""
    if mirror is None and suite in _STABLE_SUITES:
        return [suite, f"{suite}-updates", f"{suite}-security"]
    return [suite]


def mirror_lines(suite: str, mirror: Optional[str], drop: Collection[str] = ()) -> list[str]:
    """One-line sources for mmdebstrap (see pool_names), without the pools in ``drop``."""
    base = mirror or DEFAULT_MIRROR
    return [
        f"deb {SECURITY_MIRROR if p.endswith('-security') else base} {p} main"
        for p in pool_names(suite, mirror) if p not in drop
    ]


# apt's per-file error: "Err:4 http://deb.debian.org/debian-security bullseye-security/main
# arm64 libc6 arm64 2.31-13+deb11u14", then "  404  Not Found [IP: ...]" on the next line.
_APT_ERR = re.compile(r"^Err:\d+ \S+ (\S+?)/\S+ \S+ (\S+)(?: \S+ (\S+))?")
# "E: Failed to fetch URL  404  Not Found [IP: ...]" (also for a pool's index files)
_APT_FETCH = re.compile(r"^[EW]: Failed to fetch (\S+)\s+(.*?)\s*(?:\[IP:.*)?$")


def broken_pools(log: str, suite: str) -> dict[str, str]:
    """The -updates/-security pools of ``suite`` that apt failed to fetch from, per
    mmdebstrap's log, each with a short reason ("404 Not Found for libc6 2.31-13").
    The main suite never counts: without it there is no image."""
    extra = {f"{suite}-updates", f"{suite}-security"}
    out: dict[str, str] = {}
    lines = log.splitlines()
    for i, line in enumerate(lines):
        m = _APT_ERR.match(line)
        if m and m.group(1) in extra:
            why = " ".join(lines[i + 1].split("[IP:")[0].split()) if i + 1 < len(lines) else ""
            what = " ".join(x for x in (m.group(2), m.group(3)) if x)
            out.setdefault(m.group(1), f"{why or 'error'} for {what}")
            continue
        m = _APT_FETCH.match(line)
        if m:
            url, why = m.group(1), " ".join(m.group(2).split())
            pool = next((p for p in extra if f"/dists/{p}/" in url), None)
            if pool is None and url.startswith(SECURITY_MIRROR + "/"):
                pool = f"{suite}-security"  # its pool/ paths do not name the suite
            if pool is not None:
                out.setdefault(pool, f"{why or 'error'} for {unquote(url.rsplit('/', 1)[-1])}")
    return out


# ---------------------------------------------------------------- public entry


def ensure_image(
    arch: str, spec: Any, cache_dir: Optional[Path] = None, progress: Optional[Progress] = None,
    cancel: Optional[threading.Event] = None,
) -> Image:
    """Return a ready image for ``arch``/``spec``: the user's own (``spec.image``),
    a cached build, or a fresh build (minutes; reported through ``progress``).
    Setting ``cancel`` (the runner's Ctrl-C event) abandons a wait or a build
    within about a second with LabError; nothing half-built is left behind."""
    arch = archs.normalize(arch)
    say: Progress = progress or (lambda _m: None)
    if getattr(spec, "image", None):
        return user_image(arch, spec)
    cache_dir = Path(cache_dir) if cache_dir is not None else default_cache_dir()
    cache_dir.mkdir(parents=True, exist_ok=True)
    name = image_name(arch, spec)
    final = cache_dir / name
    img = _load_complete(final)
    if img is not None:
        say(f"image {name}: cached ({img.kernel_release})")
        return img
    with _file_lock(cache_dir / f".{name}.lock", name, say, cancel):
        img = _load_complete(final)  # another process may have finished it meanwhile
        if img is not None:
            say(f"image {name}: built by another run ({img.kernel_release})")
            return img
        for stale in cache_dir.glob(f".{name}.tmp.*"):
            say(f"image {name}: removing interrupted build {stale.name}")
            safe_rmtree(stale)
        if not _BUILD_SLOTS.acquire(blocking=False):
            say(f"image {name}: waiting for a build slot (other images are building)")
            while not _BUILD_SLOTS.acquire(timeout=1.0):
                _check_cancel(cancel, name)
        try:
            tmp = Path(tempfile.mkdtemp(prefix=f".{name}.tmp.", dir=cache_dir))
            failed_log = cache_dir / f"{name}.failed.log"
            try:
                builder = _Builder(arch, spec, tmp, say, cancel)
                builder.failed_log = failed_log
                builder.build()
                os.chmod(tmp, 0o755)  # mkdtemp made it 0700; client_key itself stays 0600
                os.rename(tmp, final)
                with contextlib.suppress(OSError):
                    failed_log.unlink()
            except BaseException:
                # keep the build log for the user; the half-built tree goes
                with contextlib.suppress(OSError):
                    shutil.copyfile(tmp / "build.log", failed_log)
                safe_rmtree(tmp, missing_ok=True)
                raise
        finally:
            _BUILD_SLOTS.release()
    img = _load_complete(final)
    if img is None:
        raise LabError(f"image {name}: build finished but {final} is incomplete")
    return img


def load_image(directory: Path) -> Image:
    """Open a built image directory (the manifest is the completeness marker)."""
    img = _load_complete(Path(directory))
    if img is None:
        raise LabError(f"{directory}: not a complete kmatrix lab image (no manifest.json)")
    return img


def _load_complete(d: Path) -> Optional[Image]:
    mf = d / "manifest.json"
    try:
        doc = json.loads(mf.read_text())
    except (OSError, ValueError):
        return None
    files = [d / "vmlinuz", d / "initrd.gz", d / "disk.img", d / "client_key", d / "host_key.pub"]
    if not all(p.is_file() for p in files):
        return None
    return Image(
        arch=doc["arch"],
        suite=doc["suite"],
        kernel=d / "vmlinuz",
        initrd=d / "initrd.gz",
        disk=d / "disk.img",
        kernel_release=doc["kernel_release"],
        manifest=mf,
        client_key=d / "client_key",
        host_key_pub=d / "host_key.pub",
        console=doc.get("console") or CONSOLES[doc["arch"]],
        directory=d,
        packages={p["name"]: p["version"] for p in doc.get("packages", [])},
    )


def user_image(arch: str, spec: Any) -> Image:
    """An image the user supplies (``spec.image``): disk, kernel, initrd, append,
    optional format, host_key_pub (path or literal key) and client_key."""
    arch = archs.normalize(arch)
    conf: dict[str, Any] = dict(spec.image)

    def path(key: str, required: bool) -> Optional[Path]:
        v = conf.get(key)
        if not v:
            if required:
                raise LabError(f"{arch} user image: image.{key} is required")
            return None
        p = Path(str(v)).expanduser().resolve()
        if not p.is_file():
            raise LabError(f"{arch} user image: image.{key}: {p} does not exist")
        return p

    disk = path("disk", True)
    assert disk is not None
    # Without -kernel a disk boots only through firmware: SeaBIOS on x86_64, or a
    # firmware file the user gives (e.g. QEMU_EFI.fd for openEuler's aarch64 qcow2).
    firmware = path("firmware", False)
    kernel = path("kernel", arch != "x86_64" and firmware is None)
    fmt = str(conf.get("format") or ("qcow2" if disk.suffix == ".qcow2" else "raw"))
    hk = conf.get("host_key_pub")
    host_key_pub: Optional[Path] = None
    if hk:
        s = str(hk).strip()
        if s.startswith(("ssh-", "ecdsa-", "sk-")):
            # A literal key: keep it in a file so Image has one representation.
            parse_public_key(s, f"{arch} user image: image.host_key_pub")
            fd, name = tempfile.mkstemp(prefix="kmatrix-hostkey-", suffix=".pub")
            with os.fdopen(fd, "w") as f:
                f.write(s + "\n")
            atexit.register(_unlink_quietly, name)
            host_key_pub = Path(name)
        else:
            host_key_pub = path("host_key_pub", True)
    return Image(
        arch=arch,
        suite=str(getattr(spec, "suite", "") or ""),
        kernel=kernel,
        initrd=path("initrd", False),
        disk=disk,
        kernel_release=str(conf.get("kernel_release") or ""),
        manifest=None,
        client_key=path("client_key", False),
        host_key_pub=host_key_pub,
        console=str(conf.get("console") or CONSOLES[arch]),
        disk_format=fmt,
        append=str(conf.get("append") or ""),
        firmware=firmware,
        user_supplied=True,
    )


# ---------------------------------------------------------------- helpers


def _unlink_quietly(path: str) -> None:
    with contextlib.suppress(OSError):
        os.unlink(path)


def _check_cancel(cancel: Optional[threading.Event], name: str) -> None:
    if cancel is not None and cancel.is_set():
        raise LabError(f"image {name}: build cancelled")


@contextlib.contextmanager
def _file_lock(path: Path, name: str, say: Progress,
               cancel: Optional[threading.Event] = None) -> Iterator[None]:
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say(f"image {name}: another run is building it, waiting")
            while True:
                _check_cancel(cancel, name)
                try:
                    fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    time.sleep(1.0)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _mounts_under(path: Path) -> list[str]:
    prefix = str(path.resolve())
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            mp = line.split()[4].encode().decode("unicode_escape")
            if mp == prefix or mp.startswith(prefix + "/"):
                out.append(mp)
    return out


def safe_rmtree(path: Path, missing_ok: bool = False) -> None:
    """rmtree that first unmounts anything an interrupted mmdebstrap left mounted
    inside (proc, sys, dev binds) and refuses to delete through a mount point."""
    if not path.exists():
        if missing_ok:
            return
        raise FileNotFoundError(path)
    for mp in sorted(_mounts_under(path), key=len, reverse=True):
        subprocess.run(["umount", "-l", mp], capture_output=True)
    left = _mounts_under(path)
    if left:
        raise LabError(f"cannot remove {path}: still mounted: {', '.join(left)}")
    shutil.rmtree(path)


def _run(argv: list[str], what: str, **kw: Any) -> subprocess.CompletedProcess[str]:
    try:
        res = subprocess.run(argv, capture_output=True, text=True, **kw)
    except FileNotFoundError:
        raise LabError(f"{what}: {argv[0]} not found (install it on the controller)") from None
    if res.returncode != 0:
        tail = " ".join((res.stderr or res.stdout).strip().splitlines()[-3:])
        raise LabError(f"{what} failed (exit {res.returncode}): {tail}")
    return res


def disk_size(used: int) -> int:
    """ext4 image size for a rootfs of ``used`` bytes: content plus 20% (ext4
    metadata, journal) plus fixed headroom, rounded up to 64 MiB."""
    size = used + used // 5 + DISK_HEADROOM_BYTES
    return -(-size // (64 << 20)) * (64 << 20)


def _du_bytes(path: Path) -> int:
    total = 0
    for root, _dirs, files in os.walk(path):
        for n in files:
            with contextlib.suppress(OSError):
                total += os.lstat(os.path.join(root, n)).st_blocks * 512
    return total


def ensure_binfmt(arch: str, say: Progress) -> None:
    """Foreign-arch maintainer scripts run through qemu-user-static via binfmt_misc."""
    arch = archs.normalize(arch)
    if arch == os.uname().machine or arch not in _BINFMT_NAMES:
        return
    bdir = Path("/proc/sys/fs/binfmt_misc")
    if not (bdir / "status").exists():
        say("mounting binfmt_misc (needed to run foreign-arch package scripts)")
        _run(["mount", "-t", "binfmt_misc", "binfmt_misc", str(bdir)], "mount binfmt_misc")
    entry = bdir / _BINFMT_NAMES[arch]
    if not entry.exists():
        say(f"registering {_BINFMT_NAMES[arch]} with binfmt_misc (qemu-user-static)")
        _run(["update-binfmts", "--enable", _BINFMT_NAMES[arch]], "update-binfmts")
    if entry.exists() and "enabled" not in entry.read_text():
        say(f"enabling binfmt_misc entry {entry.name}")
        with contextlib.suppress(OSError):
            entry.write_text("1")
    if not entry.exists() or "enabled" not in entry.read_text():
        raise LabError(
            f"{arch}: binfmt_misc entry {entry} missing or disabled; "
            "install qemu-user-static and binfmt-support"
        )


def newc_archive(entries: list[tuple[str, int, bytes, int]]) -> bytes:
    """A cpio 'newc' archive from (name, mode, data, rdev) entries; rdev is
    (major << 8 | minor) for device nodes. Deterministic: ino by order, mtime 0."""
    out = bytearray()

    def pad4() -> None:
        out.extend(b"\0" * (-len(out) % 4))

    for ino, (name, mode, data, rdev) in enumerate([*entries, ("TRAILER!!!", 0, b"", 0)], 1):
        nb = name.encode() + b"\0"
        fields = [ino, mode, 0, 0, 1, 0, len(data), 0, 0, rdev >> 8, rdev & 0xFF, len(nb), 0]
        out.extend(b"070701" + "".join(f"{v:08X}" for v in fields).encode())
        out.extend(nb)
        pad4()
        out.extend(data)
        pad4()
    return bytes(out)


def module_load_order(root: Path, kver: str, wanted: list[str]) -> list[str]:
    """Paths (relative to ``lib/modules/KVER``, as in modules.dep) of the ``wanted``
    modules of the tree under ``root`` and of what they need, each after everything
    it depends on: what ``modprobe --show-depends`` prints (hard deps, ``pre:`` soft
    deps such as ext4's crc32c, names resolved through aliases). Built-in and
    absent modules are skipped.

    kmod's modprobe reads the tree's depmod indexes (modules.*.bin), which do not
    depend on the modules' arch or compression, so the controller's runs natively
    for every guest; without one on the controller, the guest's own runs in the
    rootfs. ``-C /dev/null``: the controller's /etc/modprobe.d must not add
    install commands, options or aliases to a guest's list.
    """
    host = shutil.which("modprobe", path=os.pathsep.join(
        [os.environ.get("PATH", ""), "/usr/sbin", "/sbin"]))
    base = [host, "-d", str(root)] if host else ["chroot", str(root), "modprobe"]
    marker = f"/lib/modules/{kver}/"
    order: list[str] = []
    for name in wanted:
        p = subprocess.run([*base, "-C", "/dev/null", "-S", kver, "--show-depends", name],
                           capture_output=True, text=True)
        if p.returncode != 0:
            if "not found" in p.stderr:
                continue  # absent from this kernel: nothing to load
            raise LabError(f"modprobe --show-depends {name} for {kver}: "
                           f"{p.stderr.strip() or f'exit {p.returncode}'}")
        for line in p.stdout.splitlines():
            words = line.split()
            if words[:1] != ["insmod"] or len(words) < 2:
                continue  # "builtin NAME": nothing to load
            if marker not in words[1]:
                raise LabError(f"modprobe --show-depends {name}: {words[1]} is outside "
                               f"{marker.strip('/')}")
            rel = words[1].split(marker, 1)[1]
            if rel not in order:  # shared deps: the first place is before every user
                order.append(rel)
    return order


def host_depmod_handles(version_text: str, compressions: set[str]) -> bool:
    """Whether a depmod whose ``--version`` printed ``version_text`` reads modules
    compressed with ``compressions`` (file suffixes: xz, zst, gz)."""
    feature = {"xz": "+XZ", "zst": "+ZSTD", "gz": "+ZLIB"}
    return "kmod" in version_text and all(
        feature.get(c, "+?") in version_text for c in compressions
    )


def _decompress(path: Path) -> bytes:
    data = path.read_bytes()
    if path.name.endswith(".xz"):
        return lzma.decompress(data)
    if path.name.endswith(".gz"):
        return gzip.decompress(data)
    if path.name.endswith(".zst"):
        return subprocess.run(
            ["zstd", "-dqc", str(path)], capture_output=True, check=True
        ).stdout
    return data


_DPKG_ACTION = re.compile(r"^(Setting up|Unpacking|Preparing to unpack|Get:\d+|Processing triggers for) ")


def build_progress(log_tail: str, stage: str = "") -> tuple[str, str]:
    """One line for the progress reporter from the end of mmdebstrap's --verbose
    log: its current stage ("I: ...", else ``stage``, the last one seen) and the
    package apt/dpkg works on. Returns (line, stage)."""
    lines = [x.strip() for x in log_tail.splitlines() if x.strip()]
    stage = next((x[3:].rstrip(". ") for x in reversed(lines) if x.startswith("I: ")), stage)
    action = next((x for x in reversed(lines) if _DPKG_ACTION.match(x)), "")
    if action.startswith("Get:"):  # "Get:12 http://... forky/main amd64 gcc-14 14.2 [9 MB]"
        f = action.split()
        action = f"downloading {f[4]}" if len(f) > 4 else action
    out = " - ".join(x for x in (stage, action) if x)
    return (out or (lines[-1] if lines else "(no output yet)"))[:160], stage


# ---------------------------------------------------------------- the build


class _Builder:
    def __init__(self, arch: str, spec: Any, tmp: Path, say: Progress,
                 cancel: Optional[threading.Event] = None) -> None:
        self.cancel = cancel
        self.arch = arch
        self.info = archs.info(arch)
        self.spec = spec
        self.suite = spec_suite(arch, spec)
        self.mirror: Optional[str] = getattr(spec, "mirror", None) or None
        self.packages = package_list(spec, arch)
        self.debian_packages = resolve_packages(arch, self.packages)
        self.tmp = tmp
        self.rootfs = tmp / "rootfs"
        self.debs = tmp / "debs"
        self.log = tmp / "build.log"
        self.failed_log = self.log  # ensure_image points this at a file that survives
        self.t0 = time.monotonic()
        self._say = say
        self.name = f"{arch}-{self.suite}"
        self.kernel_packages: list[dict[str, str]] = []
        self._stage = ""
        # Pools left out after the mirror failed them (pool -> reason), for the manifest.
        self.dropped_pools: dict[str, str] = {}
        self._log_start = 0  # where the current mmdebstrap attempt's output begins

    def _check_cancel(self) -> None:
        _check_cancel(self.cancel, self.name)

    def say(self, msg: str) -> None:
        self._say(f"image {self.name}: {msg} [{time.monotonic() - self.t0:.0f}s]")

    def build(self) -> None:
        if os.geteuid() != 0:
            raise LabError(
                f"{self.name}: building a lab image needs root (mmdebstrap, chroot, "
                "device nodes); run as root once to fill the cache, or give spec.image"
            )
        for tool in ("mmdebstrap", "mkfs.ext4", "ssh-keygen", "dpkg-deb", "dpkg-query", "chroot"):
            if shutil.which(tool) is None:
                raise LabError(f"{self.name}: {tool} not found on the controller")
        if self.arch == "riscv64" and self.suite in _NO_RISCV64:
            raise LabError(
                f"{self.name}: Debian {self.suite} has no riscv64 port; use qemu.suite: "
                f"{default_suite('riscv64')} (or trixie)"
            )
        if self.arch != os.uname().machine and shutil.which("arch-test") is None:
            # mmdebstrap refuses foreign arches without it ("install arch-test")
            raise LabError(
                f"{self.name}: arch-test not found on the controller; it is needed to build "
                "a foreign-arch rootfs (Debian: apt install arch-test qemu-user-static binfmt-support)"
            )
        ensure_binfmt(self.arch, self.say)
        self.say(f"building {', '.join(self.packages)} from {self.mirror or DEFAULT_MIRROR}")
        self._keys()
        self._mmdebstrap()
        self._check_cancel()
        kver = self._kernel()
        self._configure()
        packages = self._packages()
        self._headers(kver)
        self._initramfs(kver)
        self._check_cancel()
        self._disk()
        self._check_cancel()
        self.say("removing the build tree, hashing artefacts, writing manifest.json")
        for d in (self.rootfs, self.debs, self.tmp / "kernel"):
            safe_rmtree(d, missing_ok=True)
        self._manifest(kver, packages)
        self.say(f"image ready (kernel {kver})")

    def _keys(self) -> None:
        # Client key: root's authorized_keys. Host key: baked into /etc/ssh so the
        # controller knows it before first contact (no trust-on-first-use).
        for name, comment in (("client_key", "kmatrix-lab-client"), ("host_key", "kmatrix-guest")):
            _run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment,
                 "-f", str(self.tmp / name)],
                "ssh-keygen",
            )
        os.chmod(self.tmp / "client_key", 0o600)

    @property
    def pools(self) -> list[str]:
        return [p for p in pool_names(self.suite, self.mirror) if p not in self.dropped_pools]

    def _mmdebstrap(self) -> None:
        """Run mmdebstrap; if it failed fetching from the suite's -updates/-security
        pool (bullseye's security pool has 404s on deb.debian.org), run it once more
        without that pool rather than give up on the suite."""
        self.debs.mkdir()
        rc = self._run_mmdebstrap()
        broken = self._broken_pools() if rc != 0 and not self.dropped_pools else {}
        if broken:
            names = " and ".join(broken)
            reasons = "; ".join(broken.values())
            self.say(f"{names} {'is' if len(broken) == 1 else 'are'} broken on the mirror "
                     f"({reasons}); retrying without {'it' if len(broken) == 1 else 'them'}")
            self.dropped_pools.update(broken)
            safe_rmtree(self.rootfs, missing_ok=True)
            safe_rmtree(self.debs)
            self.debs.mkdir()
            rc = self._run_mmdebstrap()
        if rc != 0:
            raise self._mmdebstrap_error(rc)
        self.say("mmdebstrap done")

    def _broken_pools(self) -> dict[str, str]:
        """Pools of this build that the last mmdebstrap attempt failed to fetch from."""
        broken = broken_pools(self._attempt_log(), self.suite)
        return {p: why for p, why in broken.items() if p in self.pools}

    def _attempt_log(self) -> str:
        with open(self.log, "rb") as f:
            f.seek(self._log_start)
            return f.read().decode(errors="replace")

    def _mmdebstrap_argv(self) -> list[str]:
        debarch = self.info.debian
        apt_env = 'APT_CONFIG="$MMDEBSTRAP_APT_CONFIG"'
        # Kernel .debs are downloaded (not installed: no initramfs-tools, no /boot
        # churn) with mmdebstrap's own apt config, so the host's apt is untouched.
        hook = (
            f"cd {shlex.quote(str(self.debs))} && {apt_env} apt-get -q download "
            f"$({apt_env} apt-cache depends --recurse --no-recommends --no-suggests "
            f"--no-conflicts --no-breaks --no-replaces --no-enhances linux-image-{debarch} "
            "| grep -E '^linux-(image|binary|modules|base)-[0-9]' | sort -u) busybox-static"
        )
        # The guest boots our own tiny initramfs, so the one a kernel postinst would
        # generate is waste (trixie's linux-headers pulls in linux-image, and
        # mkinitramfs then costs minutes, more under qemu-user): divert the tool.
        # The guest has no systemd either, so the perl deb-systemd-helper/-invoke calls
        # in maintainer scripts (seconds each under qemu-user) are diverted too.
        # openssh-server's postinst generates RSA/ECDSA/Ed25519 host keys, which under
        # qemu-user takes a minute; placeholders made natively here stop it (they are
        # replaced by the baked key in _configure).
        noops = ["/usr/sbin/update-initramfs", "/usr/bin/deb-systemd-helper",
                 "/usr/bin/deb-systemd-invoke"]
        essential_hook = " && ".join(
            [f'chroot "$1" dpkg-divert --quiet --local --rename --add {p}'
             f' && ln -sf /bin/true "$1{p}"' for p in noops]
            + ['mkdir -p "$1/etc/ssh"', 'ssh-keygen -q -A -f "$1"']
        )
        argv = [
            # --verbose: apt/dpkg lines ("Setting up X") in build.log feed the progress
            "mmdebstrap", "--verbose", "--variant=essential", f"--arch={debarch}",
            f"--include={','.join(self.debian_packages)}",
            # forky's Release is routinely past Valid-Until on the mirrors
            '--aptopt=Acquire::Check-Valid-Until "false"',
            '--aptopt=APT::Sandbox::User "root"',
            '--aptopt=Acquire::Retries "3"',
            "--dpkgopt=path-exclude=/usr/share/man/*",
            "--dpkgopt=path-exclude=/usr/share/doc/*",
            "--dpkgopt=path-include=/usr/share/doc/*/copyright",
            "--dpkgopt=path-exclude=/usr/share/locale/*",
            "--dpkgopt=path-exclude=/usr/share/info/*",
            f"--essential-hook={essential_hook}",
            f"--customize-hook={hook}",
            self.suite, str(self.rootfs),
            *mirror_lines(self.suite, self.mirror, drop=self.dropped_pools),
        ]
        return argv

    def _run_mmdebstrap(self) -> int:
        """One mmdebstrap attempt, appended to build.log; returns its exit code."""
        argv = self._mmdebstrap_argv()
        self.say("mmdebstrap: creating the root filesystem (minutes for foreign arches)")
        with open(self.log, "a") as logf:
            self._log_start = logf.tell()
            logf.write("$ " + shlex.join(argv) + "\n")
            logf.flush()
            proc = subprocess.Popen(argv, stdout=logf, stderr=subprocess.STDOUT,
                                    stdin=subprocess.DEVNULL)
            try:
                start = last = time.monotonic()
                while True:
                    try:
                        rc = proc.wait(timeout=1.0)
                        break
                    except subprocess.TimeoutExpired:
                        self._check_cancel()
                        if time.monotonic() - last >= _PROGRESS_EVERY:
                            last = time.monotonic()
                            self.say(f"mmdebstrap running {last - start:.0f}s: "
                                     f"{self._last_log_line()}")
            except BaseException:
                # Let mmdebstrap unmount what it mounted in the chroot before we go.
                proc.terminate()
                try:
                    proc.wait(timeout=60)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                raise
        return rc

    def _last_log_line(self) -> str:
        try:
            with open(self.log, "rb") as f:
                f.seek(max(0, os.fstat(f.fileno()).st_size - 16384))
                text = f.read().decode(errors="replace")
        except OSError:
            return ""
        line, self._stage = build_progress(text, self._stage)
        return line

    def _mmdebstrap_error(self, rc: int) -> LabError:
        text = self._attempt_log()
        lines = [x for x in text.splitlines() if x.strip()]
        for pat in _MIRROR_ERRORS:
            hit = next((x for x in lines if pat in x), None)
            if hit:
                other = suggest_suite(self.arch, self.suite)
                return LabError(
                    f"{self.name}: the Debian mirror is broken for suite {self.suite!r} "
                    f"arch {self.info.debian} ({hit.strip()[:200]}); try another "
                    f"suite (e.g. qemu.suite: {other}) or another qemu.mirror"
                )
        missing = re.findall(r"Unable to locate package (\S+)|Package '?(\S+?)'? has no installation candidate", text)
        if missing:
            names = sorted({a or b for a, b in missing})
            return LabError(
                f"{self.name}: packages not available in {self.suite}/{self.info.debian}: "
                f"{', '.join(names)}; drop them with qemu.packages: ['-NAME'] or pick another suite"
            )
        tail = " | ".join(x.strip() for x in lines[-4:])
        return LabError(f"{self.name}: mmdebstrap failed (exit {rc}); log {self.failed_log}: {tail}")

    def _kernel(self) -> str:
        kdir = self.tmp / "kernel"
        kdir.mkdir()
        debs = sorted(self.debs.glob("linux-*.deb"))
        if not debs:
            raise LabError(f"{self.name}: no linux-image-{self.info.debian} packages downloaded")
        for deb in debs:
            _run(["dpkg-deb", "-x", str(deb), str(kdir)], f"extract {deb.name}")
            fields = _run(["dpkg-deb", "-f", str(deb), "Package", "Version"], "dpkg-deb -f").stdout
            info = dict(x.split(": ", 1) for x in fields.splitlines() if ": " in x)
            self.kernel_packages.append(
                {"name": info.get("Package", deb.name), "version": info.get("Version", "")}
            )
        moddirs = sorted(
            [p for base in ("lib/modules", "usr/lib/modules") for p in (kdir / base).glob("*")
             if p.is_dir()]
        )
        if not moddirs:
            raise LabError(f"{self.name}: kernel packages contain no modules directory")
        mdir = moddirs[0]
        kver = mdir.name
        cands = [kdir / "boot" / f"vmlinuz-{kver}", mdir / "vmlinuz", *sorted((kdir / "boot").glob("vmlinu*"))]
        vmlinuz = next((c for c in cands if c.is_file()), None)
        if vmlinuz is None:
            raise LabError(f"{self.name}: no vmlinuz in the kernel packages")
        shutil.copyfile(vmlinuz, self.tmp / "vmlinuz")
        # /lib/modules: the modules directory on merged-/usr (trixie on, where /lib
        # is a link to usr/lib) and on unmerged roots alike
        dest = self.rootfs / "lib/modules" / kver
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copytree(mdir, dest, symlinks=True, dirs_exist_ok=True)
        # Kernel config in the guest: case requirements ("config": [...]) read it.
        cfg = kdir / "boot" / f"config-{kver}"
        if cfg.is_file():
            (self.rootfs / "boot").mkdir(exist_ok=True)
            shutil.copyfile(cfg, self.rootfs / "boot" / cfg.name)
        smap = kdir / "boot" / f"System.map-{kver}"
        if smap.is_file():
            shutil.copyfile(smap, self.rootfs / "boot" / smap.name)
        self._depmod(kver)
        self.say(f"kernel {kver} extracted, modules installed")
        return kver

    def _depmod(self, kver: str) -> None:
        # The controller's depmod is native and takes a second; the guest's own runs
        # under qemu-user for foreign arches (a minute or more, 1 GB RSS). Use the
        # guest's only when the controller's lacks the suite's module compression.
        mdir = self.rootfs / "lib/modules" / kver
        host = shutil.which("depmod")
        if host is not None and host_depmod_handles(
            subprocess.run([host, "--version"], capture_output=True, text=True).stdout,
            {p.name.rsplit(".", 1)[-1] for p in mdir.rglob("*.ko.*")},
        ):
            _run([host, "-b", str(self.rootfs), kver], "depmod (controller) on the guest modules")
        else:
            _run(["chroot", str(self.rootfs), "depmod", kver], "depmod in the guest rootfs")
        if not (mdir / "modules.dep").is_file():
            raise LabError(f"{self.name}: depmod wrote no modules.dep for {kver}")

    def _configure(self) -> None:
        r = self.rootfs
        shutil.copyfile(FILES_DIR / "kmatrix-init", r / "sbin/kmatrix-init")
        os.chmod(r / "sbin/kmatrix-init", 0o755)
        ssh = r / "root/.ssh"
        ssh.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(ssh, 0o700)
        shutil.copyfile(self.tmp / "client_key.pub", ssh / "authorized_keys")
        os.chmod(ssh / "authorized_keys", 0o600)
        etc_ssh = r / "etc/ssh"
        for old in etc_ssh.glob("ssh_host_*"):  # keys made by openssh-server's postinst
            old.unlink()
        shutil.move(str(self.tmp / "host_key"), etc_ssh / "ssh_host_ed25519_key")
        os.chmod(etc_ssh / "ssh_host_ed25519_key", 0o600)
        shutil.copyfile(self.tmp / "host_key.pub", etc_ssh / "ssh_host_ed25519_key.pub")
        conf_d = etc_ssh / "sshd_config.d"
        conf_d.mkdir(exist_ok=True)
        (conf_d / "kmatrix.conf").write_text(
            "# kmatrix lab guest: key-only root login, one baked host key\n"
            "HostKey /etc/ssh/ssh_host_ed25519_key\n"
            "PermitRootLogin prohibit-password\n"
            "PasswordAuthentication no\n"
            "KbdInteractiveAuthentication no\n"
            "UseDNS no\n"
            "MaxSessions 64\n"
            "MaxStartups 64:30:128\n"
        )
        (r / "etc/hostname").write_text("kmatrix-guest\n")
        (r / "etc/hosts").write_text("127.0.0.1 localhost\n127.0.1.1 kmatrix-guest\n")
        self.say("guest configured (PID 1 script, root key, baked host key)")

    def _packages(self) -> list[dict[str, str]]:
        res = _run(
            ["dpkg-query", f"--admindir={self.rootfs}/var/lib/dpkg", "-W",
             "-f=${Package}\t${Version}\t${Architecture}\t${db:Status-Abbrev}\n"],
            "dpkg-query",
        )
        out = []
        for line in res.stdout.splitlines():
            parts = line.split("\t")
            if len(parts) >= 4 and parts[3].startswith("ii"):
                out.append({"name": parts[0], "version": parts[1], "arch": parts[2]})
        names = {p["name"] for p in out}
        missing = [p for p in self.debian_packages if p not in names]
        if missing:
            raise LabError(f"{self.name}: packages not installed in the rootfs: {', '.join(missing)}")
        return out

    def _headers(self, kver: str) -> None:
        """When headers were asked for, they must be the booted kernel's own: a module
        built against other headers fails to load (vermagic) and the case would
        report a lab bug as a kernel gap."""
        if not any(p.startswith("linux-headers-") for p in self.debian_packages):
            return
        src = self.rootfs / "usr/src" / f"linux-headers-{kver}"
        if not (src / "Makefile").is_file():
            have = sorted(x.name for x in (self.rootfs / "usr/src").glob("linux-headers-*"))
            raise LabError(
                f"{self.name}: headers for kernel {kver} not installed (have: "
                f"{', '.join(have) or 'none'}); the mirror's linux-headers and linux-image "
                "metapackages disagree"
            )
        build = self.rootfs / "lib/modules" / kver / "build"
        if not build.exists() and not build.is_symlink():
            build.symlink_to(f"/usr/src/linux-headers-{kver}")
        # Module BTF needs a base BTF (objtree/vmlinux); trixie's headers ship one.
        # Where they do not, the running kernel's /sys/kernel/btf/vmlinux is the same
        # base, but only if kbuild can finish the job: 6.1's modfinal also runs
        # resolve_btfids, which bookworm's headers lack (the link would make every
        # module build fail). Then kbuild skips module BTF and says so; cases that
        # need module BTF must skip on that.
        vmlinux = src / "vmlinux"
        resolve = src / "tools/bpf/resolve_btfids/resolve_btfids"
        modfinal = next(iter(sorted((self.rootfs / "usr/src").glob(
            "linux-headers-*/scripts/Makefile.modfinal"))), None)
        needs_resolve = modfinal is not None and "RESOLVE_BTFIDS" in modfinal.read_text(errors="replace")
        if vmlinux.exists() or vmlinux.is_symlink():
            base = "vmlinux from the headers"
        elif needs_resolve and not resolve.exists():
            base = "none (headers lack vmlinux and resolve_btfids: kbuild skips module BTF)"
        else:
            vmlinux.symlink_to("/sys/kernel/btf/vmlinux")
            base = "/sys/kernel/btf/vmlinux"
        self.say(f"module build ready: headers {kver}, module BTF base {base}")

    def _initramfs(self, kver: str) -> None:
        mroot = self.rootfs / "lib/modules" / kver
        bb = self.tmp / "busybox"
        debs = sorted(self.debs.glob("busybox-static_*.deb"))
        if not debs:
            raise LabError(f"{self.name}: busybox-static was not downloaded")
        tar = subprocess.run(["dpkg-deb", "--fsys-tarfile", str(debs[0])], capture_output=True, check=True)
        with tarfile.open(fileobj=io.BytesIO(tar.stdout)) as tf:
            member = next(m for m in tf.getmembers() if m.name.endswith("bin/busybox") and m.isfile())
            f = tf.extractfile(member)
            assert f is not None
            bb.write_bytes(f.read())
        order = module_load_order(self.rootfs, kver, _INITRAMFS_MODULES)
        entries: list[tuple[str, int, bytes, int]] = [
            (d, stat.S_IFDIR | 0o755, b"", 0) for d in ("bin", "dev", "proc", "sys", "newroot", "mods")
        ]
        entries.append(("dev/console", stat.S_IFCHR | 0o600, b"", (5 << 8) | 1))
        entries.append(("bin/busybox", stat.S_IFREG | 0o755, bb.read_bytes(), 0))
        entries.append(("bin/sh", stat.S_IFLNK | 0o777, b"busybox", 0))
        entries.append(("init", stat.S_IFREG | 0o755, (FILES_DIR / "initramfs-init").read_bytes(), 0))
        names = []
        for rel in order:
            base = re.sub(r"\.(xz|zst|gz)$", "", rel.rsplit("/", 1)[-1])
            entries.append((f"mods/{base}", stat.S_IFREG | 0o644, _decompress(mroot / rel), 0))
            names.append(base)
        entries.append(("modules.list", stat.S_IFREG | 0o644, "".join(n + "\n" for n in names).encode(), 0))
        (self.tmp / "initrd.gz").write_bytes(gzip.compress(newc_archive(entries), compresslevel=6, mtime=0))
        bb.unlink()
        self.say(f"initramfs built ({', '.join(names) or 'all built in'})")

    def _disk(self) -> None:
        used = _du_bytes(self.rootfs)
        size = disk_size(used)
        _run(
            ["mkfs.ext4", "-q", "-F", "-L", "kmroot", "-d", str(self.rootfs),
             str(self.tmp / "disk.img"), f"{size >> 20}M"],
            "mkfs.ext4 -d",
        )
        self.say(f"disk.img: ext4 {size >> 20} MiB, {used >> 20} MiB used")

    def _manifest(self, kver: str, packages: list[dict[str, str]]) -> None:
        doc = {
            "kind": "kmatrix-lab-image",
            "builder_version": BUILDER_VERSION,
            "arch": self.arch,
            "debian_arch": self.info.debian,
            "suite": self.suite,
            "mirror": self.mirror or DEFAULT_MIRROR,
            # the archives the packages came from; a pool the mirror failed is left out
            "pools": self.pools,
            "dropped_pools": self.dropped_pools,
            "cache_key": cache_key(self.arch, self.suite, self.packages, self.mirror),
            "requested_packages": self.packages,
            "kernel_release": kver,
            "kernel_packages": self.kernel_packages,
            "console": CONSOLES[self.arch],
            "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "build_seconds": round(time.monotonic() - self.t0, 1),
            "packages": packages,
            "sha256": {
                n: sha256_file(self.tmp / n)
                for n in ("vmlinuz", "initrd.gz", "disk.img", "host_key.pub")
            },
        }
        # Written last: its presence marks the directory complete.
        tmpmf = self.tmp / "manifest.json.tmp"
        tmpmf.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
        os.rename(tmpmf, self.tmp / "manifest.json")
