"""Build BPF objects for one host on this machine (build: local).

vmlinux.h comes from the target's BTF blob via `bpftool btf dump`; each case is
compiled with clang (or zig's clang for cpu v4) in a thread pool; objects are
cached by content hash. A case that does not compile is an outcome carrying
the compiler output, never an exception: only whole-host problems (no bpftool,
unreadable BTF) raise BuildError.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Optional

from kmatrix import archs
from kmatrix.agent.compile import compile_argv, own_diagnostics
from kmatrix.catalog import Case
from kmatrix.errors import BuildError

BUILDER_VERSION = "1"
LIBBPF_INCLUDE = Path("/usr/include")  # holds bpf/bpf_helpers.h from libbpf-dev
# kmatrix.h and friends: on the include path of every case (docs/cases.md).
SHARED_INCLUDE = Path(__file__).resolve().parent.parent / "bpf_cases" / "include"


def shared_include_dirs(case: Case) -> list[Path]:
    """The include/ directory of the case's own catalogue, then kmatrix's (which holds
    kmatrix.h), so a catalogue of one's own may override or add headers."""
    dirs: list[Path] = []
    if case.src is not None:
        own = case.src.parent.parent / "include"
        if own.is_dir():
            dirs.append(own)
    if SHARED_INCLUDE.is_dir() and all(d.resolve() != SHARED_INCLUDE for d in dirs):
        dirs.append(SHARED_INCLUDE)
    return dirs


@dataclass
class BuildOutcome:
    ok: bool
    obj_path: Optional[Path]
    output: str  # compiler output (warnings on success, errors on failure)
    cached: bool = False


# Process-wide, shared by every host's Builder: a run makes one Builder per host
# and hosts build concurrently, so per-instance caches would fork `clang
# --version`, hash the BTF blob and compile a shared object once per host.
_SHARED_LOCK = threading.Lock()
_VERSIONS: dict[tuple[str, ...], Optional[str]] = {}
_KEY_LOCKS: dict[str, threading.Lock] = {}
_BTF_SHAS: dict[tuple[str, int, int, int], str] = {}  # (path, inode, size, mtime) -> sha


def _file_sha256(path: Path) -> str:
    """sha256 of a file, memoised by its identity and mtime, read in 1 MiB chunks."""
    st = path.stat()
    ident = (str(path), st.st_ino, st.st_size, st.st_mtime_ns)
    with _SHARED_LOCK:
        sha = _BTF_SHAS.get(ident)
    if sha is not None:
        return sha
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    sha = h.hexdigest()
    with _SHARED_LOCK:
        _BTF_SHAS[ident] = sha
    return sha


def _tool_version(argv: list[str]) -> Optional[str]:
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=120)
    except (OSError, subprocess.SubprocessError):
        return None
    if p.returncode != 0:
        return None
    return (p.stdout or p.stderr).strip()


# sha256 of a file by (path, mtime, size): every host of a run keys the same sources,
# and reading them again per host was most of a warm build's controller time.
_DIGESTS: dict[tuple[str, int, int], str] = {}


def _file_digest(path: Path) -> str:
    st = path.stat()
    key = (str(path), st.st_mtime_ns, st.st_size)
    digest = _DIGESTS.get(key)
    if digest is None:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        if len(_DIGESTS) > 4096:
            _DIGESTS.clear()
        _DIGESTS[key] = digest
    return digest


class Builder:
    def __init__(self, cache_dir: Path, *, jobs: Optional[int] = None, clang: str = "clang",
                 bpftool: Optional[str] = None, libbpf_include: Path = LIBBPF_INCLUDE,
                 python: Optional[str] = None) -> None:
        self.cache_dir = Path(cache_dir)
        self.jobs = jobs or max(2, os.cpu_count() or 2)
        self.clang = clang
        self.bpftool = bpftool or shutil.which("bpftool") or shutil.which(
            "bpftool", path="/usr/sbin:/sbin") or "bpftool"
        self.libbpf_include = Path(libbpf_include)
        self.python = python or sys.executable
        self._lock = threading.Lock()
        self.compiles = 0  # compiler invocations by this Builder (bench/build.py reads it)

    # -- pieces ----------------------------------------------------------------

    def compiler_version(self, compiler: str = "clang") -> Optional[str]:
        # Keyed by the command that answers, so Builders with another clang differ.
        ident = (compiler, self.python) if compiler == "ziglang" else (compiler, self.clang)
        with _SHARED_LOCK:
            if ident in _VERSIONS:
                return _VERSIONS[ident]
            if compiler == "ziglang":
                v = _tool_version([self.python, "-m", "ziglang", "version"])
                _VERSIONS[ident] = f"zig {v}" if v else None
            else:
                _VERSIONS[ident] = _tool_version([self.clang, "--version"])
            return _VERSIONS[ident]

    def include_dir(self) -> Path:
        """A private include dir holding only `bpf/` (libbpf's headers).

        -I/usr/include would drag the host's libc headers into a BPF compile.
        """
        d = self.cache_dir / "include"
        link = d / "bpf"
        if not link.exists():
            src = self.libbpf_include / "bpf"
            if not (src / "bpf_helpers.h").is_file():
                raise BuildError(f"libbpf headers not found in {src} (install libbpf-dev)")
            d.mkdir(parents=True, exist_ok=True)
            # Unique per thread too: concurrent hosts of one run get here together.
            tmp = d / f".bpf.{os.getpid()}.{threading.get_ident()}"
            tmp.unlink(missing_ok=True)
            tmp.symlink_to(src.resolve())
            os.replace(tmp, link)
        return d

    def vmlinux_h(self, btf_path: Path) -> tuple[Path, str]:
        """(directory holding vmlinux.h for this BTF blob, BTF sha256)."""
        try:
            sha = _file_sha256(Path(btf_path))
        except OSError as e:
            raise BuildError(f"cannot read BTF {btf_path}: {e}") from None
        d = self.cache_dir / "vmlinux" / sha
        header = d / "vmlinux.h"
        if header.is_file():
            return d, sha
        with _SHARED_LOCK:  # hosts sharing a kernel dump it once
            lock = _KEY_LOCKS.setdefault(f"vmlinux:{sha}", threading.Lock())
        with lock:
            if not header.is_file():
                self._dump_header(Path(btf_path), d, header)
        return d, sha

    def _dump_header(self, btf_path: Path, d: Path, header: Path) -> None:
        d.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=d, prefix=".vmlinux.", suffix=".h")
        try:
            with os.fdopen(fd, "wb") as out:
                p = subprocess.run([self.bpftool, "btf", "dump", "file", str(btf_path),
                                    "format", "c"], stdout=out, stderr=subprocess.PIPE,
                                   timeout=300)
        except (OSError, subprocess.SubprocessError) as e:
            Path(tmp).unlink(missing_ok=True)
            raise BuildError(f"bpftool btf dump of {btf_path} failed: {e}") from None
        if p.returncode != 0:
            Path(tmp).unlink(missing_ok=True)
            raise BuildError(f"bpftool btf dump of {btf_path} failed: "
                             f"{p.stderr.decode('utf-8', 'replace').strip()}")
        os.replace(tmp, header)

    def _key(self, case: Case, btf_sha: str, argv_flags: list[str], compiler: str) -> str:
        h = hashlib.sha256()
        assert case.src is not None
        for part in (BUILDER_VERSION, _file_digest(case.src), btf_sha,
                     "\0".join(argv_flags), compiler, self.compiler_version(compiler) or "",
                     self._headers_digest(case.src.parent),
                     *(self._headers_digest(d) for d in shared_include_dirs(case))):
            h.update(part.encode() if isinstance(part, str) else part)
            h.update(b"\0")
        return h.hexdigest()

    @staticmethod
    def _headers_digest(d: Path) -> str:
        # Local headers next to the case change its object too. scandir, not glob:
        # every host of a run keys every case, and Path.glob was most of that time.
        h = hashlib.sha256()
        with os.scandir(d) as entries:
            names = sorted(e.name for e in entries if e.name.endswith(".h") and e.is_file())
        for name in names:
            h.update(name.encode() + b"\0" + _file_digest(d / name).encode())
        return h.hexdigest()

    def compile_case(self, case: Case, hdr_dir: Path, btf_sha: str, arch: str) -> BuildOutcome:
        if case.src is None:
            return BuildOutcome(True, None, "no BPF object to build")
        compiler = case.meta.get("compiler", "clang")
        cflags = list(case.meta.get("cflags") or [])
        if self.compiler_version(compiler) is None:
            hint = "pip install 'kmatrix[cpuv4]'" if compiler == "ziglang" else \
                f"{self.clang} not runnable"
            return BuildOutcome(False, None, f"compiler {compiler} is not available ({hint})")
        objs = self.cache_dir / "objs"
        objs.mkdir(parents=True, exist_ok=True)
        arch_c = archs.normalize(arch)
        try:
            key = self._key(case, btf_sha, [arch_c, *cflags], compiler)
        except OSError as e:
            return BuildOutcome(False, None, f"cannot read {case.src}: {e}")
        # Hosts build concurrently and often share a kernel (and a catalogue may hold
        # identical copies): one compile per key, the others wait and take the object.
        with _SHARED_LOCK:
            key_lock = _KEY_LOCKS.setdefault(key, threading.Lock())
        with key_lock:
            return self._compile(case, key, objs, hdr_dir, arch_c, cflags, compiler)

    def _compile(self, case: Case, key: str, objs: Path, hdr_dir: Path, arch_c: str,
                 cflags: list[str], compiler: str) -> BuildOutcome:
        assert case.src is not None
        obj = objs / f"{key}.bpf.o"
        if obj.is_file():
            log = obj.with_suffix(".log")
            return BuildOutcome(True, obj, log.read_text() if log.is_file() else "", cached=True)
        # A unique name: other processes (CI shards, pytest workers) share the cache.
        fd, tmp_name = tempfile.mkstemp(dir=objs, prefix=f".{key}.", suffix=".o")
        os.close(fd)
        tmp = Path(tmp_name)
        argv = compile_argv(compiler, case.src, tmp,
                            [hdr_dir, self.include_dir(), case.src.parent,
                             *shared_include_dirs(case)], arch_c, cflags, python=self.python)
        if compiler == "clang":
            argv[0] = self.clang
        with self._lock:
            self.compiles += 1
        try:
            p = subprocess.run(argv, capture_output=True, text=True, timeout=600)
        except (OSError, subprocess.SubprocessError) as e:
            tmp.unlink(missing_ok=True)
            return BuildOutcome(False, None, f"$ {' '.join(argv)}\n{e}")
        out = own_diagnostics((p.stdout + p.stderr).strip(),
                              [case.src.parent, hdr_dir, self.libbpf_include / "bpf",
                               *shared_include_dirs(case)])
        if p.returncode != 0:
            tmp.unlink(missing_ok=True)
            return BuildOutcome(False, None, f"$ {' '.join(map(str, argv))}\n{out}")
        log_tmp = tmp.with_suffix(".log")
        log_tmp.write_text(out)
        os.replace(log_tmp, obj.with_suffix(".log"))
        os.replace(tmp, obj)
        return BuildOutcome(True, obj, out)

    # -- whole host --------------------------------------------------------------

    def build_host(self, cases: Iterable[Case], btf_path: Path, arch: str
                   ) -> dict[str, BuildOutcome]:
        todo = [c for c in cases if c.build]
        if not todo:
            return {}
        hdr_dir, sha = self.vmlinux_h(Path(btf_path))
        self.include_dir()
        with ThreadPoolExecutor(max_workers=self.jobs) as pool:
            futs = {c.id: pool.submit(self.compile_case, c, hdr_dir, sha, arch) for c in todo}
            return {cid: f.result() for cid, f in futs.items()}


def remote_sources(cases: Iterable[Case]) -> dict[str, Path]:
    """build: remote: the sources to ship; the agent compiles them on the target."""
    return {c.id: c.src for c in cases if c.build and c.src is not None}
