"""Fast unit tests for the QEMU lab: cache keys, command lines, ports, manifest,
the build cache's atomicity and locking (with a fake builder), and Guest's
handling of a QEMU that dies (with a fake QEMU binary)."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from kmatrix.errors import LabError
from kmatrix.inventory import QemuSpec
from kmatrix.lab import image as lab_image
from kmatrix.lab import ports
from kmatrix.lab import qemu as lab_qemu

pytestmark = pytest.mark.fast


# The lab takes the inventory's own qemu: block.
Spec = QemuSpec


ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ5Yv7ihIMbN0LTbq8kiBaiGvWkkTB1E3m2S3YFx1nL1"


def fake_image(tmp: Path, arch: str = "x86_64", **kw: Any) -> lab_image.Image:
    hk = tmp / "host_key.pub"
    hk.write_text(ED25519 + " kmatrix-guest\n")
    args: dict[str, Any] = dict(
        arch=arch, suite="bookworm", kernel=tmp / "vmlinuz", initrd=tmp / "initrd.gz",
        disk=tmp / "disk.img", kernel_release="6.1.0-test", manifest=None,
        client_key=tmp / "client_key", host_key_pub=hk, console=lab_image.CONSOLES[arch],
    )
    args.update(kw)
    return lab_image.Image(**args)


# ---------------------------------------------------------------- cache key


def test_cache_key_covers_every_input() -> None:
    base = lab_image.cache_key("x86_64", "bookworm", ["a", "b"], None)
    assert len(base) == 64
    assert lab_image.cache_key("amd64", "bookworm", ["b", "a", "a"], None) == base
    assert lab_image.cache_key("x86_64", "bookworm", ["a", "b"], lab_image.DEFAULT_MIRROR) == base
    others = {
        lab_image.cache_key("aarch64", "bookworm", ["a", "b"], None),
        lab_image.cache_key("x86_64", "trixie", ["a", "b"], None),
        lab_image.cache_key("x86_64", "bookworm", ["a", "b", "c"], None),
        lab_image.cache_key("x86_64", "bookworm", ["a", "b"], "http://mirror.example/debian"),
    }
    assert base not in others and len(others) == 4


def test_cache_key_covers_builder_version(monkeypatch: pytest.MonkeyPatch) -> None:
    base = lab_image.cache_key("x86_64", "bookworm", ["a"], None)
    monkeypatch.setattr(lab_image, "BUILDER_VERSION", "999")
    assert lab_image.cache_key("x86_64", "bookworm", ["a"], None) != base


def test_image_name_and_default_suites() -> None:
    name = lab_image.image_name("arm64", Spec())
    assert name.startswith("aarch64-bookworm-") and len(name.rsplit("-", 1)[1]) == 12
    assert lab_image.image_name("riscv64", Spec()).startswith("riscv64-forky-")
    assert lab_image.image_name("x86_64", Spec(suite="trixie")).startswith("x86_64-trixie-")
    with pytest.raises(ValueError):
        lab_image.image_name("mips", Spec())


def test_package_list_extras_and_drops() -> None:
    assert lab_image.package_list(Spec()) == lab_image.DEFAULT_PACKAGES
    pk = lab_image.package_list(Spec(packages=["strace", "-linux-perf", "strace", "iproute2"]))
    assert "linux-perf" not in pk and pk.count("strace") == 1 and pk[-1] == "strace"
    assert "openssh-server" in pk and "python3-minimal" in pk


def test_mirror_lines() -> None:
    bw = lab_image.mirror_lines("bookworm", None)
    assert bw[0] == "deb http://deb.debian.org/debian bookworm main"
    assert any("bookworm-security" in x for x in bw) and any("bookworm-updates" in x for x in bw)
    assert lab_image.mirror_lines("forky", None) == ["deb http://deb.debian.org/debian forky main"]
    assert lab_image.mirror_lines("bookworm", "http://m.example/d") == ["deb http://m.example/d bookworm main"]


def test_default_cache_dir(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KMATRIX_CACHE", str(tmp_path))
    assert lab_image.default_cache_dir() == tmp_path / "images"
    monkeypatch.delenv("KMATRIX_CACHE")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert lab_image.default_cache_dir() == tmp_path / "xdg/kmatrix/images"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert lab_image.default_cache_dir() == Path.home() / ".cache/kmatrix/images"


# ---------------------------------------------------------------- command lines


def _opt(argv: list[str], flag: str) -> list[str]:
    return [argv[i + 1] for i, a in enumerate(argv) if a == flag]


@pytest.mark.parametrize(
    "arch,binary,machine,cpu,console",
    [
        ("x86_64", "qemu-system-x86_64", "q35", "max", "ttyS0"),
        ("aarch64", "qemu-system-aarch64", "virt,accel=tcg", "max,pauth-impdef=on", "ttyAMA0"),
        ("riscv64", "qemu-system-riscv64", "virt,accel=tcg", "rv64", "ttyS0"),
    ],
)
def test_qemu_argv_per_arch(tmp_path: Path, arch: str, binary: str, machine: str, cpu: str,
                            console: str) -> None:
    img = fake_image(tmp_path, arch)
    argv = lab_qemu.qemu_argv(arch, Spec(memory="1536M", smp=3), img, 42022, tmp_path / "serial.log")
    assert argv[0] == binary
    assert _opt(argv, "-machine") == [machine] and _opt(argv, "-cpu") == [cpu]
    assert _opt(argv, "-bios") == (["default"] if arch == "riscv64" else [])
    # x86_64's vCPUs share one TCG thread (int3 text patching, see qemu.MACHINE_ARGS)
    assert _opt(argv, "-accel") == (["tcg,thread=single"] if arch == "x86_64" else [])
    assert _opt(argv, "-smp") == ["3"] and _opt(argv, "-m") == ["1536M"]
    assert "-nographic" in argv and "-no-reboot" in argv
    assert not any("kvm" in a for a in argv)  # /dev/kvm here is PVM: never use it
    assert _opt(argv, "-append") == [f"console={console} panic=-1 quiet"]
    assert _opt(argv, "-kernel") == [str(img.kernel)] and _opt(argv, "-initrd") == [str(img.initrd)]
    drive = _opt(argv, "-drive")[0]
    assert drive.startswith(f"file={img.disk},format=raw,") and "cache=unsafe" in drive
    assert "snapshot=on" in drive  # the cached image is never written
    assert _opt(argv, "-netdev") == ["user,id=n0,hostfwd=tcp:127.0.0.1:42022-:22"]
    devices = _opt(argv, "-device")
    assert "virtio-blk-pci,drive=d0" in devices and "virtio-net-pci,netdev=n0,romfile=" in devices
    assert "virtio-rng-pci" in devices
    # append=on: a guest rebooted by the runner adds to the same console log
    assert f"file,id=ser0,path={tmp_path / 'serial.log'},append=on" in _opt(argv, "-chardev")


@pytest.mark.parametrize("arch,cpu", [("aarch64", "max,pauth=off"), ("riscv64", "rv64,zbb=false"),
                                      ("x86_64", "Skylake-Server")])
def test_qemu_argv_cpu_override(tmp_path: Path, arch: str, cpu: str) -> None:
    """qemu.cpu replaces the arch's default -cpu, and so the snapshot key's command line."""
    img = fake_image(tmp_path, arch)
    argv = lab_qemu.qemu_argv(arch, Spec(cpu=cpu), img, 42022, tmp_path / "serial.log")
    assert _opt(argv, "-cpu") == [cpu]
    assert cpu in lab_qemu.argv_template(arch, Spec(cpu=cpu), img)
    assert lab_qemu.argv_template(arch, Spec(), img) != lab_qemu.argv_template(arch, Spec(cpu=cpu),
                                                                               img)


def test_qemu_argv_user_image(tmp_path: Path) -> None:
    odd = tmp_path / "a,b"
    odd.mkdir()
    img = fake_image(tmp_path, "x86_64", kernel=None, initrd=None, disk=odd / "d.qcow2",
                     disk_format="qcow2", append="root=/dev/vda1 rw")
    argv = lab_qemu.qemu_argv("x86_64", Spec(), img, 2222, odd / "serial.log")
    assert "-kernel" not in argv and "-append" not in argv
    assert _opt(argv, "-drive")[0].startswith(f"file={tmp_path}/a,,b/d.qcow2,format=qcow2,")
    assert "virtio-blk-pci,drive=d0,bootindex=0" in _opt(argv, "-device")
    img2 = fake_image(tmp_path, "aarch64", append="root=/dev/vda rw")
    argv2 = lab_qemu.qemu_argv("aarch64", Spec(), img2, 2222, tmp_path / "s.log")
    assert _opt(argv2, "-append") == ["console=ttyAMA0 panic=-1 quiet root=/dev/vda rw"]
    # a firmware-booted disk (openEuler's qcow2 through UEFI / OpenSBI+U-Boot)
    fw = tmp_path / "QEMU_EFI.fd"
    img3 = fake_image(tmp_path, "riscv64", kernel=None, initrd=None, firmware=fw)
    argv3 = lab_qemu.qemu_argv("riscv64", Spec(), img3, 2222, tmp_path / "s.log")
    assert _opt(argv3, "-bios") == [str(fw)] and "-kernel" not in argv3


def test_qemu_argv_overlay_qmp_loadvm(tmp_path: Path) -> None:
    """A restored or snapshot-saving guest: its own qcow2 overlay instead of
    snapshot=on, a QMP socket, -loadvm; the rest of the command line is unchanged."""
    img = fake_image(tmp_path)
    plain = lab_qemu.qemu_argv("x86_64", Spec(), img, 2222, tmp_path / "s.log")
    argv = lab_qemu.qemu_argv("x86_64", Spec(), img, 2222, tmp_path / "s.log",
                              overlay=tmp_path / "a,b.qcow2", qmp=tmp_path / "q.sock",
                              loadvm="kmatrix")
    drive = _opt(argv, "-drive")[0]
    assert drive == f"file={tmp_path}/a,,b.qcow2,format=qcow2,if=none,id=d0,cache=unsafe"
    assert _opt(argv, "-qmp") == [f"unix:{tmp_path}/q.sock,server=on,wait=off"]
    assert argv[-2:] == ["-loadvm", "kmatrix"]
    rest = [a for a in argv if a not in (drive, "-qmp", "-loadvm", "kmatrix")
            and not a.startswith("unix:")]
    assert rest == [a for a in plain if not a.startswith("file=")]
    # what a snapshot's key takes: per-run values blanked, the rest as booted
    tmpl = lab_qemu.argv_template("x86_64", Spec(), img)
    assert _opt(tmpl, "-drive") == ["file=DISK,format=qcow2,if=none,id=d0,cache=unsafe"]
    assert _opt(tmpl, "-netdev") == ["user,id=n0,hostfwd=tcp:127.0.0.1:0-:22"]
    assert _opt(tmpl, "-m") == _opt(plain, "-m") and _opt(tmpl, "-append") == _opt(plain, "-append")


# ---------------------------------------------------------------- ports


def test_free_port_is_bindable_and_not_repeated() -> None:
    got = [ports.free_port() for _ in range(20)]
    assert len(set(got)) == 20
    for p in got[:3]:
        with socket.socket() as s:
            s.bind(("127.0.0.1", p))
    for p in got:
        ports.release(p)


def test_free_port_threads_get_distinct_ports() -> None:
    out: list[int] = []
    lock = threading.Lock()

    def grab() -> None:
        p = ports.free_port()
        with lock:
            out.append(p)

    ts = [threading.Thread(target=grab) for _ in range(16)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert len(set(out)) == 16
    for p in out:
        ports.release(p)


def test_is_listening() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert ports.is_listening(port)
    assert not ports.is_listening(port)


# ---------------------------------------------------------------- initramfs pieces


_KMOD_TOOLS = [shutil.which(t, path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/sbin"]))
               for t in ("depmod", "modprobe", "gcc")]

# Three real (if tiny) ELF modules, built with the host's gcc: `a` exports a_func,
# `b` calls it (a hard dep depmod finds through the symbol) and has a `pre:` soft dep
# on c's alias; `c` is compressed, as trixie's modules are.
_SYN_MODULES = {
    "a": ('int a_func(void) { return 1; }\n'
          'static const char ks[] __attribute__((section("__ksymtab_strings"), used)) = "a_func";\n',
          "name=a"),
    "b": ("extern int a_func(void);\nint b_func(void) { return a_func() + 1; }\n",
          "name=b\\0softdep=pre: c-alias\\0alias=fs-bee"),
    "c": ("", "name=c\\0alias=c-alias"),
}


@pytest.mark.skipif(None in _KMOD_TOOLS, reason="needs depmod, modprobe (kmod) and gcc")
def test_module_load_order_is_modprobes(tmp_path: Path) -> None:
    kver = "9.9.9-kmatrix"
    mdir = tmp_path / "lib/modules" / kver
    (mdir / "kernel/drivers").mkdir(parents=True)
    for name, (code, info) in _SYN_MODULES.items():
        src = tmp_path / f"{name}.c"
        src.write_text(code + 'static const char mi[] __attribute__((section(".modinfo"), used)) = '
                       f'"license=GPL\\0{info}\\0vermagic={kver} SMP mod_unload ";\n')
        subprocess.run(["gcc", "-c", "-o", str(mdir / "kernel/drivers" / f"{name}.ko"), str(src)],
                       check=True)
    subprocess.run(["xz", "--check=crc32", str(mdir / "kernel/drivers/c.ko")], check=True)
    (mdir / "modules.builtin").write_text("kernel/fs/ext9/ext9.ko\n")
    (mdir / "modules.order").write_text("".join(f"kernel/drivers/{n}.ko\n" for n in "abc"))
    (mdir / "modules.builtin.modinfo").write_bytes(b"")
    subprocess.run(["depmod", "-b", str(tmp_path), kver], check=True, capture_output=True)

    order = lab_image.module_load_order(tmp_path, kver, ["fs-bee", "ext9", "absent", "a"])
    # fs-bee is b's alias; ext9 is built in and "absent" not there: nothing to load.
    assert order == ["kernel/drivers/a.ko", "kernel/drivers/c.ko.xz", "kernel/drivers/b.ko"]
    assert lab_image.module_load_order(tmp_path, kver, ["ext9"]) == []


_DEBIAN_KERNELS = sorted(Path("/var/cache/apt/archives").glob("linux-image-[0-9]*.deb"))


@pytest.mark.skipif(None in _KMOD_TOOLS or not _DEBIAN_KERNELS,
                    reason="needs kmod and a Debian kernel .deb in the apt cache")
def test_module_load_order_on_a_debian_kernel(tmp_path: Path) -> None:
    deb = _DEBIAN_KERNELS[-1]
    subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp_path)], check=True)
    mods = next(p for p in (tmp_path / "lib/modules", tmp_path / "usr/lib/modules") if p.is_dir())
    (kver,) = [p.name for p in mods.iterdir()]
    if mods.parent.parent.name == "usr":  # merged /usr: modprobe -d looks under ROOT/lib
        (tmp_path / "lib").symlink_to("usr/lib")
    subprocess.run(["depmod", "-b", str(tmp_path), kver], check=True, capture_output=True)
    dep = {line.split(":")[0]: line.split(":")[1].split()
           for line in (mods / kver / "modules.dep").read_text().splitlines()}
    order = lab_image.module_load_order(tmp_path, kver, lab_image._INITRAMFS_MODULES)
    assert len(order) == len(set(order)) and all(p in dep for p in order)
    for i, p in enumerate(order):  # every hard dependency comes earlier
        assert all(d in order[:i] for d in dep[p]), p
    builtin = (mods / kver / "modules.builtin").read_text()
    for name in ("virtio_blk", "ext4"):  # each is either built in or in the list
        assert f"/{name}.ko" in builtin or any(f"/{name}.ko" in p for p in order), name


@pytest.mark.skipif(shutil.which("cpio") is None, reason="cpio not installed")
def test_newc_archive_is_readable_by_cpio(tmp_path: Path) -> None:
    data = lab_image.newc_archive([
        ("bin", stat.S_IFDIR | 0o755, b"", 0),
        ("bin/busybox", stat.S_IFREG | 0o755, b"\x7fELF" + b"x" * 13, 0),
        ("bin/sh", stat.S_IFLNK | 0o777, b"busybox", 0),
        ("dev/console", stat.S_IFCHR | 0o600, b"", (5 << 8) | 1),
    ])
    listing = subprocess.run(["cpio", "-itv", "--quiet"], input=data, capture_output=True, check=True)
    text = listing.stdout.decode()
    assert "bin/busybox" in text and "bin/sh -> busybox" in text
    assert re.search(r"^crw-------.* 5, +1 .*dev/console$", text, re.M)
    out = tmp_path / "x"
    out.mkdir()
    subprocess.run(["cpio", "-id", "--quiet", "bin/busybox"], input=data, cwd=out, check=True)
    assert (out / "bin/busybox").read_bytes() == b"\x7fELF" + b"x" * 13


# ---------------------------------------------------------------- cache, manifest, locking


class FakeBuilder:
    """Stands in for the mmdebstrap build: writes the artefacts, counts builds."""

    calls = 0
    fail = False
    delay = 0.0

    def __init__(self, arch: str, spec: Any, tmp: Path, say: Any, cancel: Any = None) -> None:
        self.arch, self.spec, self.tmp, self.say = arch, spec, tmp, say

    def build(self) -> None:
        type(self).calls += 1
        self.say("fake build")
        for n in ("vmlinuz", "initrd.gz", "disk.img", "client_key"):
            (self.tmp / n).write_bytes(n.encode())
        (self.tmp / "host_key.pub").write_text(ED25519 + "\n")
        time.sleep(self.delay)
        if self.fail:
            raise KeyboardInterrupt  # interrupted mid-build
        doc = {"arch": self.arch, "suite": lab_image.spec_suite(self.arch, self.spec),
               "kernel_release": "6.1.0-fake", "console": "ttyS0",
               "packages": [{"name": "libbpf1", "version": "1.1.2", "arch": "amd64"}],
               "sha256": {}}
        (self.tmp / "manifest.json").write_text(json.dumps(doc))


@pytest.fixture()
def fake_builder(monkeypatch: pytest.MonkeyPatch) -> type[FakeBuilder]:
    class B(FakeBuilder):
        calls = 0
        fail = False
        delay = 0.0

    monkeypatch.setattr(lab_image, "_Builder", B)
    return B


def test_ensure_image_builds_once_then_reuses(tmp_path: Path, fake_builder: type[FakeBuilder]) -> None:
    msgs: list[str] = []
    img = lab_image.ensure_image("x86_64", Spec(), tmp_path, msgs.append)
    assert fake_builder.calls == 1
    assert img.directory == tmp_path / lab_image.image_name("x86_64", Spec())
    assert img.kernel_release == "6.1.0-fake" and img.packages == {"libbpf1": "1.1.2"}
    assert img.host_key() == ED25519
    again = lab_image.ensure_image("x86_64", Spec(), tmp_path, msgs.append)
    assert fake_builder.calls == 1 and again.disk == img.disk
    assert any("cached" in m for m in msgs)
    lab_image.ensure_image("x86_64", Spec(packages=["strace"]), tmp_path, msgs.append)
    assert fake_builder.calls == 2  # a changed input is a new image
    assert not list(tmp_path.glob(".*.tmp.*"))


def test_interrupted_build_leaves_no_image(tmp_path: Path, fake_builder: type[FakeBuilder]) -> None:
    fake_builder.fail = True
    with pytest.raises(KeyboardInterrupt):
        lab_image.ensure_image("aarch64", Spec(), tmp_path, lambda m: None)
    assert not (tmp_path / lab_image.image_name("aarch64", Spec())).exists()
    assert not list(tmp_path.glob(".*.tmp.*"))
    fake_builder.fail = False
    assert lab_image.ensure_image("aarch64", Spec(), tmp_path, lambda m: None).arch == "aarch64"


def test_stale_temp_dir_from_killed_run_is_removed(tmp_path: Path, fake_builder: type[FakeBuilder]) -> None:
    name = lab_image.image_name("x86_64", Spec())
    stale = tmp_path / f".{name}.tmp.dead"
    (stale / "rootfs/etc").mkdir(parents=True)
    (stale / "disk.img").write_bytes(b"half")
    msgs: list[str] = []
    lab_image.ensure_image("x86_64", Spec(), tmp_path, msgs.append)
    assert not stale.exists() and any("interrupted build" in m for m in msgs)


def test_concurrent_ensure_image_builds_once(tmp_path: Path, fake_builder: type[FakeBuilder]) -> None:
    fake_builder.delay = 0.5
    results: list[lab_image.Image] = []
    msgs: list[str] = []
    ts = [threading.Thread(target=lambda: results.append(
        lab_image.ensure_image("riscv64", Spec(), tmp_path, msgs.append))) for _ in range(3)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert fake_builder.calls == 1 and len(results) == 3
    assert len({r.disk for r in results}) == 1


def test_incomplete_dir_is_not_an_image(tmp_path: Path) -> None:
    d = tmp_path / "x86_64-bookworm-000000000000"
    d.mkdir()
    (d / "manifest.json").write_text("{}")
    with pytest.raises(LabError, match="not a complete"):
        lab_image.load_image(d)


def test_mirror_error_is_reported_clearly(tmp_path: Path) -> None:
    b = lab_image._Builder("riscv64", Spec(suite="trixie"), tmp_path, lambda m: None)
    b.log.write_text("I: running apt-get update...\n"
                     "E: Failed to fetch http://deb.debian.org/debian/dists/trixie/main/binary-riscv64/"
                     "Packages.xz  File has unexpected size (123 != 456). Mirror sync in progress?\n")
    err = b._mmdebstrap_error(1)
    assert "trixie" in str(err) and "riscv64" in str(err) and "another suite" in str(err)
    assert "File has unexpected size" in str(err)
    b.log.write_text("E: Unable to locate package linux-perf\n")
    assert "-NAME" in str(b._mmdebstrap_error(1)) and "linux-perf" in str(b._mmdebstrap_error(1))


def test_user_image(tmp_path: Path) -> None:
    for n in ("d.qcow2", "vmlinuz", "initrd"):
        (tmp_path / n).write_bytes(b"x")
    spec = Spec(image={"disk": str(tmp_path / "d.qcow2"), "kernel": str(tmp_path / "vmlinuz"),
                       "initrd": str(tmp_path / "initrd"), "append": "root=/dev/vda",
                       "host_key_pub": ED25519 + " c"})
    img = lab_image.ensure_image("arm64", spec, tmp_path / "cache", lambda m: None)
    assert img.user_supplied and img.disk_format == "qcow2" and img.console == "ttyAMA0"
    assert img.host_key() == ED25519 and img.client_key is None
    assert not (tmp_path / "cache").exists()  # nothing built
    with pytest.raises(LabError, match="image.kernel is required"):
        lab_image.user_image("riscv64", Spec(image={"disk": str(tmp_path / "d.qcow2")}))
    with pytest.raises(LabError, match="does not exist"):
        lab_image.user_image("x86_64", Spec(image={"disk": str(tmp_path / "nope.img")}))
    nokey = lab_image.user_image("x86_64", Spec(image={"disk": str(tmp_path / "d.qcow2")}))
    assert nokey.disk_format == "qcow2" and nokey.kernel is None
    with pytest.raises(LabError, match="host_key_pub"):
        nokey.host_key()
    (tmp_path / "fw.fd").write_bytes(b"x")
    uefi = lab_image.user_image("aarch64", Spec(image={"disk": str(tmp_path / "d.qcow2"),
                                                       "firmware": str(tmp_path / "fw.fd")}))
    assert uefi.kernel is None and uefi.firmware == tmp_path / "fw.fd"


# ---------------------------------------------------------------- Guest with a fake QEMU


FAKE_QEMU = """\
#!{py}
# Fake qemu-system-*: behaviour chosen by $FAKE_QEMU_MODE.
import os, sys, time
argv = sys.argv[1:]
serial = [a for a in argv if a.startswith("file,id=ser0,path=")][0].split("path=", 1)[1]
serial = serial.rsplit(",append=on", 1)[0]
mode = os.environ["FAKE_QEMU_MODE"]
counter = os.environ["FAKE_QEMU_COUNTER"]
with open(counter, "a") as f:
    f.write("x")
if mode == "panic":
    open(serial, "w").write("booting\\nKernel panic - not syncing: VFS: Unable to mount root fs\\n")
    sys.exit(0)
if mode == "portrace" and len(open(counter).read()) < 3:
    sys.stderr.write("qemu: -netdev user: Could not set up host forwarding rule 'tcp:...'\\n")
    sys.exit(1)
# like QEMU user-net: listen on the forwarded port, accept, never speak SSH
import re, socket
port = int(re.search(r"hostfwd=tcp:127.0.0.1:(\\d+)-", " ".join(argv)).group(1))
s = socket.socket()
s.bind(("127.0.0.1", port))
s.listen()
open(serial, "w").write("KMATRIX: sshd ready\\n")
s.settimeout(60)
while True:
    c, _ = s.accept()
    c.close()
"""


@pytest.fixture()
def fake_qemu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    q = bindir / "qemu-system-x86_64"
    q.write_text(FAKE_QEMU.format(py=sys.executable))
    q.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_QEMU_COUNTER", str(tmp_path / "count"))
    return tmp_path / "count"


def test_guest_reports_qemu_death_with_serial_tail(tmp_path: Path, fake_qemu: Path,
                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_QEMU_MODE", "panic")
    g = lab_qemu.Guest("x86_64", Spec(), fake_image(tmp_path), tmp_path / "run")
    g.start()
    with pytest.raises(LabError) as ei:
        g.wait_ssh(timeout=30)
    msg = str(ei.value)
    assert "QEMU exited" in msg and "Kernel panic" in msg and str(g.serial_log) in msg
    assert g.crash_seen() and "Kernel panic" in g.crash_seen()  # type: ignore[operator]
    assert "VFS" in g.console_tail(1)
    g.stop()
    g.stop()  # idempotent


def test_guest_retries_port_race(tmp_path: Path, fake_qemu: Path,
                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_QEMU_MODE", "portrace")
    with lab_qemu.Guest("x86_64", Spec(), fake_image(tmp_path), tmp_path / "run") as g:
        g.start()
        deadline = time.monotonic() + 20
        while len(fake_qemu.read_text()) < 3 and time.monotonic() < deadline:
            g._relaunch_if_port_race()
            time.sleep(0.05)
        assert len(fake_qemu.read_text()) == 3 and g.alive()
        assert "was taken; retrying" in g.qemu_log.read_text()
        # the fake never speaks SSH: wait_ssh times out with the console in the message
        with pytest.raises(LabError, match="(?s)SSH not ready.*sshd ready"):
            g.wait_ssh(timeout=1)
        pid = g.pid
    assert not g.alive() and pid is not None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_guest_kill_and_known_hosts(tmp_path: Path, fake_qemu: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FAKE_QEMU_MODE", "hang")
    g = lab_qemu.Guest("x86_64", Spec(), fake_image(tmp_path), tmp_path / "run")
    with pytest.raises(LabError, match="before start"):
        _ = g.port
    g.start()
    assert g.alive()
    assert g.known_hosts_line() == f"[127.0.0.1]:{g.port} {ED25519}"
    kh = g.write_known_hosts(tmp_path / "kh")
    assert kh.read_text() == g.known_hosts_line() + "\n" and (kh.stat().st_mode & 0o777) == 0o600
    g.kill()
    assert not g.alive() and g.returncode == -9
    with pytest.raises(LabError, match="QEMU exited"):
        g.wait_ssh(timeout=5)
    g.stop()


def test_suite_suggestions_and_riscv64_bookworm(tmp_path: Path) -> None:
    assert lab_image.suggest_suite("riscv64", "trixie") == "forky"
    assert lab_image.suggest_suite("riscv64", "forky") == "trixie"
    assert lab_image.suggest_suite("x86_64", "bookworm") == "trixie"
    if os.geteuid() == 0:
        b = lab_image._Builder("riscv64", Spec(suite="bookworm"), tmp_path, lambda m: None)
        with pytest.raises(LabError, match="no riscv64 port"):
            b.build()


def test_build_slots_limit_concurrent_builds(tmp_path: Path, fake_builder: type[FakeBuilder],
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(lab_image, "_BUILD_SLOTS", threading.BoundedSemaphore(1))
    running = [0, 0]  # current, max
    lock = threading.Lock()
    orig = fake_builder.build

    def build(self: FakeBuilder) -> None:
        with lock:
            running[0] += 1
            running[1] = max(running[1], running[0])
        time.sleep(0.2)
        try:
            orig(self)
        finally:
            with lock:
                running[0] -= 1

    monkeypatch.setattr(fake_builder, "build", build)
    msgs: list[str] = []
    ts = [threading.Thread(target=lab_image.ensure_image,
                           args=("x86_64", Spec(packages=[f"pkg{i}"]), tmp_path, msgs.append))
          for i in range(3)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert fake_builder.calls == 3 and running[1] == 1
    assert any("waiting for a build slot" in m for m in msgs)


# ---------------------------------------------------------------- build details


def test_module_build_packages_are_defaults_on_every_arch_with_matching_headers() -> None:
    # issue 19: every lab image carries what kfunc/module_kfunc needs
    for arch, flavour in (("x86_64", "amd64"), ("aarch64", "arm64"), ("riscv64", "riscv64")):
        pkgs = lab_image.package_list(Spec(), arch)
        assert set(lab_image.MODULE_BUILD_PACKAGES) <= set(pkgs), arch
        assert lab_image.resolve_packages(arch, pkgs).count(f"linux-headers-{flavour}") == 1
    assert "gcc" not in lab_image.package_list(Spec(packages=["-gcc"]), "aarch64")
    # the defaults are part of the cache key: dropping one hashes apart
    assert lab_image.image_name("x86_64", Spec()) != lab_image.image_name(
        "x86_64", Spec(packages=["-gcc"]))


def test_boot_append_adds_bpf_to_the_kernels_own_lsm_list() -> None:
    debian = ('CONFIG_SECURITY=y\nCONFIG_BPF_LSM=y\n'
              'CONFIG_LSM="landlock,lockdown,yama,loadpin,safesetid,integrity,apparmor,selinux,'
              'smack,tomoyo"\n')
    assert lab_image.boot_append(debian) == (
        "lsm=landlock,lockdown,yama,loadpin,safesetid,integrity,apparmor,selinux,smack,tomoyo,bpf")
    # already active, or not built in, or no list to extend: nothing to add
    assert lab_image.boot_append(debian.replace('tomoyo"', 'tomoyo,bpf"')) == ""
    assert lab_image.boot_append(debian.replace("CONFIG_BPF_LSM=y", "# CONFIG_BPF_LSM is not set")) == ""
    assert lab_image.boot_append("CONFIG_BPF_LSM=y\n") == ""


def test_built_image_boots_with_its_manifest_append(tmp_path: Path) -> None:
    for n in ("vmlinuz", "initrd.gz", "disk.img", "client_key", "host_key.pub"):
        (tmp_path / n).write_text("x")
    (tmp_path / "manifest.json").write_text(json.dumps({
        "arch": "x86_64", "suite": "trixie", "kernel_release": "6.12.0-test",
        "append": "lsm=lockdown,capability,bpf"}))
    img = lab_image._load_complete(tmp_path)
    assert img is not None
    argv = lab_qemu.qemu_argv("x86_64", Spec(), img, 2222, tmp_path / "serial.log")
    assert _opt(argv, "-append") == ["console=ttyS0 panic=-1 quiet lsm=lockdown,capability,bpf"]


def test_suite_renames_are_in_package_list_and_cache_key(monkeypatch: pytest.MonkeyPatch) -> None:
    bull = lab_image.package_list(Spec(suite="bullseye"), "x86_64")
    assert "libbpf0" in bull and "libbpf1" not in bull
    assert bull.count("linux-base") == 1  # bullseye's /usr/bin/perf wrapper
    assert "linux-base" not in lab_image.package_list(Spec(suite="bullseye", packages=["-linux-perf"]))
    assert {"bpftool", "linux-perf", "dwarves", "python3-minimal"} <= set(bull)
    assert "libbpf1" in lab_image.package_list(Spec(suite="bookworm"), "x86_64")
    assert "libbpf1" in lab_image.package_list(Spec(), "aarch64")  # default suite: bookworm
    # a drop or an extra under either name works on the suite's name
    for drop in ("-libbpf1", "-libbpf0"):
        assert "libbpf0" not in lab_image.package_list(Spec(suite="bullseye", packages=[drop]), "aarch64")
    extra = lab_image.package_list(Spec(suite="bullseye", packages=["-libbpf1", "libbpf1"]), "aarch64")
    assert extra.count("libbpf0") == 1 and "libbpf1" not in extra
    # the per-suite names are part of the image's identity
    name = lab_image.image_name("x86_64", Spec(suite="bullseye"))
    monkeypatch.setattr(lab_image, "SUITE_RENAMES", {})
    assert lab_image.image_name("x86_64", Spec(suite="bullseye")) != name


# Real apt output: bullseye-security on deb.debian.org lists files it then 404s.
APT_404 = """\
Get:3 http://deb.debian.org/debian bullseye/main arm64 libcrypt1 arm64 1:4.4.18-4 [89.7 kB]
Err:4 http://deb.debian.org/debian-security bullseye-security/main arm64 libc6 arm64 2.31-13+deb11u14
  404  Not Found [IP: 203.0.113.80 80]
Fetched 326 kB in 0s (2458 kB/s)
E: Failed to fetch http://deb.debian.org/debian-security/pool/updates/main/g/glibc/libc6_2.31-13%2bdeb11u14_arm64.deb  404  Not Found [IP: 203.0.113.80 80]
E: Unable to fetch some archives, maybe run apt-get update or try with --fix-missing?
E: mmdebstrap failed to run
"""


def test_broken_pools_from_apt_output() -> None:
    assert lab_image.broken_pools(APT_404, "bullseye") == {
        "bullseye-security": "404 Not Found for libc6 2.31-13+deb11u14"}
    only_e = "\n".join(x for x in APT_404.splitlines() if not x.startswith(("Err", "  404")))
    assert lab_image.broken_pools(only_e, "bullseye") == {
        "bullseye-security": "404 Not Found for libc6_2.31-13+deb11u14_arm64.deb"}
    index = ("E: Failed to fetch http://deb.debian.org/debian/dists/bullseye-updates/main/"
             "binary-arm64/Packages.xz  File has unexpected size (1 != 2). Mirror sync in progress?")
    assert lab_image.broken_pools(index, "bullseye") == {
        "bullseye-updates": "File has unexpected size (1 != 2). Mirror sync in progress? for Packages.xz"}
    # the main suite, or another suite's pool, is never something to build without
    main = ("Err:9 http://deb.debian.org/debian bullseye/main arm64 libc6 arm64 2.31-13\n"
            "  404  Not Found [IP: 203.0.113.80 80]\n")
    assert lab_image.broken_pools(main, "bullseye") == {}
    err_only = "\n".join(APT_404.splitlines()[1:3])
    assert lab_image.broken_pools(err_only, "bookworm") == {}  # names bullseye-security
    assert lab_image.broken_pools("E: Unable to locate package libbpf1\n", "bullseye") == {}


def test_mirror_lines_drop_pools() -> None:
    assert lab_image.pool_names("bullseye", None) == ["bullseye", "bullseye-updates", "bullseye-security"]
    assert lab_image.mirror_lines("bullseye", None, drop={"bullseye-security"}) == [
        "deb http://deb.debian.org/debian bullseye main",
        "deb http://deb.debian.org/debian bullseye-updates main",
    ]


FAKE_MMDEBSTRAP = """\
#!/bin/sh
# Fake mmdebstrap: logs its argv; fails like apt on a 404 from the pool in $FAKE_BROKEN.
echo "$*" >> "$FAKE_CALLS"
case "$*" in
  *"$FAKE_BROKEN"*) cat "$FAKE_OUTPUT"; exit 25;;
esac
echo "I: success"
"""


@pytest.fixture()
def fake_mmdebstrap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "mmdebstrap").write_text(FAKE_MMDEBSTRAP)
    (bindir / "mmdebstrap").chmod(0o755)
    (tmp_path / "apt.out").write_text(APT_404)
    monkeypatch.setenv("PATH", f"{bindir}:{os.environ['PATH']}")
    monkeypatch.setenv("FAKE_CALLS", str(tmp_path / "calls"))
    monkeypatch.setenv("FAKE_OUTPUT", str(tmp_path / "apt.out"))
    monkeypatch.setenv("FAKE_BROKEN", "bullseye-security")
    return tmp_path / "calls"


def test_mmdebstrap_retries_once_without_a_broken_pool(tmp_path: Path, fake_mmdebstrap: Path) -> None:
    msgs: list[str] = []
    work = tmp_path / "w"
    work.mkdir()
    b = lab_image._Builder("aarch64", Spec(suite="bullseye"), work, msgs.append)
    b._mmdebstrap()
    calls = fake_mmdebstrap.read_text().splitlines()
    assert len(calls) == 2 and "bullseye-security" in calls[0] and "bullseye-security" not in calls[1]
    assert "bullseye-updates" in calls[1]
    retry = [m for m in msgs if "retrying" in m]
    assert len(retry) == 1 and retry[0].startswith(
        "image aarch64-bullseye: bullseye-security is broken on the mirror "
        "(404 Not Found for libc6 2.31-13+deb11u14); retrying without it")
    assert b.pools == ["bullseye", "bullseye-updates"]
    assert b.dropped_pools == {"bullseye-security": "404 Not Found for libc6 2.31-13+deb11u14"}
    assert "I: success" in b.log.read_text() and "Err:4" in b.log.read_text()  # both attempts kept


def test_mmdebstrap_no_retry_for_other_failures(tmp_path: Path, fake_mmdebstrap: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    # a broken main suite: no retry, the usual mirror error
    (tmp_path / "apt.out").write_text(
        "Err:9 http://deb.debian.org/debian bullseye/main arm64 libc6 arm64 2.31-13\n"
        "  404  Not Found [IP: 203.0.113.80 80]\n"
        "E: Failed to fetch http://deb.debian.org/debian/pool/main/g/glibc/libc6_2.31-13_arm64.deb"
        "  404  Not Found [IP: 203.0.113.80 80]\n")
    b = lab_image._Builder("aarch64", Spec(suite="bullseye"), tmp_path / "a", lambda m: None)
    (tmp_path / "a").mkdir()
    with pytest.raises(LabError, match="mirror is broken for suite 'bullseye'"):
        b._mmdebstrap()
    assert len(fake_mmdebstrap.read_text().splitlines()) == 1
    # still broken after the retry (every attempt fails): one retry, then the error
    fake_mmdebstrap.unlink()
    (tmp_path / "apt.out").write_text(APT_404)
    monkeypatch.setenv("FAKE_BROKEN", "bullseye")
    b = lab_image._Builder("x86_64", Spec(suite="bullseye"), tmp_path / "b", lambda m: None)
    (tmp_path / "b").mkdir()
    with pytest.raises(LabError, match="mirror is broken"):
        b._mmdebstrap()
    assert len(fake_mmdebstrap.read_text().splitlines()) == 2
    # a suite without -security/-updates pools never retries
    fake_mmdebstrap.unlink()
    b = lab_image._Builder("riscv64", Spec(suite="forky"), tmp_path / "c", lambda m: None)
    (tmp_path / "c").mkdir()
    monkeypatch.setenv("FAKE_BROKEN", "forky")
    with pytest.raises(LabError):
        b._mmdebstrap()
    assert len(fake_mmdebstrap.read_text().splitlines()) == 1


def test_build_progress_names_stage_and_package() -> None:
    log = ("I: installing remaining packages inside the chroot...\n"
           "Preparing to unpack .../gcc-14_14.2.0-19_amd64.deb ...\n"
           "Unpacking gcc-14 (14.2.0-19) ...\n"
           "Setting up python3.13 (3.13.5-2) ...\n")
    line, stage = lab_image.build_progress(log)
    assert line == ("installing remaining packages inside the chroot - "
                    "Setting up python3.13 (3.13.5-2) ...")
    # a tail without a stage line keeps the last stage seen
    line2, _ = lab_image.build_progress(
        "Get:7 http://deb.debian.org/debian forky/main riscv64 libc6 riscv64 2.41-12 [1 MB]\n", stage)
    assert line2 == "installing remaining packages inside the chroot - downloading libc6"
    assert lab_image.build_progress("")[0] == "(no output yet)"


def test_disk_size_leaves_headroom_and_is_aligned() -> None:
    mib = 1 << 20
    for used in (0, 300 * mib, 681 * mib, 5 << 30):
        size = lab_image.disk_size(used)
        assert size % (64 * mib) == 0
        assert size >= used + used // 5 + lab_image.DISK_HEADROOM_BYTES
        assert size < used + used // 5 + lab_image.DISK_HEADROOM_BYTES + 64 * mib


def test_host_depmod_used_only_for_supported_compression() -> None:
    v = "kmod version 30\n+ZSTD +XZ -ZLIB +LIBCRYPTO -EXPERIMENTAL\n"
    assert lab_image.host_depmod_handles(v, {"xz"})
    assert lab_image.host_depmod_handles(v, {"zst", "xz"})
    assert lab_image.host_depmod_handles(v, set())
    assert not lab_image.host_depmod_handles(v, {"gz"})
    assert not lab_image.host_depmod_handles(v, {"lz4"})
    assert not lab_image.host_depmod_handles("", {"xz"})


def test_cancel_stops_waiting_for_another_builder(tmp_path: Path,
                                                  fake_builder: type[FakeBuilder]) -> None:
    """Ctrl-C at the runner (its stop event) while another process holds the image
    lock: ensure_image gives up within a second or two instead of waiting."""
    import fcntl

    name = lab_image.image_name("x86_64", Spec())
    cancel = threading.Event()
    with open(tmp_path / f".{name}.lock", "a+") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        errors: list[BaseException] = []

        def waiter() -> None:
            try:
                lab_image.ensure_image("x86_64", Spec(), tmp_path, lambda m: None, cancel)
            except LabError as e:
                errors.append(e)

        t = threading.Thread(target=waiter)
        t.start()
        time.sleep(0.5)
        assert t.is_alive()
        t0 = time.monotonic()
        cancel.set()
        t.join(10)
        assert not t.is_alive() and time.monotonic() - t0 < 5
    assert errors and "cancelled" in str(errors[0])
    assert fake_builder.calls == 0
