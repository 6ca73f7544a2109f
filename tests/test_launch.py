"""The one exec per host (kmatrix/launch.py + kmatrix/agent/launch.py), driven over
the real local transport: the launcher prints the facts, makes a 0700 workdir,
and then takes a bundle, an abort or EOF on the same stdin."""

from __future__ import annotations

import hashlib
import json
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from kmatrix import launch
from kmatrix.agent import launch as agent_launch
from kmatrix.inventory import Host
from kmatrix.transport import open_transport

pytestmark = pytest.mark.fast


def _transport():  # type: ignore[no-untyped-def]
    t = open_transport(Host(name="self", arch="x86_64", transport="local"))
    t.connect()
    return t


def _launcher() -> subprocess.Popen[bytes]:
    src = launch.source()
    p = subprocess.Popen([sys.executable, "-c", launch.LOADER, str(len(src))],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert p.stdin is not None
    p.stdin.write(src + b"{}\n")
    p.stdin.flush()
    return p


def _facts(p: subprocess.Popen[bytes]) -> dict:  # type: ignore[type-arg]
    assert p.stdout is not None
    ev = json.loads(p.stdout.readline())
    assert ev["event"] == "facts"
    return ev["facts"]


def test_facts_come_first_with_a_private_workdir_and_an_abort_removes_it() -> None:
    t = _transport()
    try:
        la = launch.Launch(t, sys.executable, "self")
        facts = la.start()
        workdir = Path(facts["workdir"])
        assert facts["uname"]["release"] == os.uname().release and facts["btf"]["present"]
        assert stat.S_IMODE(workdir.stat().st_mode) == 0o700
        # The facts travel once: the agent starts from the launcher's copy.
        assert json.loads((workdir / agent_launch.FACTS_FILE).read_text())["workdir"] == \
            str(workdir)
        assert la.abort("nothing to run") is True
        assert not workdir.exists()
    finally:
        t.close()


def test_eof_before_a_bundle_removes_the_workdir() -> None:
    p = _launcher()
    workdir = Path(_facts(p)["workdir"])
    out, _err = p.communicate(timeout=60)  # closes stdin: the controller went away
    assert p.returncode == 0
    assert json.loads(out.decode().splitlines()[-1])["event"] == "aborted"
    assert not workdir.exists()


@pytest.mark.parametrize("damage", ["short", "sha256"])
def test_a_damaged_bundle_is_refused_and_nothing_runs(damage: str) -> None:
    p = _launcher()
    workdir = Path(_facts(p)["workdir"])
    data = b"PK\x05\x06" + b"\0" * 18  # an empty zip would do; it must never run
    head = {"bundle": len(data) + (10 if damage == "short" else 0),
            "sha256": hashlib.sha256(data).hexdigest() if damage == "short" else "0" * 64}
    _out, err = p.communicate(json.dumps(head).encode() + b"\n" + data, timeout=60)
    assert p.returncode == 3
    assert ("arrived short" if damage == "short" else "sha256 differs") in err.decode()
    assert not workdir.exists()


def test_setup_notes_say_what_was_done_never_the_bytes() -> None:
    entropy = os.urandom(16).hex()
    notes = agent_launch.apply_setup({"entropy": entropy})
    assert set(notes) == {"entropy"}
    if os.geteuid() == 0:
        assert notes["entropy"] == "credited 16 bytes"
    assert entropy not in json.dumps(notes)
    assert agent_launch.apply_setup({}) == {}
    assert agent_launch.apply_setup({"entropy": "not hex"}) == {"entropy": "not hex"}


def test_the_loader_runs_the_source_under_a_name_that_is_not_main() -> None:
    # preflight.py's own main() would print a second facts object under __main__.
    assert '"__name__":"kmatrix_launch"' in launch.LOADER
    assert launch.source().count(b'if __name__ == "kmatrix_launch":') == 1
    assert launch.setup(restored=False) == {}
    s = launch.setup(restored=True)
    assert set(s) == {"clock", "entropy"} and len(bytes.fromhex(s["entropy"])) == 64
