"""Re-arm a restored riscv64 guest's timers through QEMU's gdbstub.

QEMU before 10.2 saves each hart's ``stimecmp`` CSR but not the host timer that
fires when ``time`` reaches it (upstream fixed this in October 2025: "target/riscv:
Save stimer and vstimer in CPU vmstate"). A hart that was waiting for its timer
when the snapshot was taken never gets the interrupt after ``-loadvm``, and Linux,
believing it is still pending, never programs another: the hart hangs for good
(the watchdog's "hard LOCKUP on cpu 0", SSH logins that time out). Writing each
hart's ``stimecmp`` back to itself through the debugger runs QEMU's CSR write
path, which arms the host timer again (and raises the interrupt at once if the
deadline has passed). Measured here on QEMU 7.2: 2 of 4 restores hung without
this, 0 of 6 with it.

The client speaks just enough of the GDB remote protocol: qSupported, the CSR
feature description (to find where the CSR register numbers start), thread list,
``Hg``, ``p``, ``P`` and ``D`` (detach, which lets the guest run on).
"""

from __future__ import annotations

import re
import socket
import time
from pathlib import Path

from kmatrix.errors import LabError

CSR_SSTATUS = 0x100
CSR_STIMECMP = 0x14D


class Rsp:
    """A GDB remote-protocol connection to a QEMU gdbstub on a Unix socket."""

    def __init__(self, path: Path, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            try:
                self.sock.connect(str(path))
                break
            except OSError as e:
                self.sock.close()
                if time.monotonic() > deadline:
                    raise LabError(f"gdbstub {path}: {e}") from None
                time.sleep(0.05)  # QEMU creates the socket as it starts
        self.buf = b""

    def _packet(self) -> str:
        while True:
            m = re.search(rb"\$([^#]*)#[0-9a-fA-F]{2}", self.buf)
            if m:
                self.buf = self.buf[m.end():]
                try:
                    self.sock.sendall(b"+")
                except OSError:
                    pass  # the stub hung up after its last answer (detach): that is fine
                return m.group(1).decode("ascii", "replace")
            data = self.sock.recv(65536)
            if not data:
                raise LabError("gdbstub closed the connection")
            self.buf += data

    def cmd(self, payload: str) -> str:
        raw = payload.encode("ascii")
        self.sock.sendall(b"$" + raw + b"#%02x" % (sum(raw) & 0xFF))
        while True:
            got = self._packet()
            # QEMU reports that the guest stopped when a debugger attaches; that stop
            # reply is not the answer to this command.
            if got[:1] not in ("T", "S") or payload == "?":
                return got

    def close(self) -> None:
        self.sock.close()


def csr_base(rsp: Rsp) -> int:
    """Register number of CSR 0: QEMU numbers CSRs base + CSR number."""
    xml, offset = "", 0
    while True:
        part = rsp.cmd(f"qXfer:features:read:riscv-csr.xml:{offset:x},fff")
        if not part or part[0] not in "ml":
            raise LabError(f"gdbstub has no riscv-csr.xml ({part[:60]!r})")
        xml += part[1:]
        offset += len(part) - 1
        if part[0] == "l":
            break
    m = re.search(r'name="sstatus"[^>]*regnum="(\d+)"', xml)
    if m is None:
        raise LabError("gdbstub's CSR description has no sstatus")
    return int(m.group(1)) - CSR_SSTATUS


def threads(rsp: Rsp) -> list[str]:
    out: list[str] = []
    reply = rsp.cmd("qfThreadInfo")
    while reply.startswith("m"):
        out += [t for t in reply[1:].split(",") if t]
        reply = rsp.cmd("qsThreadInfo")
    return out


def rearm_riscv_timers(path: Path, timeout: float = 10.0) -> str:
    """Write every hart's stimecmp back to itself, then detach; returns a note."""
    rsp = Rsp(path, timeout)
    try:
        rsp.cmd("qSupported")
        reg = csr_base(rsp) + CSR_STIMECMP
        harts = threads(rsp)
        if not harts:
            raise LabError("gdbstub lists no harts")
        for hart in harts:
            if rsp.cmd(f"Hg{hart}") != "OK":
                raise LabError(f"gdbstub cannot select hart {hart}")
            value = rsp.cmd(f"p{reg:x}")
            if not re.fullmatch(r"[0-9a-fA-F]{16}", value):
                raise LabError(f"gdbstub cannot read stimecmp of hart {hart}: {value[:40]!r}")
            if rsp.cmd(f"P{reg:x}={value}") != "OK":
                raise LabError(f"gdbstub cannot write stimecmp of hart {hart}")
        rsp.cmd("D")  # detach: the guest runs on
        return f"stimecmp re-armed on {len(harts)} harts"
    except OSError as e:
        raise LabError(f"gdbstub {path}: {e}") from None
    finally:
        rsp.close()
