"""A target's life: start, stop, restart, is-alive; one class per kind of target.

- ``PlainMachine``: a real host kmatrix cannot restart; its TCP port can still
  tell a dead kernel from a lost SSH connection.
- ``ResetMachine``: a real host with a ``reset_cmd`` (run on the controller).
- ``LabMachine``: a QEMU guest kmatrix boots (or restores from its snapshot),
  reboots, and whose serial console tells what killed it.

The channel to the machine is the ``Session``'s (kmatrix/session.py); the runner
only orchestrates the two.
"""

from __future__ import annotations

import dataclasses
import socket
import subprocess
import threading
from pathlib import Path
from typing import Any, Callable, Optional

from kmatrix.errors import KmatrixError
from kmatrix.inventory import Host


class PlainMachine:
    """A machine that is simply there."""

    kind = "plain"

    def __init__(self, host: Host, say: Callable[[str], None]) -> None:
        self.host = host
        self.say = say

    def start(self) -> Host:
        """Make the machine reachable; returns the Host to connect to."""
        return self.host

    def stop(self) -> None:
        pass

    def restart(self, why: str) -> bool:
        """Bring the machine back after its kernel died; False when this kind cannot
        be restarted, or the restart failed."""
        return False

    def where(self, host: Host) -> Host:
        """`host` (the session's) pointing at where the machine answers now."""
        return host

    def is_alive(self) -> Optional[bool]:
        """False when the machine is known to be gone; None when only the channel can
        tell (a real host)."""
        return None

    @property
    def restored(self) -> bool:
        """Whether it came up from a saved VM snapshot (its clock and entropy are stale)."""
        return False

    def console(self) -> tuple[str, str]:
        """(excerpts, one-line summary) of what the console saw die; ("", "") if none."""
        return "", ""

    def answers(self, host: Host) -> str:
        """Evidence that the kernel is up although SSH is gone, or "".

        A refused TCP connection is an RST from the target's own kernel; an accepted
        one is a listener. A host behind a jump host cannot be probed from here."""
        if host.transport != "ssh" or getattr(host, "jump", None):
            return ""
        try:
            with socket.create_connection((host.address, host.port), timeout=5):
                return f"its port {host.port} accepts TCP connections"
        except ConnectionRefusedError:
            return f"its kernel refuses TCP port {host.port} with a reset"
        except OSError:
            return ""


class ResetMachine(PlainMachine):
    """A real host whose owner gave a command that power-cycles or resets it."""

    kind = "reset_cmd"

    def restart(self, why: str) -> bool:
        self.say(f"{why}: running reset_cmd")
        try:
            subprocess.run(list(self.host.reset_cmd or []), timeout=600, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        except (OSError, subprocess.SubprocessError) as e:
            self.say(f"reset_cmd failed: {e}")
            return False
        return True


class LabMachine(PlainMachine):
    """A QEMU guest of the embedded lab (kmatrix/lab/)."""

    kind = "lab"

    def __init__(self, host: Host, say: Callable[[str], None], cache_dir: Path, host_dir: Path,
                 stop: threading.Event, health_rules: Any = None) -> None:
        super().__init__(host, say)
        self.cache_dir = cache_dir
        self.host_dir = host_dir
        self.cancel = stop
        self.health_rules = health_rules
        self.guest: Any = None
        self._image: Any = None
        self._console_offset = 0  # bytes of the serial log before the last (re)boot

    def start(self) -> Host:
        from kmatrix.lab import image as lab_image
        from kmatrix.lab import qemu as lab_qemu

        spec = self.host.qemu
        self._image = lab_image.ensure_image(self.host.arch, spec, self.cache_dir / "images",
                                             self.say, cancel=self.cancel)
        self.guest = lab_qemu.Guest(self.host.arch, spec, self._image, self.host_dir)
        self.say("booting QEMU guest (TCG)")
        self._boot()
        note = getattr(self.guest, "boot_note", "")
        self.say(f"guest up on 127.0.0.1:{self.guest.port}" + (f": {note}" if note else ""))
        img = self._image
        known = self.host_dir / "known_hosts"
        return dataclasses.replace(
            # A guest restored from a snapshot has an empty TCG translation cache, so
            # its first SSH login can take many seconds on a loaded machine.
            self.host, connect_timeout=max(self.host.connect_timeout, 60.0),
            address="127.0.0.1", port=self.guest.port, user="root",
            identity_file=str(self.host.identity_file or img.client_key),
            known_hosts=str(self.host.known_hosts or known) if spec.image else str(known),
        )

    def _boot(self) -> None:
        self.guest.start()
        self.guest.wait_ssh(timeout=getattr(self.host.qemu, "boot_timeout", 300),
                            cancel=self.cancel)
        self.guest.write_known_hosts(self.host_dir / "known_hosts")

    def restart(self, why: str) -> bool:
        self.say(f"{why}: rebooting the guest")
        self.guest.stop()
        self._console_offset = _size(self.guest.serial_log)
        self._boot()
        return True

    def where(self, host: Host) -> Host:
        # A rebooted guest may forward SSH from another free loopback port.
        return dataclasses.replace(host, port=self.guest.port)

    def stop(self) -> None:
        if self.guest is not None:
            self.guest.stop()

    def is_alive(self) -> Optional[bool]:
        return None if self.guest is None else bool(self.guest.alive())

    @property
    def restored(self) -> bool:
        return bool(self.guest is not None and getattr(self.guest, "restored", False))

    def console(self) -> tuple[str, str]:
        """Splats on the guest's console since its last boot (detectors.scan_console)."""
        try:
            from kmatrix import detectors

            # The offset is in bytes: slice before decoding (consoles write CRLF).
            data = self.guest.serial_log.read_bytes()[self._console_offset:]
            findings = detectors.scan_console(data, self.health_rules)
            text = "\n\n".join(f"{f.kind}: {f.excerpt}" for f in findings)[:20000]
            return text, detectors.summarize(findings)
        except Exception:
            return (self.guest.console_tail(40) if self.guest is not None else ""), ""

    def answers(self, host: Host) -> str:
        # The port is QEMU's forward: a connection proves nothing; the console decides.
        return ""


def machine_for(host: Host, say: Callable[[str], None], *, cache_dir: Path, host_dir: Path,
                stop: threading.Event, health_rules: Any = None) -> PlainMachine:
    """The Machine for a hosts.yaml entry."""
    if host.qemu is not None:
        return LabMachine(host, say, cache_dir, host_dir, stop, health_rules)
    if host.reset_cmd:
        return ResetMachine(host, say)
    return PlainMachine(host, say)


def check_machine(host: Host, facts: dict[str, Any]) -> None:
    """The target is the arch hosts.yaml says it is."""
    machine = (facts.get("uname") or {}).get("machine")
    if machine and machine != host.arch:
        raise KmatrixError(f"host {host.name}: hosts.yaml says arch {host.arch}, "
                           f"but the target reports {machine}")


def check_facts(host: Host, facts: dict[str, Any]) -> None:
    """Refuse, in one host-level line, a target no case can run on."""
    if not (facts.get("btf") or {}).get("present"):
        # Every case needs BTF (vmlinux.h, CO-RE, kfuncs).
        release = (facts.get("uname") or {}).get("release") or "?"
        raise KmatrixError(
            f"host {host.name}: kernel {release} has no BTF (/sys/kernel/btf/vmlinux; "
            "CONFIG_DEBUG_INFO_BTF), which every case needs to compile and load; "
            "openEuler 20.03 LTS's 4.19 kernels are built without it")
    if getattr(host, "libbpf", "bundled") == "system" and not facts.get("libbpf"):
        raise KmatrixError(f"host {host.name}: `libbpf: system`, but the target has "
                           f"no libbpf.so ({_package_hint(facts, 'libbpf')})")


def _package_hint(facts: dict[str, Any], what: str) -> str:
    from kmatrix.agent import kmod

    return kmod.package_hint(what, rpm=kmod.is_rpm(facts.get("os_release") or {}))


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0
