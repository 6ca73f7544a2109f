"""The agent's own libbpf: fetched from Debian (controller), shipped in agent.pyz,
checked and loaded by path on the target (agent/libload.py + preflight).

Tests named test_network_* download Debian's real libbpf1 from the mirror
(``$KMATRIX_DEBIAN_MIRROR`` or deb.debian.org); ``KMATRIX_OFFLINE=1`` skips them.
The rest build a fake file:// mirror or fake the target.
"""

from __future__ import annotations

import hashlib
import io
import json
import lzma
import os
import platform
import shutil
import stat
import subprocess
import sys
import tarfile
import types
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kmatrix import archs
from kmatrix.agent import libbpf as agent_libbpf
from kmatrix.agent import libload, preflight
from kmatrix.agent.main import Bundle
from kmatrix.bundle import make_bundle, make_plan
from kmatrix.inventory import load_hosts_text
from kmatrix.libbpf_bundle import (
    BUNDLE_MEMBER,
    BundledLib,
    LibbpfFetchError,
    fetch_libbpf,
    read_elf_needs,
)

network = pytest.mark.skipif(os.environ.get("KMATRIX_OFFLINE") == "1",
                             reason="KMATRIX_OFFLINE=1: no downloads from the Debian mirror")
NEEDS = {"mode": "bundled", "version": "1.1.2", "glibc": "2.28",
         "needed": ["libelf.so.1", "libz.so.1", "libc.so.6"]}
HERE_ARCH = archs.normalize(platform.machine())


def _system_libbpf() -> bool:
    try:
        agent_libbpf.Libbpf()
    except OSError:
        return False
    return True


def _mapped(needle: str) -> str:
    """The path of a file mapped into this process whose name contains `needle`."""
    with open("/proc/self/maps") as f:
        for line in f:
            path = line.rsplit(None, 1)[-1]
            if needle in os.path.basename(path):
                return path
    raise AssertionError(f"{needle} is not mapped")


# ---------------------------------------------------------------- real Debian download



@pytest.fixture(autouse=True)
def _own_cache(monkeypatch: pytest.MonkeyPatch) -> None:
    # These tests are about the cache itself: not the machine-wide one conftest sets.
    monkeypatch.delenv("KMATRIX_LIBBPF_CACHE", raising=False)

@pytest.fixture(scope="module")
def real_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    with pytest.MonkeyPatch.context() as mp:  # module scope: before the autouse fixture
        mp.delenv("KMATRIX_LIBBPF_CACHE", raising=False)
        yield tmp_path_factory.mktemp("libbpf-cache")


@pytest.fixture(scope="module")
def real_lib(real_cache: Path) -> BundledLib:
    said: list[str] = []
    lib = fetch_libbpf("x86_64", real_cache, said.append)
    assert any("downloading libbpf1_" in m for m in said), said
    return lib


@network
def test_network_fetch_amd64_libbpf1(real_lib: BundledLib, real_cache: Path) -> None:
    assert real_lib.version == "1.1.2"
    assert real_lib.suite == "bookworm" and real_lib.arch == "x86_64"
    assert real_lib.deb.startswith("libbpf1_1.1.2-") and real_lib.deb.endswith("_amd64.deb")
    assert real_lib.path.name == "libbpf.so.1.1.2"
    assert hashlib.sha256(real_lib.path.read_bytes()).hexdigest() == real_lib.sha256
    assert real_lib.path.parent.parent == real_cache / "libbpf" / "x86_64"
    manifest = json.loads((real_lib.path.parent / "manifest.json").read_text())
    assert manifest["sha256"] == real_lib.sha256 and manifest["glibc"] == "2.28"
    if shutil.which("gpgv") and Path("/usr/share/keyrings/debian-archive-keyring.gpg").exists():
        assert real_lib.signed


@network
def test_network_elf_needs_of_real_file(real_lib: BundledLib) -> None:
    needs = read_elf_needs(real_lib.path)
    assert needs.soname == "libbpf.so.1"
    assert needs.needed == ("libelf.so.1", "libz.so.1", "libc.so.6")
    assert needs.glibc == "2.28" == real_lib.glibc
    assert needs.glibc_needs[0] == "GLIBC_2.2.5" and needs.glibc_needs[-1] == "GLIBC_2.28"
    versions = dict(needs.versions)
    assert versions["libelf.so.1"] == ("ELFUTILS_1.0", "ELFUTILS_1.3", "ELFUTILS_1.5",
                                       "ELFUTILS_1.6")
    assert versions["libz.so.1"] == ("ZLIB_1.2.3.3",)
    readelf = shutil.which("readelf")
    if readelf:  # binutils agrees
        out = subprocess.run([readelf, "-V", "-d", str(real_lib.path)], capture_output=True,
                             text=True, check=True).stdout
        for name in needs.glibc_needs + needs.needed:
            assert name in out, name


@network
def test_network_cache_reused_without_network(real_lib: BundledLib, real_cache: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    def no_network(*_a: Any, **_k: Any) -> Any:
        raise AssertionError("the cache must answer without the network")

    monkeypatch.setattr(urllib.request, "urlopen", no_network)
    said: list[str] = []
    again = fetch_libbpf("amd64", real_cache, said.append)
    assert again == real_lib
    assert said == []


@network
def test_network_damaged_cache_is_refetched(real_lib: BundledLib, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    shutil.copytree(real_lib.path.parents[2], cache / "libbpf")
    victim = cache / "libbpf" / "x86_64" / real_lib.path.parent.name / real_lib.path.name
    os.chmod(victim, 0o644)
    victim.write_bytes(b"not libbpf")
    lib = fetch_libbpf("x86_64", cache)
    assert lib.sha256 == real_lib.sha256 and lib.path.read_bytes() == real_lib.path.read_bytes()


@network
def test_network_libload_loads_bundled_file_by_path(real_lib: BundledLib, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir(mode=0o700)
    plan = make_plan([], run_id="t", workdir=str(work), arch="x86_64")
    pyz = make_bundle([], {}, plan, tmp_path / "agent.pyz", libbpf=real_lib)
    bundle = Bundle(str(pyz))
    shipped = json.loads(bundle.read("plan.json"))["libbpf"]
    assert shipped == real_lib.plan_entry()
    assert shipped["path"] == BUNDLE_MEMBER == "lib/libbpf.so.1"
    lb = libload.load(bundle, {"libbpf": shipped}, str(work))
    path = work / "lib" / "libbpf.so.1.1.2"
    assert lb.path == str(path)
    assert _mapped_exact(str(path))  # loaded from the workdir, not the system's copy
    assert lb.version() == "1.1.2"
    assert lb.lib.libbpf_version_string() == b"v1.1"
    assert stat.S_IMODE(os.stat(work / "lib").st_mode) == 0o700
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o500
    with pytest.raises(agent_libbpf.MissingSymbol,
                       match=r"^libbpf 1\.1\.2 \(libbpf\.so\.1\.1\.2\) lacks bpf_no_such_fn$"):
        lb.lib.bpf_no_such_fn  # noqa: B018
    # A second agent run in the same workdir reuses the verified copy.
    assert libload.load(bundle, {"libbpf": shipped}, str(work)).version() == "1.1.2"


def _mapped_exact(path: str) -> bool:
    with open("/proc/self/maps") as f:
        return any(line.rstrip("\n").endswith(" " + path) for line in f)


@network
def test_network_agent_hello_reports_bundled_version(real_lib: BundledLib, tmp_path: Path) -> None:
    work = tmp_path / "work"
    work.mkdir(mode=0o700)
    plan = make_plan([], run_id="t", workdir=str(work), arch="x86_64")
    pyz = make_bundle([], {}, plan, work / "agent.pyz", libbpf=real_lib)
    p = subprocess.run([sys.executable, str(pyz), "run", "--workdir", str(work)],
                       capture_output=True, text=True, timeout=300)
    hello = json.loads(p.stdout.splitlines()[0])
    assert hello["event"] == "hello", p.stdout + p.stderr
    assert hello["libbpf"] == "1.1.2" and hello["libbpf_error"] is None, hello
    assert (work / "lib" / "libbpf.so.1.1.2").is_file()


# ---------------------------------------------------------------- fake mirror (offline)


def _tar_xz(files: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:xz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("./usr/lib/x/libbpf.so.1")
        link.type = tarfile.SYMTYPE
        link.linkname = "libbpf.so.1.1.2"
        tar.addfile(link)
    return buf.getvalue()


def _ar(members: dict[str, bytes]) -> bytes:
    out = [b"!<arch>\n"]
    for name, data in members.items():
        head = f"{name:<16}{0:<12}{0:<6}{0:<6}{100644:<8}{len(data):<10}`\n".encode()
        out += [head, data, b"\n" if len(data) % 2 else b""]
    return b"".join(out)


def _fake_mirror(root: Path, elf: bytes, *, deb_sha: str = "") -> str:
    """A file:// Debian mirror with one libbpf1 for this machine's arch."""
    debarch = archs.info(HERE_ARCH).debian
    deb = _ar({"debian-binary": b"2.0\n", "control.tar.xz": _tar_xz({}),
               "data.tar.xz": _tar_xz({"./usr/lib/x/libbpf.so.1.1.2": elf})})
    pool = root / "pool" / "main" / "libb" / "libbpf"
    pool.mkdir(parents=True)
    deb_name = f"libbpf1_1.1.2-0+deb12u1_{debarch}.deb"
    (pool / deb_name).write_bytes(deb)
    stanza = (f"Package: libbpf1\nVersion: 1:1.1.2-0+deb12u1\nArchitecture: {debarch}\n"
              f"Filename: pool/main/libb/libbpf/{deb_name}\nSize: {len(deb)}\n"
              f"SHA256: {deb_sha or hashlib.sha256(deb).hexdigest()}\n"
              "Description: library for BPF\n extended description\n")
    packages = lzma.compress(("Package: other\nVersion: 1\n\n" + stanza).encode())
    index = f"main/binary-{debarch}/Packages.xz"
    (root / "dists" / "bookworm" / Path(index).parent).mkdir(parents=True)
    (root / "dists" / "bookworm" / index).write_bytes(packages)
    (root / "dists" / "bookworm" / "InRelease").write_text(
        "Origin: Debian\nCodename: bookworm\nSHA256:\n"
        f" {hashlib.sha256(packages).hexdigest()} {len(packages)} {index}\n")
    return root.as_uri()


@pytest.fixture
def some_elf() -> bytes:
    # Any real shared object of this machine stands in for libbpf's bytes.
    return Path(_mapped("libc.so")).read_bytes()


@pytest.fixture
def unsigned(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KMATRIX_DEBIAN_KEYRING", str(tmp_path / "no-keyring.gpg"))


@pytest.mark.fast
def test_fake_mirror_fetch_and_cache(tmp_path: Path, some_elf: bytes, unsigned: None,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KMATRIX_DEBIAN_MIRROR", _fake_mirror(tmp_path / "mirror", some_elf))
    said: list[str] = []
    lib = fetch_libbpf(HERE_ARCH, tmp_path / "cache", said.append)
    assert lib.version == "1.1.2" and not lib.signed
    assert any("signature not checked" in m for m in said)
    assert lib.path.read_bytes() == some_elf
    assert lib.path.parent == tmp_path / "cache" / "libbpf" / HERE_ARCH / "1.1.2-0+deb12u1"
    assert lib.needed == read_elf_needs(lib.path).needed
    assert fetch_libbpf(HERE_ARCH, tmp_path / "cache") == lib  # cached


@pytest.mark.fast
def test_deb_sha256_mismatch_refused(tmp_path: Path, some_elf: bytes, unsigned: None,
                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KMATRIX_DEBIAN_MIRROR",
                       _fake_mirror(tmp_path / "mirror", some_elf, deb_sha="0" * 64))
    with pytest.raises(LibbpfFetchError, match=r"sha256 [0-9a-f]{64} does not match .* refusing"):
        fetch_libbpf(HERE_ARCH, tmp_path / "cache")
    left = [p.name for p in (tmp_path / "cache" / "libbpf" / HERE_ARCH).iterdir()]
    assert left == [".lock"]  # nothing cached, no temporary directory left


@pytest.mark.fast
def test_index_sha256_mismatch_refused(tmp_path: Path, some_elf: bytes, unsigned: None,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    url = _fake_mirror(tmp_path / "mirror", some_elf)
    release = tmp_path / "mirror" / "dists" / "bookworm" / "InRelease"
    text = release.read_text().splitlines()
    text[-1] = " " + "f" * 64 + " " + text[-1].split(" ", 2)[2]
    release.write_text("\n".join(text) + "\n")
    monkeypatch.setenv("KMATRIX_DEBIAN_MIRROR", url)
    with pytest.raises(LibbpfFetchError, match="Packages.xz: sha256 .* does not match"):
        fetch_libbpf(HERE_ARCH, tmp_path / "cache")


# ---------------------------------------------------------------- bundle.py


def _fake_lib(path: Path) -> BundledLib:
    return BundledLib(path=path, version="1.1.2", sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
                      deb="libbpf1_1.1.2-0+deb12u1_amd64.deb", deb_version="1:1.1.2-0+deb12u1",
                      suite="bookworm", arch="x86_64", glibc="2.28",
                      glibc_needs=("GLIBC_2.2.5", "GLIBC_2.28"),
                      needed=("libelf.so.1", "libz.so.1", "libc.so.6"), versions=(), signed=True)


@pytest.mark.fast
def test_bundle_ships_lib_or_nothing(tmp_path: Path) -> None:
    so = tmp_path / "libbpf.so.1.1.2"
    so.write_bytes(b"\x7fELF fake")
    plan = make_plan([], run_id="t", workdir="/tmp/w", arch="x86_64")
    with zipfile.ZipFile(make_bundle([], {}, plan, tmp_path / "sys.pyz")) as z:
        assert json.loads(z.read("plan.json"))["libbpf"] == {"mode": "system"}
        assert BUNDLE_MEMBER not in z.namelist()
    with zipfile.ZipFile(make_bundle([], {}, plan, tmp_path / "b.pyz", libbpf=_fake_lib(so))) as z:
        block = json.loads(z.read("plan.json"))["libbpf"]
        assert z.read(BUNDLE_MEMBER) == so.read_bytes()
    assert block == {"mode": "bundled", "version": "1.1.2", "path": "lib/libbpf.so.1",
                     "sha256": hashlib.sha256(so.read_bytes()).hexdigest(), "glibc": "2.28",
                     "needed": ["libelf.so.1", "libz.so.1", "libc.so.6"],
                     "source": "bookworm/libbpf1_1.1.2-0+deb12u1_amd64.deb"}
    # Same members, same cached base: the second host's bundle only differs in plan.json.
    from kmatrix import bundle as bundle_mod
    n = len(bundle_mod._BASES)
    make_bundle([], {}, dict(plan, run_id="u"), tmp_path / "c.pyz", libbpf=_fake_lib(so))
    assert len(bundle_mod._BASES) == n


# ---------------------------------------------------------------- target side (offline)


def _dir_bundle(tmp_path: Path, data: bytes) -> Bundle:
    (tmp_path / "b" / "lib").mkdir(parents=True)
    (tmp_path / "b" / "lib" / "libbpf.so.1").write_bytes(data)
    return Bundle(str(tmp_path / "b"))


@pytest.mark.fast
def test_libload_refuses_sha256_mismatch(tmp_path: Path) -> None:
    bundle = _dir_bundle(tmp_path, b"tampered")
    spec = dict(NEEDS, sha256="0" * 64, path="lib/libbpf.so.1")
    with pytest.raises(libload.LibbpfUnavailable, match="plan.json says 0{64}; refusing"):
        libload.load(bundle, {"libbpf": spec}, str(tmp_path / "w"))
    assert not (tmp_path / "w" / "lib" / "libbpf.so.1.1.2").exists()


@pytest.mark.fast
def test_libload_unknown_mode(tmp_path: Path) -> None:
    with pytest.raises(libload.LibbpfUnavailable, match="mode 'vendored'"):
        libload.load(_dir_bundle(tmp_path, b""), {"libbpf": {"mode": "vendored"}}, str(tmp_path))


@pytest.mark.fast
@pytest.mark.skipif(not _system_libbpf(), reason="no system libbpf here")
def test_libload_system_mode_searches_as_before(tmp_path: Path) -> None:
    for plan in ({}, {"libbpf": {"mode": "system"}}):
        lb = libload.load(_dir_bundle(tmp_path / str(len(plan)), b""), plan, str(tmp_path))
        assert lb.path is None and lb.soname in ("libbpf.so.1", "libbpf.so.0")


def _fake_target(monkeypatch: pytest.MonkeyPatch, os_id: str, missing: str = "",
                 glibc: str = "2.36") -> None:
    def cdll(name: str, *_a: Any, **_k: Any) -> object:
        if name == missing:
            raise OSError(f"{name}: cannot open shared object file: No such file or directory")
        return object()

    monkeypatch.setattr(preflight, "ctypes", types.SimpleNamespace(CDLL=cdll))
    monkeypatch.setattr(preflight, "os_release", lambda: {"ID": os_id} if os_id else {})
    monkeypatch.setattr(preflight, "_glibc_version", lambda: glibc)


@pytest.mark.fast
def test_missing_libelf_on_debian(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_target(monkeypatch, "debian", missing="libelf.so.1")
    assert preflight.libbpf_loadable(NEEDS) == (
        "the bundled libbpf 1.1.2 needs libelf.so.1, which this target lacks: install libelf1")


@pytest.mark.fast
@pytest.mark.parametrize("soname,rpm,deb", [("libelf.so.1", "elfutils-libelf", "libelf1"),
                                            ("libz.so.1", "zlib", "zlib1g")])
def test_missing_lib_on_rpm_target_names_both_packages(monkeypatch: pytest.MonkeyPatch,
                                                       soname: str, rpm: str, deb: str) -> None:
    _fake_target(monkeypatch, "openEuler", missing=soname)
    assert preflight.libbpf_loadable(NEEDS) == (
        f"the bundled libbpf 1.1.2 needs {soname}, which this target lacks: "
        f"install {rpm} (openEuler/rpm; Debian: {deb})")


@pytest.mark.fast
def test_old_glibc_is_one_sentence(monkeypatch: pytest.MonkeyPatch) -> None:
    _fake_target(monkeypatch, "openEuler", glibc="2.34")
    why = preflight.libbpf_loadable(dict(NEEDS, version="1.5.0", glibc="2.38"))
    assert why == ("the bundled libbpf 1.5.0 needs glibc >= 2.38 (GLIBC_2.38) but this target "
                   "has glibc 2.34; set `libbpf: system` for this host or upgrade "
                   "glibc (openEuler/rpm; Debian: libc6)")
    _fake_target(monkeypatch, "debian", glibc="2.31")  # bullseye loads bookworm's build
    assert preflight.libbpf_loadable(NEEDS) is None


@pytest.mark.fast
def test_missing_symbol_version_of_a_dependency(monkeypatch: pytest.MonkeyPatch,
                                                tmp_path: Path) -> None:
    path = str(tmp_path / "libbpf.so.1.1.2")

    def cdll(name: str, *_a: Any, **_k: Any) -> object:
        if name == path:
            raise OSError(f"/usr/lib64/libelf.so.1: version `ELFUTILS_1.6' not found "
                          f"(required by {path})")
        return object()

    _fake_target(monkeypatch, "openEuler")
    monkeypatch.setattr(preflight, "ctypes", types.SimpleNamespace(CDLL=cdll))
    assert preflight.libbpf_loadable(NEEDS, path) == (
        "the bundled libbpf 1.1.2 needs ELFUTILS_1.6 from libelf.so.1, which this target's "
        "libelf.so.1 lacks: upgrade elfutils-libelf (openEuler/rpm; Debian: libelf1)")


@pytest.mark.fast
def test_glibc_version_here() -> None:
    lib, ver = platform.libc_ver()
    if lib != "glibc":
        pytest.skip("not a glibc system")
    assert preflight._glibc_version() == ver


@pytest.mark.fast
def test_missing_symbol_message() -> None:
    e = agent_libbpf.MissingSymbol("libbpf 0.3.0 (libbpf.so.0)", "bpf_object__next_map")
    assert isinstance(e, AttributeError) and e.symbol == "bpf_object__next_map"
    assert str(e) == "libbpf 0.3.0 (libbpf.so.0) lacks bpf_object__next_map"


@pytest.mark.fast
@pytest.mark.skipif(not _system_libbpf(), reason="no system libbpf here")
def test_missing_symbol_from_system_libbpf() -> None:
    lb = agent_libbpf.Libbpf()
    with pytest.raises(agent_libbpf.MissingSymbol) as ei:
        lb.lib.bpf_object__no_such_thing  # noqa: B018
    assert str(ei.value) == f"libbpf {lb.version()} ({lb.soname}) lacks bpf_object__no_such_thing"
    assert not hasattr(lb.lib, "bpf_object__no_such_thing")
    assert hasattr(lb.lib, "bpf_object__open_file")


# ---------------------------------------------------------------- inventory


@pytest.mark.fast
def test_host_libbpf_field() -> None:
    text = ("hosts:\n  - {name: a, arch: x86_64, address: 10.0.0.1}\n"
            "  - {name: b, arch: riscv64, address: 10.0.0.2, libbpf: system}\n")
    a, b = load_hosts_text(text)
    assert (a.libbpf, b.libbpf) == ("bundled", "system")
