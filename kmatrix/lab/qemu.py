"""Boot a lab image under QEMU (TCG) and reach it over real SSH on a forwarded
loopback port.

One ``Guest`` is one QEMU process with its serial console in ``run_dir/serial.log``
(kept with the results) and QEMU's own messages in ``run_dir/qemu.log``. The cached
image is never modified, and any number of guests can boot the same image at once:
a guest restored from its saved VM snapshot (kmatrix/lab/snapshot.py) or booting cold
to save one writes to its own qcow2 overlay, deleted at stop; any other guest opens
the disk with ``snapshot=on``.

QEMU runs in its own session, so a Ctrl-C at the controller reaches only the
controller (which then calls ``stop()``); a finaliser that also runs at interpreter
exit kills any guest still running, and QEMU gets SIGKILL from the kernel if the
controller dies outright (PR_SET_PDEATHSIG). That signal fires when the *thread*
that called ``start()`` exits, so start a guest from a thread that lives as long as
the guest should (the runner's host threads do).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import weakref
from pathlib import Path
from types import TracebackType
from typing import Any, Optional

from kmatrix import archs
from kmatrix.errors import LabError
from kmatrix.lab import gdbstub, ports
from kmatrix.lab import snapshot as lab_snapshot
from kmatrix.lab.image import Image

# /dev/kvm on this kind of host is PVM-flavoured and stock kernels do not boot on
# it, so every arch runs under TCG.
#
# x86_64 runs its vCPUs in one TCG thread (thread=single): the kernel patches its own
# text with int3 (text_poke_bp: static keys, ftrace, kprobes, BPF trampolines) and
# relies on the other CPU seeing the finished instruction after its sync IPI; under
# multi-threaded TCG a vCPU could still run a translation holding the int3, and the
# guest died with "Oops: int3" in __schedule (seen once in four lab runs, the x86_64
# trixie guest, during trampoline/fentry_fexit). One thread keeps -smp 2's two CPUs.
MACHINE_ARGS = {
    "x86_64": ["-machine", "q35", "-accel", "tcg,thread=single"],
    "aarch64": ["-machine", "virt,accel=tcg"],
    "riscv64": ["-machine", "virt,accel=tcg", "-bios", "default"],
}
# -cpu when the host's qemu.cpu says nothing. aarch64: pauth-impdef=on keeps pointer
# authentication but with QEMU's cheap implementation-defined algorithm (the QARMA
# default is slow under TCG). A host's qemu.cpu replaces the whole value.
DEFAULT_CPU = {"x86_64": "max", "aarch64": "max,pauth-impdef=on", "riscv64": "rv64"}
READY_MARKER = "KMATRIX: sshd ready"
CRASH_PATTERNS = (
    "Kernel panic",
    "Oops:",
    "BUG:",
    "Unable to handle kernel",
    "general protection fault",
    "Internal error:",
    "Call Trace:",
    "kernel BUG at",
)
# QEMU's message when the hostfwd port was taken between our probe and its bind.
_PORT_RACE = ("Could not set up host forwarding rule",)
_PORT_ATTEMPTS = 4
# A restored guest answers SSH in about a second; one that has not after this long
# (or whose QEMU refused -loadvm, or whose kernel crashed) is booted cold instead.
RESTORE_TIMEOUT = 60.0
# "qemu-system-x86_64: -drive file=...: Image is not in qcow2 format" -> the reason
_QEMU_PREFIX = re.compile(r"^(?:qemu-system-\S+: )?(?:-\w+ \S+: )?")


def _q(value: str) -> str:
    """Escape a value for QEMU's comma-separated option syntax."""
    return str(value).replace(",", ",,")


def kernel_cmdline(image: Image) -> str:
    parts = [f"console={image.console}", "panic=-1", "quiet"]
    if image.append:
        parts.append(image.append)
    return " ".join(parts)


def qemu_argv(arch: str, spec: Any, image: Image, port: int, serial_log: Path, *,
              overlay: Optional[Path] = None, qmp: Optional[Path] = None,
              loadvm: Optional[str] = None, gdb: Optional[Path] = None) -> list[str]:
    """The full QEMU command line for one guest (pure; unit-tested per arch).

    Without ``overlay`` the image's disk is opened with ``snapshot=on``; with it the
    guest writes to that per-run qcow2 (whose backing file is the image's disk), which
    is what ``savevm``/``-loadvm`` need (kmatrix/lab/snapshot.py). ``qmp`` adds a QMP
    socket, ``loadvm`` restores that internal snapshot at start, ``gdb`` opens a
    gdbstub socket (to re-arm a restored riscv64 guest's timers: lab/gdbstub.py)."""
    arch = archs.normalize(arch)
    machine = list(MACHINE_ARGS[arch])
    if image.firmware is not None:
        if "-bios" in machine:  # riscv64's OpenSBI default gives way to the user's
            del machine[machine.index("-bios"):machine.index("-bios") + 2]
        machine += ["-bios", str(image.firmware)]
    machine[2:2] = ["-cpu", getattr(spec, "cpu", None) or DEFAULT_CPU[arch]]
    argv = [archs.info(arch).qemu_binary, *machine]
    argv += [
        "-name", f"kmatrix-{arch}",
        "-smp", str(getattr(spec, "smp", None) or 2),
        "-m", str(getattr(spec, "memory", None) or "2G"),
        "-nographic", "-no-reboot",
        # -nographic alone would put serial + monitor on stdio; keep the console in a
        # file and no monitor at all (stdin is /dev/null anyway)
        "-monitor", "none",
        "-chardev", f"file,id=ser0,path={_q(str(serial_log))},append=on",
        "-serial", "chardev:ser0",
    ]
    if image.kernel is not None:
        argv += ["-kernel", str(image.kernel)]
        if image.initrd is not None:
            argv += ["-initrd", str(image.initrd)]
        argv += ["-append", kernel_cmdline(image)]
    if overlay is None:
        drive = f"file={_q(str(image.disk))},format={image.disk_format},if=none,id=d0," \
            "cache=unsafe,snapshot=on"
    else:
        drive = f"file={_q(str(overlay))},format=qcow2,if=none,id=d0,cache=unsafe"
    argv += [
        "-drive", drive,
        # bootindex only matters for firmware disk boot; -kernel claims index 0 itself
        "-device", "virtio-blk-pci,drive=d0" + (",bootindex=0" if image.kernel is None else ""),
        "-netdev", f"user,id=n0,hostfwd=tcp:127.0.0.1:{int(port)}-:22",
        # romfile= : no iPXE option ROM, we never netboot (saves SeaBIOS time)
        "-device", "virtio-net-pci,netdev=n0,romfile=",
        "-device", "virtio-rng-pci",
    ]
    if qmp is not None:
        argv += ["-qmp", f"unix:{_q(str(qmp))},server=on,wait=off"]
    if loadvm is not None:
        argv += ["-loadvm", loadvm]
    if gdb is not None:
        argv += ["-gdb", f"unix:{_q(str(gdb))},server=on,wait=off"]
    return argv


def argv_template(arch: str, spec: Any, image: Image) -> list[str]:
    """The command line with its per-run values blanked: what a saved state depends on."""
    return qemu_argv(arch, spec, image, 0, Path("SERIAL"), overlay=Path("DISK"))


def _ssh_banner(port: int, timeout: float = 3.0, banner_timeout: float = 60.0) -> bool:
    """True when an SSH server answers on 127.0.0.1:port. QEMU's user-net accepts
    the TCP connection before the guest listens, so only the banner counts. While
    nothing listens in the guest, user-net closes the connection at once; once sshd
    listens, the banner can take many seconds under TCG on a loaded host (sshd
    execs sshd-session per connection), so waiting for it must not give up early:
    a short timeout kills every attempt and the boot never looks finished."""
    try:
        with socket.create_connection((ports.LOOPBACK, port), timeout=timeout) as s:
            s.settimeout(banner_timeout)
            buf = b""
            while b"\n" not in buf and len(buf) < 512:
                chunk = s.recv(256)
                if not chunk:
                    break
                buf += chunk
            return buf.startswith(b"SSH-2.0")
    except OSError:
        return False


def _terminate(proc: subprocess.Popen[bytes], grace: float) -> None:
    """SIGTERM QEMU's process group, SIGKILL after ``grace`` seconds."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _tail(path: Path, n: int) -> list[str]:
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.fstat(f.fileno()).st_size - 256 * max(n, 1) - 4096))
            text = f.read().decode(errors="replace")
    except OSError:
        return []
    lines = [x.rstrip("\r") for x in text.splitlines()]
    return [x for x in lines if x.strip()][-n:]


class Guest:
    """One QEMU guest of ``image``; see the module docstring.

    After ``wait_ssh()`` returns, ``restored`` says whether this boot came from the
    saved snapshot (kmatrix/lab/snapshot.py: the guest's clock and RNG state are then
    those of the moment it was saved) and ``boot_note`` is one line saying how it
    booted, e.g. "restored from snapshot (0.7 s)"."""

    def __init__(self, arch: str, spec: Any, image: Image, run_dir: Path) -> None:
        self.arch = archs.normalize(arch)
        self.spec = spec
        self.image = image
        self.run_dir = Path(run_dir)
        self.serial_log = self.run_dir / "serial.log"
        self.qemu_log = self.run_dir / "qemu.log"
        self._port: Optional[int] = None
        self._proc: Optional[subprocess.Popen[bytes]] = None
        self._finalizer: Optional[weakref.finalize] = None
        self._attempts = 0
        self._log_offset = 0
        self._serial_offset = 0
        self.ready = False
        self.started_at: Optional[float] = None
        self.boot_seconds: Optional[float] = None
        self.restored = False
        self.boot_note = ""
        self.snapshot_saved_at: Optional[float] = None  # time.time() of the restored save
        # "plain": snapshot=on, nothing saved; "restore": -loadvm on a copy of the
        # snapshot; "save": cold boot on an overlay, savevm once SSH answers.
        self._mode = "plain"
        self._plan_note = ""
        self._slot: Optional[lab_snapshot.Slot] = None
        self._run: Optional[lab_snapshot.RunFile] = None
        self._save_fd: Optional[int] = None
        # A private (0700) directory for this launch's control socket: QMP while a cold
        # boot saves its snapshot, the gdbstub while a riscv64 restore re-arms timers.
        self._sock_dir: Optional[str] = None
        self._rearm_note = ""
        self._launched_at = 0.0

    # ---- lifecycle

    def start(self) -> None:
        """Launch QEMU on a free loopback port (retrying if the port was taken
        between the probe and QEMU's bind): restoring the image's saved snapshot when
        there is one, else booting cold (and saving one, see ``wait_ssh``)."""
        if self._proc is not None and self._proc.poll() is None:
            raise LabError(f"{self.arch} guest already running (pid {self._proc.pid})")
        binary = archs.info(self.arch).qemu_binary
        if shutil.which(binary) is None:
            raise LabError(f"{binary} not found (Debian: apt install qemu-system)")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._attempts = 0
        self.ready = False
        self.restored = False
        self.boot_note = ""
        self.snapshot_saved_at = None
        self.started_at = time.monotonic()
        self._plan()
        self._launch()
        # QEMU binds the forwarded port before the guest runs; wait for that (or
        # for it to die on a taken port) so start() returns a guest that owns its port.
        deadline = time.monotonic() + 15.0
        while time.monotonic() < deadline:
            if self._relaunch_if_port_race():
                continue
            if self._proc is None or self._proc.poll() is not None:
                return  # wait_ssh reports the death with the logs (or boots cold)
            if ports.is_listening(self.port, timeout=0.5):
                return
            time.sleep(0.1)

    def _plan(self) -> None:
        """Choose how this boot starts: restore, cold boot that saves, or plain."""
        self._release_snapshot_files()
        self._mode, self._slot = "plain", None
        why = lab_snapshot.disabled_reason(self.spec, self.image)
        if why is not None:
            self._plan_note = f"cold boot (no snapshot: {why})"
            return
        try:
            self._slot = lab_snapshot.slot_for(
                self.image, argv_template(self.arch, self.spec, self.image),
                archs.info(self.arch).qemu_binary)
            if self._slot.exists():
                self._run = self._slot.restore_copy()
                self._mode = "restore"
                return
            self._cold_and_save("no snapshot yet")
        except (LabError, OSError, subprocess.SubprocessError) as e:
            self._release_snapshot_files()
            self._mode = "plain"
            self._plan_note = f"snapshot unusable ({_one_line(e)}): cold boot"

    def _cold_and_save(self, why: str) -> None:
        """Cold boot on a fresh overlay that wait_ssh saves, if no other guest is
        taking this snapshot right now (then: a plain cold boot, nothing saved)."""
        assert self._slot is not None
        self._save_fd = self._slot.try_save_lock()
        if self._save_fd is None:
            self._mode = "plain"
            self._plan_note = f"{why}: cold boot (another guest is taking the snapshot)"
            return
        if why == "no snapshot yet" and self._slot.exists():  # it finished meanwhile
            self._release_save_lock()
            self._run = self._slot.restore_copy()
            self._mode = "restore"
            return
        self._run = self._slot.fresh_overlay()
        self._sock_dir = tempfile.mkdtemp(prefix="kmatrix-qemu-")
        self._mode = "save"
        self._plan_note = f"{why}: cold boot"

    def _qmp_path(self) -> Optional[Path]:
        return Path(self._sock_dir) / "qmp.sock" if self._sock_dir else None

    def _launch(self) -> None:
        self._attempts += 1
        if self._port is not None:
            ports.release(self._port)
        self._port = ports.free_port()
        qmp = self._qmp_path() if self._mode == "save" else None
        if qmp is not None:
            with contextlib.suppress(OSError):
                qmp.unlink()
        self._rearm_note = ""
        gdb = None
        if self._mode == "restore" and lab_snapshot.timers_need_rearm(self.image):
            self._remove_sock_dir()
            self._sock_dir = tempfile.mkdtemp(prefix="kmatrix-qemu-")  # a debugger owns the guest
            gdb = Path(self._sock_dir) / "gdb.sock"
        argv = qemu_argv(self.arch, self.spec, self.image, self._port, self.serial_log,
                         overlay=self._run.path if self._run is not None else None,
                         qmp=qmp,
                         loadvm=lab_snapshot.SNAPSHOT_NAME if self._mode == "restore" else None,
                         gdb=gdb)
        if self._mode == "restore" and self._attempts == 1:
            assert self._slot is not None
            self._console_note(f"restoring the saved snapshot {self._slot.directory.name} "
                               "(-loadvm): no boot messages follow")
        try:
            self._serial_offset = self.serial_log.stat().st_size
        except OSError:
            self._serial_offset = 0
        with open(self.qemu_log, "ab") as log:
            log.write(("$ " + " ".join(argv) + "\n").encode())
            log.flush()
            self._log_offset = log.tell()  # this launch's messages start here
            self._launched_at = time.monotonic()
            self._proc = subprocess.Popen(
                _pdeathsig_prefix() + argv,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # Ctrl-C goes to the controller, not QEMU
                close_fds=True,
            )
        if self._finalizer is not None:
            self._finalizer.detach()
        self._finalizer = weakref.finalize(self, _cleanup, self._proc, self._run, 3.0)

    def _qemu_says(self) -> str:
        """QEMU's own messages since the last launch."""
        try:
            with open(self.qemu_log, "rb") as f:
                f.seek(self._log_offset)
                return f.read(65536).decode(errors="replace")
        except OSError:
            return ""

    def _relaunch_if_port_race(self) -> bool:
        proc = self._proc
        if proc is None or proc.poll() is None or self.ready:
            return False
        log = self._qemu_says()
        if any(p in log for p in _PORT_RACE) and self._attempts < _PORT_ATTEMPTS:
            with open(self.qemu_log, "ab") as f:
                f.write(f"# port {self._port} was taken; retrying on another port\n".encode())
            self._launch()
            return True
        return False

    def _restore_failed(self) -> Optional[str]:
        """Why the restore under way has failed (QEMU refused -loadvm or died, the
        restored kernel crashed, no SSH within RESTORE_TIMEOUT), or None."""
        if self._mode != "restore" or self.ready:
            return None
        if not self.alive():
            said = [_QEMU_PREFIX.sub("", x) for x in self._qemu_says().splitlines()
                    if x.strip() and not x.startswith("#")]
            return _one_line(said[0]) if said else f"QEMU exited with code {self.returncode}"
        crash = self._new_crash()
        if crash:
            return f"kernel crash: {crash[:120]}"
        if time.monotonic() - self._launched_at > RESTORE_TIMEOUT:
            return f"no SSH {RESTORE_TIMEOUT:.0f}s after -loadvm"
        return None

    def _rearm_timers(self) -> Optional[str]:
        """A restored riscv64 guest on a QEMU that loses its timers: re-arm them
        through the gdbstub at once (lab/gdbstub.py); why that failed, or None."""
        if self._mode != "restore" or self._sock_dir is None or self.ready:
            return None
        try:
            self._rearm_note = gdbstub.rearm_riscv_timers(Path(self._sock_dir) / "gdb.sock")
        except LabError as e:
            return f"re-arming the riscv64 timers failed: {_one_line(e)}"
        finally:
            self._remove_sock_dir()  # the socket goes: nobody else attaches a debugger
        return None

    def _fall_back(self, reason: str) -> None:
        """The snapshot did not restore: boot cold instead, and save it again."""
        assert self._proc is not None
        _terminate(self._proc, 1.0)
        with open(self.qemu_log, "ab") as f:
            f.write(f"# snapshot restore failed ({reason}); booting cold\n".encode())
        self._console_note(f"snapshot restore failed ({reason}); booting cold")
        self._release_snapshot_files()
        self._mode = "plain"
        self._plan_note = f"snapshot restore failed ({reason}): cold boot"
        if self._slot is not None:
            try:
                self._cold_and_save(f"snapshot restore failed ({reason})")
                if self._mode == "save":
                    self._slot.forget()  # we hold the save lock and take it again
            except (LabError, OSError, subprocess.SubprocessError) as e:
                self._release_snapshot_files()
                self._mode = "plain"
                self._plan_note += f" (not re-taken: {_one_line(e)})"
        self._attempts = 0
        self._launch()

    def wait_ssh(self, timeout: Optional[float] = None,
                 cancel: Optional[threading.Event] = None) -> float:
        """Block until sshd in the guest answers on ``port`` with an SSH banner and
        QEMU is still running; return seconds since start(). A cold boot that is to
        save the snapshot saves it before returning (the guest pauses for well under
        a second); a restore that fails boots cold instead. Raises LabError with the
        serial tail if QEMU dies, the timeout passes or ``cancel`` is set."""
        if self._proc is None:
            raise LabError(f"{self.arch} guest: wait_ssh() before start()")
        if timeout is None:
            timeout = float(getattr(self.spec, "boot_timeout", None) or 300.0)
        deadline = time.monotonic() + timeout
        while True:
            if self._relaunch_if_port_race():
                continue
            failed = self._restore_failed() or self._rearm_timers()
            if failed is not None:
                self._fall_back(failed)
                deadline = time.monotonic() + timeout  # the cold boot gets the full wait
                continue
            if not self.alive():
                raise LabError(
                    f"{self.arch} guest: QEMU exited (code {self.returncode}) before SSH was "
                    f"ready{self._crash_note()}; serial log {self.serial_log}:\n"
                    + self._log_tails()
                )
            banner_wait = 60.0
            if self._mode == "restore" and not self.ready:
                banner_wait = max(2.0, RESTORE_TIMEOUT - (time.monotonic() - self._launched_at))
            if _ssh_banner(self.port, banner_timeout=banner_wait) and self.alive():
                self.ready = True
                assert self.started_at is not None
                self.boot_seconds = time.monotonic() - self.started_at
                self._booted()
                return self.boot_seconds
            if cancel is not None and cancel.is_set():
                raise LabError(f"{self.arch} guest: boot cancelled")
            if time.monotonic() > deadline:
                raise LabError(
                    f"{self.arch} guest: SSH not ready on 127.0.0.1:{self.port} after "
                    f"{timeout:.0f}s{self._crash_note()}; serial log {self.serial_log}:\n"
                    + self._log_tails()
                )
            time.sleep(0.2 if self._mode == "restore" else 0.5)

    def _booted(self) -> None:
        """SSH answers: record how, and save the snapshot if this boot is to."""
        secs = self.boot_seconds or 0.0
        if self._mode == "restore":
            self.restored = True
            self.boot_note = f"restored from snapshot ({secs:.1f} s" + (
                f"; {self._rearm_note})" if self._rearm_note else ")")
            assert self._slot is not None
            with contextlib.suppress(OSError, ValueError):
                self.snapshot_saved_at = json.loads(self._slot.meta.read_text())["saved_at"]
            return
        if self._mode != "save":
            self.boot_note = self._plan_note or "cold boot"
            return
        retake = self._plan_note.startswith("snapshot restore failed")
        t0 = time.monotonic()
        try:
            self._save()
            what = "re-taken" if retake else "saved"
            self.boot_note = (f"{self._plan_note} ({secs:.1f} s), snapshot {what} "
                              f"({time.monotonic() - t0:.1f} s)")
        except (LabError, OSError, ValueError) as e:
            self.boot_note = f"{self._plan_note} ({secs:.1f} s); snapshot not saved: {_one_line(e)}"
            with open(self.qemu_log, "ab") as f:
                f.write(f"# snapshot not saved: {e}\n".encode())
        finally:
            self._release_save_lock()
            self._remove_sock_dir()

    def _save(self) -> None:
        """Pause the guest, ``savevm`` into its overlay, copy that into the slot, resume."""
        assert self._slot is not None and self._run is not None
        qmp = self._qmp_path()
        assert qmp is not None
        with lab_snapshot.Qmp(qmp) as q:
            q.command("stop")
            try:
                out = q.hmp(f"savevm {lab_snapshot.SNAPSHOT_NAME}").strip()
                if out:  # HMP prints nothing on success
                    raise LabError(f"savevm: {_one_line(out)}")
                self._slot.install(self._run, {
                    "saved_at": time.time(),
                    "cold_boot_seconds": self.boot_seconds,
                    "image": str(self.image.directory or self.image.disk),
                })
            finally:
                q.command("cont")

    def _new_crash(self) -> Optional[str]:
        """A crash line printed on the console since the last launch."""
        return self._crash_since(self._serial_offset)

    def _crash_since(self, offset: int) -> Optional[str]:
        try:
            with open(self.serial_log, "rb") as f:
                f.seek(offset)
                text = f.read().decode(errors="replace")
        except OSError:
            return None
        for line in text.splitlines():
            if any(p in line for p in CRASH_PATTERNS):
                return line.strip()
        return None

    def _console_note(self, msg: str) -> None:
        """A ``kmatrix:`` line in serial.log (QEMU appends to it too)."""
        with contextlib.suppress(OSError):
            with open(self.serial_log, "ab") as f:
                f.write(f"kmatrix: {msg}\n".encode())

    def _release_save_lock(self) -> None:
        if self._save_fd is not None:
            with contextlib.suppress(OSError):
                os.close(self._save_fd)
            self._save_fd = None

    def _remove_sock_dir(self) -> None:
        if self._sock_dir is not None:
            shutil.rmtree(self._sock_dir, ignore_errors=True)
            self._sock_dir = None

    def _release_snapshot_files(self) -> None:
        """Drop this boot's run copy, save lock and QMP socket (QEMU must be gone)."""
        if self._run is not None:
            self._run.discard()
            self._run = None
        self._release_save_lock()
        self._remove_sock_dir()

    def alive(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def returncode(self) -> Optional[int]:
        return None if self._proc is None else self._proc.poll()

    @property
    def pid(self) -> Optional[int]:
        return None if self._proc is None else self._proc.pid

    def kill(self) -> None:
        """SIGKILL QEMU now (fault-injection tests: the guest vanishes mid-run)."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            proc.wait()

    def stop(self, grace: float = 5.0) -> None:
        """Graceful stop: SIGTERM, SIGKILL after ``grace`` seconds. Idempotent."""
        if self._proc is not None:
            _terminate(self._proc, grace)
        if self._finalizer is not None:
            self._finalizer.detach()
            self._finalizer = None
        if self._port is not None:
            ports.release(self._port)
        self.ready = False
        self._release_snapshot_files()

    def __enter__(self) -> Guest:
        return self

    def __exit__(self, exc_type: Optional[type[BaseException]],
                 exc: Optional[BaseException], tb: Optional[TracebackType]) -> None:
        self.stop()

    # ---- SSH identity

    @property
    def port(self) -> int:
        if self._port is None:
            raise LabError(f"{self.arch} guest has no port before start()")
        return self._port

    def known_hosts_line(self) -> str:
        """``[127.0.0.1]:PORT TYPE BASE64`` for the key baked into the image."""
        return f"[{ports.LOOPBACK}]:{self.port} {self.image.host_key()}"

    def write_known_hosts(self, path: Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(self.known_hosts_line() + "\n")
        return path

    def ssh_params(self) -> dict[str, Any]:
        """Connection fields for a Host entry pointing at this guest."""
        return {
            "address": ports.LOOPBACK,
            "port": self.port,
            "user": "root",
            "identity_file": str(self.image.client_key) if self.image.client_key else None,
        }

    # ---- console

    def console_tail(self, n: int = 30) -> str:
        return "\n".join(_tail(self.serial_log, n))

    def crash_seen(self) -> Optional[str]:
        """The first kernel crash line (panic, oops, BUG, ...) on the console, or None."""
        return self._crash_since(0)

    def marker_seen(self) -> bool:
        """True once the guest's PID 1 printed that sshd is up (a restored guest
        printed it before its snapshot was saved)."""
        if self.restored and self.ready:
            return True
        try:
            return READY_MARKER in self.serial_log.read_text(errors="replace")
        except OSError:
            return False

    def _crash_note(self) -> str:
        line = self.crash_seen()
        return f" (kernel crash: {line})" if line else ""

    def _log_tails(self) -> str:
        serial = _tail(self.serial_log, 30) or ["(serial log empty)"]
        out = "\n".join("  | " + x for x in serial)
        qlog = [x for x in _tail(self.qemu_log, 10) if not x.startswith("$ ")]
        if qlog:
            out += "\n  qemu: " + "\n  qemu: ".join(qlog)
        return out


def _cleanup(proc: subprocess.Popen[bytes], run: Optional[lab_snapshot.RunFile],
             grace: float) -> None:
    """Finaliser: stop QEMU, then delete its per-run disk copy."""
    _terminate(proc, grace)
    if run is not None:
        run.discard()


def _one_line(e: object) -> str:
    text = " ".join(str(e).split())
    return text if len(text) <= 160 else text[:157] + "..."


def _pdeathsig_prefix() -> list[str]:
    # The kernel sends the death signal when the *thread* that forked QEMU exits. The
    # runner boots, uses and stops a guest in one host thread that outlives it, so
    # this holds everywhere: a SIGKILLed controller never leaves guests behind.
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "KILL", "--"] if setpriv else []
