"""Boot a lab image under QEMU (TCG) and reach it over real SSH on a forwarded
loopback port.

One ``Guest`` is one QEMU process with its serial console in ``run_dir/serial.log``
(kept with the results) and QEMU's own messages in ``run_dir/qemu.log``. The guest
disk is opened with ``snapshot=on``: the cached image is never modified, and any
number of guests can boot the same image at once.

QEMU runs in its own session, so a Ctrl-C at the controller reaches only the
controller (which then calls ``stop()``); a finaliser that also runs at interpreter
exit kills any guest still running, and QEMU gets SIGKILL from the kernel if the
controller dies outright (PR_SET_PDEATHSIG). That signal fires when the *thread*
that called ``start()`` exits, so start a guest from a thread that lives as long as
the guest should (the runner's host threads do).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import threading
import time
import weakref
from pathlib import Path
from types import TracebackType
from typing import Any, Optional

from kmatrix import archs
from kmatrix.errors import LabError
from kmatrix.lab import ports
from kmatrix.lab.image import Image

# /dev/kvm on this kind of host is PVM-flavoured and stock kernels do not boot on
# it, so every arch runs under TCG.
MACHINE_ARGS = {
    "x86_64": ["-machine", "q35,accel=tcg", "-cpu", "max"],
    "aarch64": ["-machine", "virt,accel=tcg", "-cpu", "max,pauth-impdef=on"],
    "riscv64": ["-machine", "virt,accel=tcg", "-cpu", "rv64", "-bios", "default"],
}
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


def _q(value: str) -> str:
    """Escape a value for QEMU's comma-separated option syntax."""
    return str(value).replace(",", ",,")


def kernel_cmdline(image: Image) -> str:
    parts = [f"console={image.console}", "panic=-1", "quiet"]
    if image.append:
        parts.append(image.append)
    return " ".join(parts)


def qemu_argv(arch: str, spec: Any, image: Image, port: int, serial_log: Path) -> list[str]:
    """The full QEMU command line for one guest (pure; unit-tested per arch)."""
    arch = archs.normalize(arch)
    machine = list(MACHINE_ARGS[arch])
    if image.firmware is not None:
        if "-bios" in machine:  # riscv64's OpenSBI default gives way to the user's
            del machine[machine.index("-bios"):machine.index("-bios") + 2]
        machine += ["-bios", str(image.firmware)]
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
    argv += [
        "-drive",
        f"file={_q(str(image.disk))},format={image.disk_format},if=none,id=d0,"
        "cache=unsafe,snapshot=on",
        # bootindex only matters for firmware disk boot; -kernel claims index 0 itself
        "-device", "virtio-blk-pci,drive=d0" + (",bootindex=0" if image.kernel is None else ""),
        "-netdev", f"user,id=n0,hostfwd=tcp:127.0.0.1:{int(port)}-:22",
        # romfile= : no iPXE option ROM, we never netboot (saves SeaBIOS time)
        "-device", "virtio-net-pci,netdev=n0,romfile=",
        "-device", "virtio-rng-pci",
    ]
    return argv


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
    """One QEMU guest of ``image``; see the module docstring."""

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
        self.ready = False
        self.started_at: Optional[float] = None
        self.boot_seconds: Optional[float] = None

    # ---- lifecycle

    def start(self) -> None:
        """Launch QEMU on a free loopback port (retrying if the port was taken
        between the probe and QEMU's bind)."""
        if self._proc is not None and self._proc.poll() is None:
            raise LabError(f"{self.arch} guest already running (pid {self._proc.pid})")
        binary = archs.info(self.arch).qemu_binary
        if shutil.which(binary) is None:
            raise LabError(f"{binary} not found (Debian: apt install qemu-system)")
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self._attempts = 0
        self.started_at = time.monotonic()
        self._launch()
        # QEMU binds the forwarded port before the guest runs; wait for that (or
        # for it to die on a taken port) so start() returns a guest that owns its port.
        deadline = time.monotonic() + 15.0
        while time.monotonic() < deadline:
            if self._relaunch_if_port_race():
                continue
            if self._proc is None or self._proc.poll() is not None:
                return  # wait_ssh reports the death with the logs
            if ports.is_listening(self.port, timeout=0.5):
                return
            time.sleep(0.1)

    def _launch(self) -> None:
        self._attempts += 1
        if self._port is not None:
            ports.release(self._port)
        self._port = ports.free_port()
        argv = qemu_argv(self.arch, self.spec, self.image, self._port, self.serial_log)
        with open(self.qemu_log, "ab") as log:
            log.write(("$ " + " ".join(argv) + "\n").encode())
            log.flush()
            self._log_offset = log.tell()  # this launch's messages start here
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
        self._finalizer = weakref.finalize(self, _terminate, self._proc, 3.0)

    def _relaunch_if_port_race(self) -> bool:
        proc = self._proc
        if proc is None or proc.poll() is None or self.ready:
            return False
        try:
            with open(self.qemu_log, "rb") as f:
                f.seek(self._log_offset)
                log = f.read(65536).decode(errors="replace")
        except OSError:
            log = ""
        if any(p in log for p in _PORT_RACE) and self._attempts < _PORT_ATTEMPTS:
            with open(self.qemu_log, "ab") as f:
                f.write(f"# port {self._port} was taken; retrying on another port\n".encode())
            self._launch()
            return True
        return False

    def wait_ssh(self, timeout: Optional[float] = None,
                 cancel: Optional[threading.Event] = None) -> float:
        """Block until sshd in the guest answers on ``port`` with an SSH banner and
        QEMU is still running; return seconds since start(). Raises LabError with
        the serial tail if QEMU dies, the timeout passes or ``cancel`` is set."""
        if self._proc is None:
            raise LabError(f"{self.arch} guest: wait_ssh() before start()")
        if timeout is None:
            timeout = float(getattr(self.spec, "boot_timeout", None) or 300.0)
        deadline = time.monotonic() + timeout
        while True:
            if self._relaunch_if_port_race():
                continue
            if not self.alive():
                raise LabError(
                    f"{self.arch} guest: QEMU exited (code {self.returncode}) before SSH was "
                    f"ready{self._crash_note()}; serial log {self.serial_log}:\n"
                    + self._log_tails()
                )
            if _ssh_banner(self.port) and self.alive():
                self.ready = True
                assert self.started_at is not None
                self.boot_seconds = time.monotonic() - self.started_at
                return self.boot_seconds
            if cancel is not None and cancel.is_set():
                raise LabError(f"{self.arch} guest: boot cancelled")
            if time.monotonic() > deadline:
                raise LabError(
                    f"{self.arch} guest: SSH not ready on 127.0.0.1:{self.port} after "
                    f"{timeout:.0f}s{self._crash_note()}; serial log {self.serial_log}:\n"
                    + self._log_tails()
                )
            time.sleep(0.5)

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
        try:
            text = self.serial_log.read_text(errors="replace")
        except OSError:
            return None
        for line in text.splitlines():
            if any(p in line for p in CRASH_PATTERNS):
                return line.strip()
        return None

    def marker_seen(self) -> bool:
        """True once the guest's PID 1 printed that sshd is up."""
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


def _pdeathsig_prefix() -> list[str]:
    # The kernel sends the death signal when the *thread* that forked QEMU exits. The
    # runner boots, uses and stops a guest in one host thread that outlives it, so
    # this holds everywhere: a SIGKILLed controller never leaves guests behind.
    setpriv = shutil.which("setpriv")
    return [setpriv, "--pdeathsig", "KILL", "--"] if setpriv else []
