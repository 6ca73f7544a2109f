"""The libbpf the agent brings along: Debian's ``libbpf1`` build for the target arch.

Every column of the matrix is then loaded by the same libbpf, so differences come
from the kernel alone (as the kernel's selftests do with the in-tree libbpf).

Source: ``<mirror>/dists/<suite>/InRelease`` (OpenPGP-checked with gpgv against
Debian's archive keyring when both are present) -> ``main/binary-<debarch>/Packages.xz``
(SHA256 from InRelease) -> ``libbpf1`` .deb (SHA256 from Packages) -> the
``libbpf.so.1.x.y`` file. The mirror is ``$KMATRIX_DEBIAN_MIRROR`` or
``http://deb.debian.org/debian`` (as ``kmatrix/lab/image.py``).

Facts, read from each file's ``.gnu.version_r`` and ``DT_NEEDED`` (2026-11):

======== ======== ====== ====================== ==============================================
arch     suite    libbpf needs glibc            DT_NEEDED
======== ======== ====== ====================== ==============================================
x86_64   bookworm 1.1.2  2.28 (fcntl64)         libelf.so.1 libz.so.1 libc.so.6
aarch64  bookworm 1.1.2  2.28                   libelf.so.1 libz.so.1 libc.so.6 ld-linux-aarch64.so.1
riscv64  trixie   1.5.0  2.38 (__isoc23_*)      libelf.so.1 libz.so.1 libc.so.6 ld-linux-riscv64-lp64d.so.1
======== ======== ====== ====================== ==============================================

All three also need ELFUTILS_1.0..1.6 from libelf.so.1 (Debian: libelf1 >= 0.144) and
ZLIB_1.2.3.3 from libz.so.1. Checked on a bullseye chroot (glibc 2.31, Python 3.9,
elfutils 0.183): the agent loads the bookworm file and real BPF cases pass. The
bookworm builds load on glibc 2.28+ (bullseye 2.31, openEuler 22.03 2.34 and 24.03
2.38), although the .deb declares ``libc6 (>= 2.34)``: that is dpkg-shlibdeps'
symbol-file bound, not an ELF version the file needs. Debian has riscv64 only from
trixie on, and its builds need glibc 2.38 (C23 ``__isoc23_strtoull/sscanf/fscanf``);
forky's 1.7.0 needs 2.38 too; debian-ports (sid only) and snapshot.debian.org (older
sid builds) were not reachable from the build machine, so not used. A riscv64
target needs glibc >= 2.38 (openEuler 24.03: yes; 22.03: no, use ``libbpf: system``);
the agent checks this before loading and says so in one sentence.

Cache: ``<cache_dir>/libbpf/<arch>/<debian version>/`` holding the ``.so`` and
``manifest.json``. Once cached, calls need no network (``refresh=True`` re-resolves
the suite); fills happen in a temporary sibling renamed into place under a file
lock, so concurrent runs never see half a directory.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import io
import json
import lzma
import os
import re
import shutil
import struct
import subprocess
import tarfile
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from kmatrix import archs
from kmatrix.errors import KmatrixError
from kmatrix.fileutil import sha256_file

DEFAULT_MIRROR = "http://deb.debian.org/debian"  # kmatrix/lab/image.py DEFAULT_MIRROR
MIRROR_ENV = "KMATRIX_DEBIAN_MIRROR"
KEYRING_ENV = "KMATRIX_DEBIAN_KEYRING"
DEFAULT_KEYRING = "/usr/share/keyrings/debian-archive-keyring.gpg"
PACKAGE = "libbpf1"
# The oldest suite with a libbpf1 for the arch: the lowest glibc it needs.
SUITES = {"x86_64": "bookworm", "aarch64": "bookworm", "riscv64": "trixie"}
BUNDLE_MEMBER = "lib/libbpf.so.1"  # where make_bundle puts it in agent.pyz
MANIFEST = "manifest.json"
CACHE_FORMAT = 1

_ELF_MACHINES = {"x86_64": 62, "aarch64": 183, "riscv64": 243}  # e_machine
_MAX_DOWNLOAD = 64 << 20  # Packages.xz is ~10 MiB, the .deb ~150 KiB
_TIMEOUT = 60.0
_SO_RE = re.compile(r"^libbpf\.so\.(\d+\.\d+\.\d+)$")
_GLIBC_RE = re.compile(r"^GLIBC_(\d+(?:\.\d+)+)$")

Progress = Callable[[str], None]


class LibbpfFetchError(KmatrixError):
    """The bundled libbpf could not be fetched, verified or read (one line)."""


@dataclass(frozen=True)
class ElfNeeds:
    """What a shared object asks of the dynamic linker."""

    machine: int  # e_machine
    soname: str
    needed: tuple[str, ...]  # DT_NEEDED, in order
    versions: tuple[tuple[str, tuple[str, ...]], ...]  # (file, version names) from .gnu.version_r

    @property
    def glibc_needs(self) -> tuple[str, ...]:
        """Every GLIBC_x.y it needs, lowest first."""
        names = {v for _f, vs in self.versions for v in vs if _GLIBC_RE.match(v)}
        return tuple(sorted(names, key=lambda n: _vtuple(n[len("GLIBC_"):])))

    @property
    def glibc(self) -> str:
        """The oldest glibc that loads it ("2.28"): its highest GLIBC_ version."""
        needs = self.glibc_needs
        return needs[-1][len("GLIBC_"):] if needs else ""


@dataclass(frozen=True)
class BundledLib:
    """A cached libbpf.so.1.x.y ready to ship in agent.pyz."""

    path: Path  # the libbpf.so.1.x.y file in the cache
    version: str  # upstream version, from the file name: "1.1.2"
    sha256: str  # of the .so
    deb: str  # source package file: "libbpf1_1.1.2-0+deb12u1_amd64.deb"
    deb_version: str  # "1:1.1.2-0+deb12u1"
    suite: str
    arch: str  # canonical (kmatrix.archs)
    glibc: str  # minimum glibc that loads it ("2.28")
    glibc_needs: tuple[str, ...]  # ("GLIBC_2.2.5", ..., "GLIBC_2.28")
    needed: tuple[str, ...]  # DT_NEEDED
    versions: tuple[tuple[str, tuple[str, ...]], ...]  # all version needs, per file
    signed: bool  # the InRelease signature was checked

    def plan_entry(self) -> dict[str, Any]:
        """The plan.json ``libbpf`` block the agent's libload reads."""
        return {"mode": "bundled", "version": self.version, "sha256": self.sha256,
                "path": BUNDLE_MEMBER, "glibc": self.glibc, "needed": list(self.needed),
                "source": f"{self.suite}/{self.deb}"}


# ---------------------------------------------------------------- ELF reading


def _vtuple(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in v.split(".") if x.isdigit())


def _version_key(name: str) -> tuple[str, tuple[int, ...]]:
    # "GLIBC_2.2.5" sorts before "GLIBC_2.14".
    base, _, ver = name.rpartition("_")
    return base, _vtuple(ver)


def read_elf_needs(path: Path) -> ElfNeeds:
    """DT_NEEDED and version needs of a shared object, read from its sections."""
    data = Path(path).read_bytes()
    if data[:4] != b"\x7fELF" or data[4] not in (1, 2) or data[5] not in (1, 2):
        raise LibbpfFetchError(f"{path}: not an ELF file")
    is64 = data[4] == 2
    end = "<" if data[5] == 1 else ">"
    ehdr = end + ("HHIQQQIHHHHHH" if is64 else "HHIIIIIHHHHHH")
    (_t, machine, _v, _e, _ph, shoff, _f, _eh, _phes, _phn, shentsize, shnum,
     _shstr) = struct.unpack_from(ehdr, data, 16)
    shdr = end + ("IIQQQQIIQQ" if is64 else "IIIIIIIIII")
    sections = [struct.unpack_from(shdr, data, shoff + i * shentsize) for i in range(shnum)]
    needed: list[str] = []
    soname = ""
    versions: list[tuple[str, tuple[str, ...]]] = []
    for _n, stype, _fl, _a, off, size, link, info, _al, _es in sections:
        strtab = sections[link] if link < len(sections) else None
        if stype == 6 and strtab is not None:  # SHT_DYNAMIC
            for tag, val in _dynamic(data, off, size, is64, end):
                if tag == 1:  # DT_NEEDED
                    needed.append(_cstr(data, strtab[4] + val))
                elif tag == 14:  # DT_SONAME
                    soname = _cstr(data, strtab[4] + val)
        elif stype == 0x6FFFFFFE and strtab is not None:  # SHT_GNU_verneed
            versions.extend(_verneed(data, off, info, strtab[4], end))
    if not needed:
        raise LibbpfFetchError(f"{path}: no dynamic section (not a shared object?)")
    return ElfNeeds(machine, soname, tuple(needed), tuple(versions))


def _cstr(data: bytes, off: int) -> str:
    return data[off:data.index(b"\0", off)].decode("ascii", "replace")


def _dynamic(data: bytes, off: int, size: int, is64: bool, end: str) -> Iterator[tuple[int, int]]:
    fmt = end + ("qQ" if is64 else "iI")
    step = struct.calcsize(fmt)
    for pos in range(off, off + size - step + 1, step):
        tag, val = struct.unpack_from(fmt, data, pos)
        if tag == 0:  # DT_NULL
            return
        yield tag, val


def _verneed(data: bytes, off: int, count: int, stroff: int,
             end: str) -> Iterator[tuple[str, tuple[str, ...]]]:
    for _ in range(count):
        _ver, cnt, vfile, aux, nxt = struct.unpack_from(end + "HHIII", data, off)
        names = []
        apos = off + aux
        for _ in range(cnt):
            _hash, _flags, _other, name, anext = struct.unpack_from(end + "IHHII", data, apos)
            names.append(_cstr(data, stroff + name))
            apos += anext
        yield _cstr(data, stroff + vfile), tuple(sorted(names, key=_version_key))
        if not nxt:
            return
        off += nxt


# ---------------------------------------------------------------- public entry


def default_mirror() -> str:
    return (os.environ.get(MIRROR_ENV) or DEFAULT_MIRROR).rstrip("/")


def fetch_libbpf(arch: str, cache_dir: Path, progress: Optional[Progress] = None, *,
                 suite: Optional[str] = None, mirror: Optional[str] = None,
                 refresh: bool = False) -> BundledLib:
    """The Debian libbpf1 build for ``arch``: from the cache, else downloaded,
    verified (InRelease signature, SHA256 of index and .deb) and cached."""
    arch = archs.normalize(arch)
    say: Progress = progress or (lambda _m: None)
    suite = suite or SUITES[arch]
    # A .deb's content never changes for one (arch, version): one store per machine
    # may serve every cache dir (the tests point KMATRIX_LIBBPF_CACHE at one).
    shared = os.environ.get("KMATRIX_LIBBPF_CACHE")
    root = (Path(shared) if shared else Path(cache_dir) / "libbpf") / arch
    root.mkdir(parents=True, exist_ok=True)
    if not refresh:
        hit = _cached(root, suite)
        if hit is not None:
            return hit
    with _file_lock(root / ".lock", say):
        if not refresh:
            hit = _cached(root, suite)  # another run may have filled it meanwhile
            if hit is not None:
                return hit
        for stale in root.glob(".tmp.*"):  # left by a killed run
            shutil.rmtree(stale, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=".tmp.", dir=root))
        try:
            return _fill(root, tmp, arch, suite, (mirror or default_mirror()).rstrip("/"), say)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)


def _fill(root: Path, tmp: Path, arch: str, suite: str, mirror: str, say: Progress) -> BundledLib:
    debarch = archs.info(arch).debian
    say(f"libbpf: resolving {PACKAGE} in {suite}/{debarch} from {mirror}")
    signed, release = _release(mirror, suite, tmp, say)
    index = f"main/binary-{debarch}/Packages.xz"
    sha, size = _release_entry(release, index, suite)
    _download(f"{mirror}/dists/{suite}/{index}", tmp / "Packages.xz", sha, size)
    stanza = _find_package(tmp / "Packages.xz", PACKAGE, suite, debarch)
    final = root / _dir_name(stanza["Version"])
    hit = _load(final)
    if hit is not None and hit.suite == suite:
        return hit  # refresh found the version we already have
    deb_name = stanza["Filename"].rsplit("/", 1)[-1]
    say(f"libbpf: downloading {deb_name}")
    deb = tmp / deb_name
    _download(f"{mirror}/{stanza['Filename']}", deb, stanza["SHA256"], int(stanza["Size"]))
    name, blob = _so_from_deb(deb)
    out = tmp / "out"
    out.mkdir()
    (out / name).write_bytes(blob)
    needs = read_elf_needs(out / name)
    if needs.machine != _ELF_MACHINES[arch]:
        raise LibbpfFetchError(f"{deb_name}: {name} is for ELF machine {needs.machine}, "
                               f"not {arch}")
    manifest = _manifest(arch, suite, mirror, signed, stanza, deb_name, name, blob, needs)
    (out / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    os.chmod(out, 0o755)
    if final.exists():  # a corrupt earlier copy (_load refused it): replace it
        shutil.rmtree(final)
    os.rename(out, final)
    lib = _load(final)
    if lib is None:
        raise LibbpfFetchError(f"libbpf cache {final} is unreadable right after writing it")
    say(f"libbpf: cached {lib.version} ({deb_name}, needs glibc >= {lib.glibc})")
    return lib


def _dir_name(deb_version: str) -> str:
    # "1:1.1.2-0+deb12u1" -> "1.1.2-0+deb12u1": the epoch is not part of the file names.
    name = deb_version.split(":", 1)[-1]
    if not re.match(r"^[A-Za-z0-9][A-Za-z0-9.+~-]*$", name):
        raise LibbpfFetchError(f"{PACKAGE}: unexpected version {deb_version!r}")
    return name


def _manifest(arch: str, suite: str, mirror: str, signed: bool, stanza: dict[str, str],
              deb_name: str, name: str, blob: bytes, needs: ElfNeeds) -> dict[str, Any]:
    m = _SO_RE.match(name)
    assert m is not None  # _so_from_deb only returns matching names
    return {"format": CACHE_FORMAT, "package": PACKAGE, "arch": arch, "suite": suite,
            "mirror": mirror, "signed": signed, "deb": deb_name,
            "deb_version": stanza["Version"], "deb_sha256": stanza["SHA256"],
            "file": name, "version": m.group(1), "sha256": hashlib.sha256(blob).hexdigest(),
            "size": len(blob), "soname": needs.soname, "glibc": needs.glibc,
            "glibc_needs": list(needs.glibc_needs), "needed": list(needs.needed),
            "versions": {f: list(v) for f, v in needs.versions},
            "fetched_at": time.time()}


# ---------------------------------------------------------------- cache


def _cached(root: Path, suite: str) -> Optional[BundledLib]:
    """The most recently fetched valid cache entry for ``suite``, if any."""
    best: Optional[tuple[float, BundledLib]] = None
    for d in root.iterdir():
        if d.name.startswith(".") or not d.is_dir():
            continue
        lib = _load(d)
        if lib is None or lib.suite != suite:
            continue
        when = float(json.loads((d / MANIFEST).read_text()).get("fetched_at", 0))
        if best is None or when > best[0]:
            best = (when, lib)
    return best[1] if best else None


def _load(d: Path) -> Optional[BundledLib]:
    """A BundledLib from a cache directory, or None when absent or damaged."""
    try:
        m = json.loads((d / MANIFEST).read_text())
        if m.get("format") != CACHE_FORMAT:
            return None
        path = d / Path(m["file"]).name
        if sha256_file(path) != m["sha256"]:
            return None  # damaged: refetched under the lock
        return BundledLib(
            path=path, version=m["version"], sha256=m["sha256"], deb=m["deb"],
            deb_version=m["deb_version"], suite=m["suite"], arch=m["arch"], glibc=m["glibc"],
            glibc_needs=tuple(m["glibc_needs"]), needed=tuple(m["needed"]),
            versions=tuple((f, tuple(v)) for f, v in sorted(m["versions"].items())),
            signed=bool(m["signed"]))
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


@contextlib.contextmanager
def _file_lock(path: Path, say: Progress) -> Iterator[None]:
    with open(path, "a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            say("libbpf: another run is fetching it, waiting")
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


# ---------------------------------------------------------------- archive


def _release(mirror: str, suite: str, tmp: Path, say: Progress) -> tuple[bool, str]:
    """(signature checked, text) of dists/<suite>/InRelease."""
    path = tmp / "InRelease"
    _download(f"{mirror}/dists/{suite}/InRelease", path, None, None)
    keyring = os.environ.get(KEYRING_ENV) or DEFAULT_KEYRING
    gpgv = shutil.which("gpgv")
    if gpgv and os.path.isfile(keyring):
        p = subprocess.run([gpgv, "--keyring", keyring, "--output", "-", str(path)],
                           capture_output=True, timeout=60)
        if p.returncode != 0:
            tail = p.stderr.decode(errors="replace").strip().splitlines()[-1:]
            raise LibbpfFetchError(f"{mirror}/dists/{suite}/InRelease: signature not valid "
                                   f"for {keyring} ({' '.join(tail)}); set {KEYRING_ENV}")
        return True, p.stdout.decode("utf-8", "replace")
    # Without gpgv or a keyring only the hash chain below protects the download.
    say(f"libbpf: WARNING: InRelease signature not checked (need gpgv and {keyring})")
    return False, _strip_clearsign(path.read_text(errors="replace"))


def _strip_clearsign(text: str) -> str:
    if not text.startswith("-----BEGIN PGP SIGNED MESSAGE-----"):
        return text
    body = text.split("\n\n", 1)[-1].split("\n-----BEGIN PGP SIGNATURE-----", 1)[0]
    return "\n".join(line[2:] if line.startswith("- ") else line for line in body.split("\n"))


def _release_entry(release: str, name: str, suite: str) -> tuple[str, int]:
    """(sha256, size) of ``name`` in the Release file's SHA256 list."""
    in_sha = False
    for line in release.splitlines():
        if not line.startswith(" "):
            in_sha = line.strip() == "SHA256:"
            continue
        parts = line.split()
        if in_sha and len(parts) == 3 and parts[2] == name:
            return parts[0], int(parts[1])
    raise LibbpfFetchError(f"dists/{suite}/InRelease lists no {name} (wrong suite or arch?)")


def _find_package(packages_xz: Path, package: str, suite: str, debarch: str) -> dict[str, str]:
    """The highest-versioned stanza of ``package`` in a Packages.xz index."""
    found: list[dict[str, str]] = []
    stanza: dict[str, str] = {}
    with lzma.open(packages_xz, "rt", encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.strip() == "":
                if stanza.get("Package") == package:
                    found.append(stanza)
                stanza = {}
            elif not line[0].isspace() and ":" in line:
                k, v = line.split(":", 1)
                stanza[k] = v.strip()
    if stanza.get("Package") == package:
        found.append(stanza)
    found = [s for s in found if {"Filename", "SHA256", "Size", "Version"} <= s.keys()]
    if not found:
        raise LibbpfFetchError(f"{suite}/main/binary-{debarch} has no {package} package")
    # One version per suite in practice; else the highest upstream version.
    return max(found, key=lambda s: _vtuple(_upstream(s["Version"])))


def _upstream(deb_version: str) -> str:
    """"1:1.1.2-0+deb12u1" -> "1.1.2"."""
    m = re.match(r"^(?:\d+:)?(\d+(?:\.\d+)*)", deb_version)
    return m.group(1) if m else ""


def _download(url: str, dest: Path, sha256: Optional[str], size: Optional[int]) -> None:
    """Stream ``url`` to ``dest``; refuse it unless size and SHA256 match when given."""
    h = hashlib.sha256()
    total = 0
    try:
        with urllib.request.urlopen(url, timeout=_TIMEOUT) as r, open(dest, "wb") as out:
            for chunk in iter(lambda: r.read(1 << 16), b""):
                total += len(chunk)
                if total > _MAX_DOWNLOAD:
                    raise LibbpfFetchError(f"{url}: larger than {_MAX_DOWNLOAD} bytes")
                h.update(chunk)
                out.write(chunk)
    except (urllib.error.URLError, OSError) as e:
        raise LibbpfFetchError(f"cannot download {url}: {getattr(e, 'reason', e)}") from None
    if size is not None and total != size:
        raise LibbpfFetchError(f"{url}: got {total} bytes, the index says {size}")
    if sha256 is not None and h.hexdigest() != sha256.lower():
        raise LibbpfFetchError(f"{url}: sha256 {h.hexdigest()} does not match the "
                               f"index's {sha256}; refusing it")


def _so_from_deb(deb: Path) -> tuple[str, bytes]:
    """(file name, bytes) of the one regular libbpf.so.X.Y.Z file in a .deb."""
    with tarfile.open(fileobj=io.BytesIO(_data_tar(deb)), mode="r:*") as tar:
        for m in tar.getmembers():
            name = m.name.rsplit("/", 1)[-1]
            if m.isreg() and _SO_RE.match(name):
                f = tar.extractfile(m)
                assert f is not None  # a regular member always has data
                return name, f.read()
    raise LibbpfFetchError(f"{deb.name}: no libbpf.so.X.Y.Z file inside")


def _data_tar(deb: Path) -> bytes:
    """data.tar of a .deb (an ar archive), decompressed by tarfile later; zstd via dpkg-deb."""
    raw = deb.read_bytes()
    if not raw.startswith(b"!<arch>\n"):
        raise LibbpfFetchError(f"{deb.name}: not a .deb (ar) archive")
    pos = 8
    while pos + 60 <= len(raw):
        name = raw[pos:pos + 16].decode("ascii", "replace").strip().rstrip("/")
        size = int(raw[pos + 48:pos + 58].decode("ascii").strip())
        body = raw[pos + 60:pos + 60 + size]
        if name.startswith("data.tar"):
            if name.endswith(".zst"):  # tarfile has no zstd before Python 3.14
                return _dpkg_fsys_tarfile(deb)
            return body
        pos += 60 + size + (size & 1)  # members are 2-byte aligned
    raise LibbpfFetchError(f"{deb.name}: no data.tar member")


def _dpkg_fsys_tarfile(deb: Path) -> bytes:
    exe = shutil.which("dpkg-deb")
    if exe is None:
        raise LibbpfFetchError(f"{deb.name}: zstd-compressed; install dpkg to unpack it")
    p = subprocess.run([exe, "--fsys-tarfile", str(deb)], capture_output=True, timeout=120)
    if p.returncode != 0:
        raise LibbpfFetchError(f"dpkg-deb --fsys-tarfile {deb.name}: "
                               f"{p.stderr.decode(errors='replace').strip()}")
    return p.stdout
