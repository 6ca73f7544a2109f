"""Transports: how the controller reaches a target (SSH, or this machine itself)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable, Optional, Union

from kmatrix.errors import HostKeyError, TransportError
from kmatrix.transport.base import CommandTimeout, Completed, PrivilegeError, Stream, Transport

if TYPE_CHECKING:
    from kmatrix.inventory import Host

__all__ = [
    "CommandTimeout", "Completed", "HostKeyError", "PrivilegeError", "Stream", "Transport",
    "TransportError",
    "open_transport", "register_transport",
]

# Extra transports by name, e.g. the benchmarks' simulated one (bench/simtransport.py).
# hosts.yaml still accepts only ssh and local: these are for code that builds Host objects.
_EXTRA: dict[str, Callable[..., Transport]] = {}


def register_transport(name: str, factory: Optional[Callable[..., Transport]]) -> None:
    """``open_transport`` builds hosts whose ``transport`` is ``name`` with
    ``factory(host, known_hosts_override=...)``; ``None`` removes the name."""
    if factory is None:
        _EXTRA.pop(name, None)
    else:
        _EXTRA[name] = factory


def open_transport(host: Host, *,
                   known_hosts_override: Optional[Union[str, Path]] = None) -> Transport:
    """A transport for ``host`` (not yet connected: call ``connect()`` or use ``with``).

    ``known_hosts_override`` replaces the host's known_hosts file, e.g. for a lab
    guest whose host key the lab just generated.
    """
    extra = _EXTRA.get(host.transport)
    if extra is not None:
        return extra(host, known_hosts_override=known_hosts_override)
    if host.transport == "local":
        from kmatrix.transport.local import LocalTransport

        return LocalTransport(host)
    if host.transport == "ssh":
        from kmatrix.transport.ssh import SSHTransport

        return SSHTransport(host, known_hosts_override=known_hosts_override)
    raise TransportError(f"{host.name}: unknown transport {host.transport!r}")
