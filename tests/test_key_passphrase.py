"""An encrypted identity file with a wrong or missing passphrase is said as such, in
one line, over a real sshd on 127.0.0.1 (not paramiko's BadAuthenticationType)."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from sshd import sshd_available, start_sshd

from kmatrix.errors import TransportError
from kmatrix.inventory import load_hosts_text
from kmatrix.transport import open_transport

pytestmark = [pytest.mark.sshd,
              pytest.mark.skipif(not sshd_available(), reason="OpenSSH server is not installed")]


def _encrypted_key(d: Path) -> Path:
    key = d / "id_secret"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "right horse", "-f", str(key)],
                   check=True, timeout=60)
    return key


@pytest.mark.parametrize("given,words", [
    ("wrong battery", "does not decrypt the key"),
    (None, "is encrypted and no passphrase was given"),
])
def test_key_passphrase_problems_are_named(tmp_path: Path, given: str | None, words: str,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    sshd = start_sshd(tmp_path / "s")
    try:
        key = _encrypted_key(tmp_path)
        # The server would accept this key: only the passphrase stands in the way.
        with open(sshd.dir / "authorized_keys", "a") as f:
            f.write(Path(str(key) + ".pub").read_text())
        extra = ""
        if given is not None:
            monkeypatch.setenv("KMX_TEST_PASSPHRASE", given)
            extra = "    password_env: KMX_TEST_PASSPHRASE\n"
        (host,) = load_hosts_text(
            "hosts:\n  - name: enc\n    arch: x86_64\n    address: 127.0.0.1\n"
            f"    port: {sshd.port}\n    user: {os.environ.get('USER', 'root')}\n"
            f"    identity_file: {key}\n    known_hosts: {sshd.known_hosts_path}\n" + extra,
            "hosts.yaml", tmp_path)
        t = open_transport(host)
        with pytest.raises(TransportError) as ei:
            t.connect()
        msg = str(ei.value)
        assert words in msg and str(key) in msg and "\n" not in msg, msg
        assert "BadAuthenticationType" not in msg
        if given is not None:
            assert "$KMX_TEST_PASSPHRASE" in msg and given not in msg  # never the secret
    finally:
        sshd.stop()
