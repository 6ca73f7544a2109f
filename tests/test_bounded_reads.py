"""Bounded reads (issue 22): a huge identity_file or known_hosts is refused by its
size before paramiko reads it whole, and a -k pattern cannot cost quadratic time.

Over a real sshd on loopback, under an address-space limit well below the files."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest
from sshd import SshdInfo, start_sshd
from test_faults import _cases_dir

pytestmark = [pytest.mark.sshd,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root for sshd")]

MEMORY_LIMIT = 1536 << 20
QUICK = '''"""Test-only."""
CASE = {"description": "quick", "build": False}


def run(t):
    pass
'''


def _bounded() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


@pytest.fixture
def sshd(tmp_path: Path):
    info = start_sshd(tmp_path / "sshd")
    yield info
    info.stop()


def _sparse(path: Path, size: int, head: bytes = b"") -> Path:
    with open(path, "wb") as f:
        f.write(head)
        f.truncate(size)
    return path


def _run(tmp: Path, sshd: SshdInfo, key: str, known: str, *extra: str
         ) -> subprocess.CompletedProcess[str]:
    hosts = tmp / "hosts.yaml"
    hosts.write_text("hosts:\n  - name: loop\n    arch: x86_64\n    address: 127.0.0.1\n"
                     f"    port: {sshd.port}\n    identity_file: {key}\n"
                     f"    known_hosts: {known}\n")
    cases = _cases_dir(tmp, {"dynptr/quick.py": QUICK}, real=())
    return subprocess.run([sys.executable, "-m", "kmatrix", "run", "--hosts", str(hosts),
                           "--cases-dir", str(cases), "--output", str(tmp / "out"),
                           "--cache-dir", str(tmp / "cache"), "-q", *extra],
                          capture_output=True, text=True, timeout=120, preexec_fn=_bounded)


def test_a_1gib_identity_file_is_refused_by_size(tmp_path: Path, sshd: SshdInfo) -> None:
    key = _sparse(tmp_path / "key", 1 << 30, b"-----BEGIN OPENSSH PRIVATE KEY-----\n")
    key.chmod(0o600)
    p = _run(tmp_path, sshd, str(key), str(sshd.known_hosts_path))
    assert p.returncode == 2, p.stdout + p.stderr
    assert "identity_file" in p.stdout and "MiB bound" in p.stdout, p.stdout
    assert "Traceback" not in p.stderr and "internal error" not in p.stderr + p.stdout


def test_a_1gib_known_hosts_is_refused_by_size(tmp_path: Path, sshd: SshdInfo) -> None:
    known = _sparse(tmp_path / "known", 1 << 30, sshd.known_hosts_line().encode())
    p = _run(tmp_path, sshd, str(sshd.user_key_path), str(known))
    assert p.returncode == 2, p.stdout + p.stderr
    assert "known_hosts" in p.stdout and "MiB bound" in p.stdout, p.stdout
    assert "Traceback" not in p.stderr and "internal error" not in p.stderr + p.stdout


def test_a_long_bracket_pattern_is_refused_at_once(tmp_path: Path, sshd: SshdInfo) -> None:
    t0 = time.monotonic()
    p = _run(tmp_path, sshd, str(sshd.user_key_path), str(sshd.known_hosts_path),
             "-k", "[a-" * 43000)
    assert time.monotonic() - t0 < 30
    assert p.returncode == 2 and "at most 512" in p.stderr, p.stderr
    assert len(p.stderr.strip().splitlines()) == 1, p.stderr
    # A pattern of the bound's length is matched quickly, and selects nothing here.
    t0 = time.monotonic()
    p = _run(tmp_path, sshd, str(sshd.user_key_path), str(sshd.known_hosts_path),
             "-k", ("[a-" * 200)[:512])
    assert time.monotonic() - t0 < 30
    assert p.returncode == 2 and "no case selected" in p.stderr, p.stderr
