"""Saved VM snapshots of lab guests: boot once cold, restore in about a second after.

The first cold boot of an image (per QEMU version and guest command line) saves the
guest, once sshd answers, as an internal snapshot (``savevm`` over QMP) in a qcow2
overlay of the image; later boots start QEMU with ``-loadvm`` on a per-run copy of
that overlay.

Why a per-run copy: ``-loadvm`` looks for the snapshot in the top image of every
writable drive, so it finds nothing through ``snapshot=on``'s temporary overlay or in
a backing file (QEMU 7.2: "Snapshot 'kmatrix' does not exist in one or more
devices"), and the snapshot file itself must never be written by a run. The copy is
small (the guest's used RAM plus a few MB of disk writes: 120-150 MB, 0.05 s on ext4;
``cp --reflink=auto`` makes it free on btrfs/xfs) and is deleted when the guest stops.
The cold-booting guest also runs on its own overlay; it is paused while ``savevm``
runs and its overlay is copied (0.2-0.3 s), then resumes: the snapshot file is
installed by rename and never opened by QEMU, so any number of guests can restore
it at once.

Layout, one directory ("slot") per key, under :func:`root_for`::

    <root>/<image-name>-<key12>/
        snapshot.qcow2   overlay of the image's disk holding the internal snapshot
        meta.json        the key's inputs, when and how fast it was taken
        .save.lock       flock held by the one guest that is taking the snapshot
        runs/            per-run copies, each flock'ed by its guest while it runs

The key covers the image (directory, disk identity and checksum, or a user image's
files), the QEMU binary's version, the guest's QEMU command line with the per-run
parts (port, serial log, overlay path) blanked out, and FORMAT.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import re
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional

from kmatrix import archs
from kmatrix.errors import LabError
from kmatrix.fileutil import atomic_write
from kmatrix.lab.image import Image, default_cache_dir

FORMAT = 1  # bump when the slot layout or the way a snapshot is taken changes
SNAPSHOT_NAME = "kmatrix"
ENV_SWITCH = "KMATRIX_LAB_SNAPSHOT"  # 0/no/off/false: never save nor restore
ENV_DIR = "KMATRIX_SNAPSHOT_DIR"  # where slots live (default: next to the image cache)
STALE_RUN_SECONDS = 60.0  # an unlocked run copy older than this belongs to a dead run

_version_cache: dict[tuple[str, int], str] = {}


def disabled_reason(spec: Any, image: Image) -> Optional[str]:
    """Why this guest must not use snapshots, or None when it may."""
    if os.environ.get(ENV_SWITCH, "").strip().lower() in ("0", "no", "off", "false"):
        return f"{ENV_SWITCH}={os.environ[ENV_SWITCH]}"
    if not getattr(spec, "snapshot", True):
        return "qemu.snapshot is false"
    if image.directory is None and not image.user_supplied:
        return "image has no cache directory"
    if shutil.which("qemu-img") is None:
        return "qemu-img missing (Debian: qemu-utils)"
    if image.user_supplied:
        return _user_image_unsafe(image)
    return None


# QEMU before 10.2 does not migrate RISC-V timers (the Sstc stimer, the ACLINT
# mtimer's pending events): a restored riscv64 hart that was waiting for its timer
# hangs for good. Fixed upstream in October 2025 ("target/riscv: Save stimer and
# vstimer in CPU vmstate", "hw/intc: Save timers array in RISC-V mtimer VMState"),
# not backported; older QEMUs get the timers re-armed through the gdbstub
# (kmatrix/lab/gdbstub.py).
RISCV_TIMERS_MIGRATE = (10, 2)


def qemu_version_tuple(version_line: str) -> Optional[tuple[int, int]]:
    m = re.search(r"version (\d+)\.(\d+)", version_line)
    return (int(m.group(1)), int(m.group(2))) if m else None


def timers_need_rearm(image: Image) -> bool:
    """True for a riscv64 guest on a QEMU that does not restore its timers."""
    if image.arch != "riscv64":
        return False
    got = qemu_version_tuple(qemu_version(archs.info(image.arch).qemu_binary))
    return got is None or got < RISCV_TIMERS_MIGRATE


def _user_image_unsafe(image: Image) -> Optional[str]:
    """A user image is snapshotted only when every file the snapshot depends on is
    covered by the key's file identities: a raw disk or a qcow2 without a backing
    file. A backing chain could change under the snapshot unnoticed, and restoring
    RAM over a disk that changed corrupts the guest's filesystem."""
    if image.disk_format != "qcow2":
        return None
    try:
        out = subprocess.run(["qemu-img", "info", "--output=json", "-U", str(image.disk)],
                             capture_output=True, text=True, timeout=30, check=True).stdout
        info = json.loads(out)
    except (OSError, subprocess.SubprocessError, ValueError) as e:
        return f"qemu-img info {image.disk} failed: {e}"
    if info.get("backing-filename"):
        return "user qcow2 disk has a backing file"
    return None


def root_for(image: Image) -> Path:
    """``$KMATRIX_SNAPSHOT_DIR``, else ``snapshots/`` next to the ``images/`` cache a
    built image comes from (so a run with its own cache root keeps its snapshots
    there), else ``snapshots/`` in the default cache root."""
    env = os.environ.get(ENV_DIR)
    if env:
        return Path(env).expanduser()
    if image.directory is not None and not image.user_supplied:
        return image.directory.parent.parent / "snapshots"
    return default_cache_dir().parent / "snapshots"


def default_root(images_dir: Optional[Path] = None) -> Path:
    env = os.environ.get(ENV_DIR)
    if env:
        return Path(env).expanduser()
    return (images_dir or default_cache_dir()).parent / "snapshots"


def qemu_version(binary: str) -> str:
    """First line of ``BINARY --version`` (cached per binary path and mtime)."""
    path = shutil.which(binary) or binary
    try:
        mtime = os.stat(path).st_mtime_ns
    except OSError as e:
        raise LabError(f"{binary}: {e}") from e
    got = _version_cache.get((path, mtime))
    if got is None:
        out = subprocess.run([path, "--version"], capture_output=True, text=True, timeout=30)
        got = (out.stdout.strip().splitlines() or ["?"])[0]
        _version_cache[(path, mtime)] = got
    return got


def _file_id(path: Optional[Path]) -> Optional[list[Any]]:
    if path is None:
        return None
    st = os.stat(path)
    return [str(Path(path).resolve()), st.st_ino, st.st_size, st.st_mtime_ns]


def key_doc(image: Image, argv_template: list[str], version: str) -> dict[str, Any]:
    """Everything a saved state depends on. ``argv_template`` is the guest's QEMU
    command line with the per-run values blanked (machine, cpu, smp, memory,
    kernel/initrd/append, devices stay)."""
    files = {n: _file_id(getattr(image, n)) for n in ("disk", "kernel", "initrd", "firmware")}
    doc: dict[str, Any] = {
        "format": FORMAT,
        "arch": image.arch,
        "qemu": version,
        "argv": argv_template,
        "files": files,
        "disk_format": image.disk_format,
    }
    if image.manifest is not None:
        try:
            doc["disk_sha256"] = json.loads(image.manifest.read_text()).get("sha256", {}).get(
                "disk.img")
        except (OSError, ValueError):
            doc["disk_sha256"] = None
    return doc


def slot_name(image: Image, doc: dict[str, Any]) -> str:
    digest = hashlib.sha256(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:12]
    base = image.directory.name if (image.directory is not None and not image.user_supplied) \
        else f"user-{image.arch}-{image.disk.stem}"
    safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in base)[:80]
    return f"{safe}-{digest}"


def copy_file(src: Path, dst: Path) -> None:
    """Copy ``src`` over ``dst`` (same inode if it exists): a reflink where the
    filesystem can, else a sparse copy."""
    if shutil.which("cp"):
        res = subprocess.run(["cp", "--reflink=auto", "--sparse=always", str(src), str(dst)],
                             capture_output=True, text=True)
        if res.returncode == 0:
            return
        raise LabError(f"copying {src}: {res.stderr.strip()}")
    shutil.copyfile(src, dst)


def _try_flock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


class RunFile:
    """One guest's writable qcow2 (a copy of the snapshot, or a fresh overlay),
    flock'ed while the guest uses it; ``discard()`` deletes it."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd: Optional[int] = fd

    def discard(self) -> None:
        with contextlib.suppress(OSError):
            self.path.unlink()
        if self._fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = None


@dataclass
class Slot:
    """The snapshot directory of one key."""

    directory: Path
    doc: dict[str, Any]
    backing: Path
    backing_format: str

    @property
    def snapshot(self) -> Path:
        return self.directory / "snapshot.qcow2"

    @property
    def meta(self) -> Path:
        return self.directory / "meta.json"

    def exists(self) -> bool:
        return self.snapshot.is_file()

    def try_save_lock(self) -> Optional[int]:
        """The save lock's fd, or None while another guest is taking this snapshot."""
        self.directory.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.directory / ".save.lock", os.O_RDWR | os.O_CREAT, 0o644)
        if _try_flock(fd):
            return fd
        os.close(fd)
        return None

    def _new_run_path(self) -> RunFile:
        runs = self.directory / "runs"
        runs.mkdir(parents=True, exist_ok=True)
        sweep_runs(runs)
        fd, name = tempfile.mkstemp(prefix="run-", suffix=".qcow2", dir=runs)
        fcntl.flock(fd, fcntl.LOCK_EX)  # ours until discard(); a fresh file is unlocked
        return RunFile(Path(name), fd)

    def restore_copy(self) -> RunFile:
        """A per-run copy of the snapshot file for ``-loadvm``."""
        run = self._new_run_path()
        try:
            copy_file(self.snapshot, run.path)
        except BaseException:
            run.discard()
            raise
        return run

    def fresh_overlay(self) -> RunFile:
        """A new qcow2 overlay of the image's disk for a cold boot that will save."""
        run = self._new_run_path()
        res = subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", self.backing_format,
                              "-b", str(self.backing), str(run.path)],
                             capture_output=True, text=True)
        if res.returncode != 0:
            run.discard()
            raise LabError(f"qemu-img create: {res.stderr.strip() or res.returncode}")
        return run

    def install(self, run: RunFile, meta: dict[str, Any]) -> None:
        """Copy a paused guest's overlay (holding the fresh internal snapshot) into
        place: checked, then renamed, so readers see the old file or the new one."""
        fd, tmp = tempfile.mkstemp(prefix=".snapshot-", suffix=".qcow2", dir=self.directory)
        os.close(fd)
        try:
            copy_file(run.path, Path(tmp))
            if SNAPSHOT_NAME not in snapshot_names(Path(tmp)):
                raise LabError("the saved overlay lists no snapshot")
            os.chmod(tmp, 0o644)
            _write_json(self.meta, {**meta, "key": self.doc})
            os.replace(tmp, self.snapshot)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise

    def forget(self) -> None:
        """Remove a snapshot that failed to restore (caller holds the save lock)."""
        for p in (self.snapshot, self.meta):
            with contextlib.suppress(OSError):
                p.unlink()


def slot_for(image: Image, argv_template: list[str], binary: str) -> Slot:
    doc = key_doc(image, argv_template, qemu_version(binary))
    return Slot(root_for(image) / slot_name(image, doc), doc, image.disk, image.disk_format)


def snapshot_names(path: Path) -> list[str]:
    res = subprocess.run(["qemu-img", "info", "--output=json", "-U", str(path)],
                         capture_output=True, text=True, timeout=60)
    if res.returncode != 0:
        raise LabError(f"qemu-img info {path}: {res.stderr.strip()}")
    return [s.get("name", "") for s in json.loads(res.stdout).get("snapshots", [])]


def sweep_runs(runs: Path, min_age: float = STALE_RUN_SECONDS) -> int:
    """Delete run copies left by dead runs (unlocked and older than ``min_age``)."""
    removed = 0
    now = time.time()
    for p in runs.glob("run-*.qcow2"):
        try:
            if now - p.stat().st_mtime < min_age:
                continue
            fd = os.open(p, os.O_RDONLY)
        except OSError:
            continue
        try:
            if _try_flock(fd):
                p.unlink()
                removed += 1
        except OSError:
            pass
        finally:
            os.close(fd)
    return removed


def _write_json(path: Path, doc: dict[str, Any]) -> None:
    atomic_write(path, (json.dumps(doc, indent=2, sort_keys=True) + "\n").encode())


# ---------------------------------------------------------------- listing and dropping


@dataclass
class SlotInfo:
    directory: Path
    arch: str
    size: int
    saved_at: Optional[float]
    qemu: str
    complete: bool
    runs: int


def list_slots(root: Path, arch: Optional[str] = None) -> list[SlotInfo]:
    out = []
    if not root.is_dir():
        return out
    for d in sorted(root.iterdir()):
        if not d.is_dir():
            continue
        try:
            meta = json.loads((d / "meta.json").read_text())
        except (OSError, ValueError):
            meta = {}
        key = meta.get("key") or {}
        a = key.get("arch") or d.name.split("-", 1)[0]
        if arch and a != arch:
            continue
        snap = d / "snapshot.qcow2"
        out.append(SlotInfo(
            directory=d, arch=a, size=snap.stat().st_size if snap.is_file() else 0,
            saved_at=meta.get("saved_at"), qemu=str(key.get("qemu") or "?"),
            complete=snap.is_file(),
            runs=len(list((d / "runs").glob("run-*.qcow2"))) if (d / "runs").is_dir() else 0))
    return out


def drop_slot(directory: Path) -> str:
    """Delete one slot; run copies of guests still running are left to them."""
    slot = Slot(directory, {}, Path("/"), "raw")
    fd = slot.try_save_lock()
    if fd is None:
        return "busy (a guest is taking this snapshot): kept"
    try:
        slot.forget()
        runs = directory / "runs"
        busy = 0
        if runs.is_dir():
            sweep_runs(runs, min_age=0)
            busy = len(list(runs.glob("run-*.qcow2")))
            with contextlib.suppress(OSError):
                runs.rmdir()
        if busy:
            return f"dropped ({busy} running guest(s) keep their copies)"
        with contextlib.suppress(OSError):
            (directory / ".save.lock").unlink()
        with contextlib.suppress(OSError):
            directory.rmdir()
        return "dropped"
    finally:
        os.close(fd)


# ---------------------------------------------------------------- QMP


class Qmp:
    """A minimal QMP client over QEMU's ``-qmp unix:PATH,server=on,wait=off``."""

    def __init__(self, path: Path, timeout: float = 120.0) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        try:
            self.sock.connect(str(path))
            self.f = self.sock.makefile("rwb")
            self._read()  # greeting
            self.command("qmp_capabilities")
        except BaseException:
            self.sock.close()
            raise

    def _read(self) -> dict[str, Any]:
        while True:
            line = self.f.readline()
            if not line:
                raise LabError("QMP: connection closed")
            msg = json.loads(line)
            if "event" not in msg:
                return msg

    def command(self, name: str, **arguments: Any) -> Any:
        req: dict[str, Any] = {"execute": name}
        if arguments:
            req["arguments"] = arguments
        self.f.write(json.dumps(req).encode() + b"\n")
        self.f.flush()
        msg = self._read()
        if "error" in msg:
            raise LabError(f"QMP {name}: {msg['error'].get('desc', msg['error'])}")
        return msg.get("return")

    def hmp(self, line: str) -> str:
        return str(self.command("human-monitor-command", **{"command-line": line}) or "")

    def close(self) -> None:
        with contextlib.suppress(OSError):
            self.f.close()
        self.sock.close()

    def __enter__(self) -> Qmp:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
