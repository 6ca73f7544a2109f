"""End-to-end QEMU lab: build (or reuse from the cache) the x86_64 trixie image the
default hosts.yaml and the three-arch run use, boot it under TCG and talk to it over
real SSH with strict host key checking; boot a user-supplied image (the lab's own
files, disk as a qcow2 overlay) next to it, concurrently, on its own port; and make
real mmdebstrap fail on a dead mirror.

Uses the shared image cache ($KMATRIX_CACHE/images or ~/.cache/kmatrix/images), so
only the first run pays for the build (needs root).
"""

from __future__ import annotations

import io
import json
import os
import shutil
import socket
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import paramiko
import pytest

from kmatrix.errors import LabError
from kmatrix.lab import image as lab_image
from kmatrix.lab import ports
from kmatrix.lab import qemu as lab_qemu

pytestmark = [
    pytest.mark.lab,
    pytest.mark.skipif(shutil.which("qemu-system-x86_64") is None, reason="qemu-system-x86 missing"),
    pytest.mark.skipif(os.geteuid() != 0, reason="the lab builder needs root"),
]


@dataclass
class Spec:
    suite: str = "trixie"  # the same image as hosts.yaml's lab-x86_64-trixie
    packages: list[str] = field(default_factory=list)
    mirror: Optional[str] = None
    image: Optional[dict[str, Any]] = None
    memory: str = "1G"
    smp: int = 2
    boot_timeout: float = 600.0


@pytest.fixture(scope="module")
def built() -> lab_image.Image:
    lines: list[str] = []
    img = lab_image.ensure_image("x86_64", Spec(), lab_image.default_cache_dir(), lines.append)
    assert lines, "ensure_image reported no progress"
    return img


@pytest.fixture(scope="module")
def guest(built: lab_image.Image,
          tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[lab_qemu.Guest, Path]]:
    run_dir = tmp_path_factory.mktemp("guest")
    with lab_qemu.Guest("x86_64", Spec(), built, run_dir) as g:
        g.start()
        g.wait_ssh(timeout=600)
        yield g, g.write_known_hosts(run_dir / "known_hosts")
    assert not g.alive()


def ssh_client(port: int, key: Path, known_hosts: Path) -> paramiko.SSHClient:
    c = paramiko.SSHClient()
    c.load_host_keys(str(known_hosts))
    c.set_missing_host_key_policy(paramiko.RejectPolicy())
    c.connect("127.0.0.1", port=port, username="root", key_filename=str(key),
              look_for_keys=False, allow_agent=False, timeout=30, banner_timeout=120,
              auth_timeout=120)
    return c


def run(c: paramiko.SSHClient, cmd: str) -> str:
    _stdin, stdout, _stderr = c.exec_command(cmd, timeout=120)
    out = stdout.read().decode()
    assert stdout.channel.recv_exit_status() == 0, cmd
    return out


def test_built_image_manifest(built: lab_image.Image) -> None:
    assert built.manifest is not None
    doc = json.loads(built.manifest.read_text())
    assert doc["arch"] == "x86_64" and doc["suite"] == "trixie"
    names = {p["name"]: p["version"] for p in doc["packages"]}
    for p in lab_image.resolve_packages("x86_64", lab_image.package_list(Spec(), "x86_64")):
        assert names.get(p), p
    assert doc["kernel_release"] == built.kernel_release and built.kernel_release.endswith("amd64")
    # module builds in the guest: headers of exactly the booted kernel
    assert names.get(f"linux-headers-{built.kernel_release}"), sorted(names)
    assert doc["kernel_packages"] and all(
        k["version"] == names[f"linux-headers-{built.kernel_release}"]
        for k in doc["kernel_packages"] if k["name"].startswith("linux-image-"))
    assert set(doc["sha256"]) >= {"vmlinuz", "initrd.gz", "disk.img"}
    assert doc["sha256"]["vmlinuz"] == lab_image.sha256_file(built.kernel)  # type: ignore[arg-type]
    assert built.client_key is not None and (built.client_key.stat().st_mode & 0o777) == 0o600


def test_boot_ssh_strict(built: lab_image.Image, guest: tuple[lab_qemu.Guest, Path],
                         tmp_path: Path) -> None:
    g, kh = guest
    assert g.alive() and g.marker_seen()
    assert kh.read_text().startswith(f"[127.0.0.1]:{g.port} ssh-ed25519 AAAA")
    assert built.client_key is not None
    c = ssh_client(g.port, built.client_key, kh)
    try:
        assert run(c, "uname -m").strip() == "x86_64"
        assert run(c, "uname -r").strip() == built.kernel_release
        assert run(c, "cat /proc/sys/net/core/bpf_jit_enable").strip() == "1"
        mounts = run(c, "cat /proc/mounts")
        for fs in (" /sys/fs/bpf bpf ", " /sys/kernel/tracing tracefs ", " /sys/fs/cgroup cgroup2 "):
            assert fs in mounts, fs
        assert run(c, "python3 -c 'import ctypes; ctypes.CDLL(\"libbpf.so.1\"); print(1)'").strip() == "1"
        # what the kfunc-module case needs: kbuild tree of the running kernel, a
        # compiler, and pahole plus a base BTF for module BTF
        assert run(c, "test -f /lib/modules/$(uname -r)/build/Makefile && "
                      "test -s /lib/modules/$(uname -r)/build/vmlinux && "
                      "gcc --version >/dev/null && make --version >/dev/null && "
                      "pahole --version").startswith("v")
        assert run(c, "perf --version").startswith("perf version")
    finally:
        c.close()
    # Strictness: a different key for this host:port must be refused.
    other = paramiko.Ed25519Key.from_private_key(io.StringIO(_fresh_private_key(tmp_path)))
    bad = tmp_path / "bad_known_hosts"
    bad.write_text(f"[127.0.0.1]:{g.port} {other.get_name()} {other.get_base64()}\n")
    with pytest.raises(paramiko.BadHostKeyException):
        ssh_client(g.port, built.client_key, bad)
    empty = tmp_path / "empty_known_hosts"
    empty.write_text("")
    with pytest.raises(paramiko.SSHException):
        ssh_client(g.port, built.client_key, empty)
    assert g.crash_seen() is None


def _fresh_private_key(tmp: Path) -> str:
    k = tmp / "otherkey"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(k)], check=True)
    return k.read_text()


def test_user_supplied_image_boots_next_to_another_guest(
        built: lab_image.Image, guest: tuple[lab_qemu.Guest, Path], tmp_path: Path) -> None:
    """The user-image path, fed the files of the image the lab built; the disk is
    given as a qcow2 overlay so the format-by-extension path runs too. It boots
    while the module's guest runs: two guests, two free ports, both reachable."""
    first, first_kh = guest
    if shutil.which("qemu-img"):  # Debian: qemu-utils
        disk = tmp_path / "disk.qcow2"
        subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b",
                        str(built.disk), str(disk)], check=True)
    else:  # still the user-image path, with the raw disk itself (snapshot=on keeps it intact)
        disk = built.disk
    assert built.host_key_pub is not None and built.client_key is not None
    spec = Spec(image={"disk": str(disk), "kernel": str(built.kernel),
                       "initrd": str(built.initrd), "append": "kmatrix.user_image=1",
                       "host_key_pub": str(built.host_key_pub),
                       "client_key": str(built.client_key)})
    img = lab_image.ensure_image("x86_64", spec, tmp_path / "unused-cache", lambda m: None)
    assert img.user_supplied and img.manifest is None
    assert img.disk_format == ("qcow2" if disk.suffix == ".qcow2" else "raw")
    assert not (tmp_path / "unused-cache").exists()  # nothing is built for a user image
    with lab_qemu.Guest("x86_64", spec, img, tmp_path / "run") as g:
        g.start()
        g.wait_ssh(timeout=600)
        assert g.port != first.port and first.alive()
        kh = g.write_known_hosts(tmp_path / "known_hosts")
        c = ssh_client(g.port, built.client_key, kh)
        c1 = ssh_client(first.port, built.client_key, first_kh)
        try:
            assert "kmatrix.user_image=1" in run(c, "cat /proc/cmdline")
            assert "kmatrix.user_image=1" not in run(c1, "cat /proc/cmdline")
        finally:
            c.close()
            c1.close()
    assert not g.alive() and first.alive()
    assert "KMATRIX: sshd ready" in (tmp_path / "run" / "serial.log").read_text()


def test_port_race_then_kill(built: lab_image.Image, tmp_path: Path,
                             monkeypatch: pytest.MonkeyPatch) -> None:
    """The first port handed to QEMU is already taken (the race between probing a
    free port and QEMU binding it): real QEMU fails, the guest retries on another
    port and boots. Then the guest is SIGKILLed and reported dead."""
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen()
    taken_port = taken.getsockname()[1]
    real_free_port = ports.free_port
    handed: list[int] = []

    def first_taken() -> int:
        p = taken_port if not handed else real_free_port()
        handed.append(p)
        return p

    monkeypatch.setattr(ports, "free_port", first_taken)
    g = lab_qemu.Guest("x86_64", Spec(), built, tmp_path)
    try:
        g.start()
        g.wait_ssh(timeout=600)
        assert g.alive()
        assert handed[0] == taken_port and g.port != taken_port and len(handed) >= 2
        assert "Could not set up host forwarding rule" in g.qemu_log.read_text()
        g.kill()
        assert not g.alive() and g.returncode == -9
        with pytest.raises(LabError, match="QEMU exited"):
            g.wait_ssh(timeout=10)
    finally:
        g.stop()
        taken.close()
    g.stop()  # idempotent


@pytest.mark.skipif(shutil.which("mmdebstrap") is None, reason="mmdebstrap missing")
def test_dead_mirror_is_reported_as_a_mirror_problem(tmp_path: Path) -> None:
    """Real mmdebstrap against a mirror URL where nothing listens: the error names
    the mirror, the suite and the arch, and suggests another suite or mirror."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]  # closed again: connection refused
    spec = Spec(suite="bookworm", mirror=f"http://127.0.0.1:{dead}/debian")
    msgs: list[str] = []
    with pytest.raises(LabError) as ei:
        lab_image.ensure_image("x86_64", spec, tmp_path, msgs.append)
    msg = str(ei.value)
    assert "mirror is broken" in msg and "bookworm" in msg and "amd64" in msg, msg
    assert "qemu.mirror" in msg and "qemu.suite" in msg
    assert any("mmdebstrap" in m for m in msgs)
    # nothing half-built is left as an image; the log is kept for the user
    assert [p.name for p in tmp_path.iterdir() if not p.name.startswith(".")] == \
        [f"{lab_image.image_name('x86_64', spec)}.failed.log"]
