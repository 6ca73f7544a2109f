"""Free loopback TCP ports for QEMU host forwarding.

The kernel picks a free port when we bind to port 0; we close the socket and hand
the number to QEMU. Between close and QEMU's bind another process may take it, so
callers must retry when QEMU reports it cannot set up the forwarding rule.
Ports handed out recently by this process are not handed out again, so two guests
started at the same moment in different threads never get the same number.
"""

from __future__ import annotations

import socket
import threading
import time

LOOPBACK = "127.0.0.1"
# How long a handed-out port stays reserved inside this process (QEMU binds within
# a second or two; after that the port is either QEMU's or free again).
_RESERVE_SECONDS = 30.0
_lock = threading.Lock()
_recent: dict[int, float] = {}


def _probe(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def free_port(host: str = LOOPBACK, attempts: int = 50) -> int:
    """Return a TCP port on ``host`` that was free a moment ago and that this
    process has not handed out in the last ``_RESERVE_SECONDS``."""
    now = time.monotonic()
    with _lock:
        for port, t in list(_recent.items()):
            if now - t > _RESERVE_SECONDS:
                del _recent[port]
        for _ in range(attempts):
            port = _probe(host)
            if port not in _recent:
                _recent[port] = now
                return port
    raise OSError(f"no free TCP port on {host} after {attempts} attempts")


def release(port: int) -> None:
    """Forget a reservation (the guest using it has stopped)."""
    with _lock:
        _recent.pop(port, None)


def is_listening(port: int, host: str = LOOPBACK, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False
