"""Transports: how the controller reaches a target (SSH, or this machine itself)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Optional, Union

from kmatrix.errors import HostKeyError, TransportError
from kmatrix.transport.base import CommandTimeout, Completed, Stream, Transport

if TYPE_CHECKING:
    from kmatrix.inventory import Host

__all__ = [
    "CommandTimeout", "Completed", "HostKeyError", "Stream", "Transport", "TransportError",
    "open_transport",
]


def open_transport(host: Host, *,
                   known_hosts_override: Optional[Union[str, Path]] = None) -> Transport:
    """A transport for ``host`` (not yet connected: call ``connect()`` or use ``with``).

    ``known_hosts_override`` replaces the host's known_hosts file, e.g. for a lab
    guest whose host key the lab just generated.
    """
    if host.transport == "local":
        from kmatrix.transport.local import LocalTransport

        return LocalTransport(host)
    if host.transport == "ssh":
        from kmatrix.transport.ssh import SSHTransport

        return SSHTransport(host, known_hosts_override=known_hosts_override)
    raise TransportError(f"{host.name}: unknown transport {host.transport!r}")
