"""Why a host stopped answering over SSH: its kernel still answers TCP (ssh-lost), or
there is no sign of life (kernel-dead). Real sockets on 127.0.0.1."""

from __future__ import annotations

import socket
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from kmatrix.inventory import Host
from kmatrix.machine import LabMachine, PlainMachine
from kmatrix.progress import Progress
from kmatrix.runner import HostRun, RunOptions
from kmatrix.session import Session

pytestmark = pytest.mark.fast


def _answers(port: int, machine: Any = None, **kw: Any) -> str:
    at = SimpleNamespace(address="127.0.0.1", port=port, transport="ssh", jump=kw.get("jump"))
    machine = machine or PlainMachine(Host(name="h", arch="x86_64", address="127.0.0.1"), print)
    return machine.answers(at)  # type: ignore[arg-type]


def test_a_refused_port_is_a_live_kernel() -> None:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()  # nothing listens: the kernel answers with a reset
    assert _answers(port) == f"its kernel refuses TCP port {port} with a reset"


def test_a_listening_port_is_a_live_host() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        assert "accepts TCP connections" in _answers(port)


def test_no_probe_through_qemu_forwards_or_jump_hosts() -> None:
    lab = LabMachine.__new__(LabMachine)  # its port is QEMU's forward
    assert _answers(22, lab) == ""
    assert _answers(22, jump=object()) == ""


def test_unconfirmed_clean_up_is_said_in_the_results(tmp_path: Path) -> None:
    from kmatrix.errors import TransportError

    class Gone:
        round_trips = 3

        def run(self, *a: Any, **k: Any) -> Any:
            raise TransportError("not connected")

        def close(self) -> None:
            pass

    host = Host(name="h", arch="x86_64", address="127.0.0.1")
    hr = HostRun(host, [], SimpleNamespace(), RunOptions(out_dir=tmp_path, cache_dir=tmp_path),
                 Progress(quiet=True), lambda: None)
    # The agent's launch made a workdir, then the connection went away for good.
    hr.session = Session(host, Progress(quiet=True))
    hr.session.transport, hr.trace.workdir = Gone(), "/tmp/kmatrix.abc123"
    hr.trace.workdirs.append(hr.trace.workdir)
    hr.teardown()
    assert hr.result.facts["cleanup"]["confirmed"] is False
    assert "could not confirm clean-up of /tmp/kmatrix.abc123: not connected" in \
        hr.result.facts["cleanup"]["reason"]
    assert hr.result.error.startswith("cleanup failed")
