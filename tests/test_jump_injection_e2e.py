"""Shell metacharacters in the new host fields (jump, jump_hosts, become, ssh_host,
ssh_config, defaults:) and inside an ssh_config never execute.

The pattern of tests/test_injection_e2e.py: `$(touch M)`, backticks, `;touch M`...
payloads with a unique marker M. Values kmatrix refuses are refused with one
line naming file, line and field (the real CLI, against a real sshd that also acts
as its own bastion); odd but legal paths run for real. No marker may ever exist.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sshd import SshdInfo, sshd_available, start_sshd
from test_injection_e2e import _fired, _payloads  # one payload list for every field

from kmatrix.errors import InputError
from kmatrix.inventory import load_hosts

pytestmark = [
    pytest.mark.sshd, pytest.mark.bpf,
    pytest.mark.skipif(not sshd_available(), reason="OpenSSH server is not installed"),
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for sshd and BPF"),
]

ROOT = Path(__file__).resolve().parent.parent




def _q(s: str) -> str:
    return "'" + s.replace("'", "''") + "'"


@pytest.fixture(scope="module")
def sshd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SshdInfo]:
    # Its own bastion too: forwarding on, so a ProxyJump through it reaches it again.
    info = start_sshd(tmp_path_factory.mktemp("inj-jump-sshd"), extra=["AllowTcpForwarding yes"])
    yield info
    info.stop()


@pytest.fixture
def marker() -> Iterator[str]:
    m = f"/tmp/kmatrix-inject-{uuid.uuid4().hex}-"
    yield m
    for p in _fired(m):
        os.unlink(p)


def _kmatrix(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "kmatrix", *args], capture_output=True,
                          text=True, timeout=300, cwd=str(cwd),
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))


def _cases(tmp: Path) -> Path:
    d = tmp / "cases"
    (d / "dynptr").mkdir(parents=True)
    for suffix in (".bpf.c", ".py"):
        shutil.copy(ROOT / "bpf_cases" / "dynptr" / f"from_mem{suffix}", d / "dynptr")
    return d


# Each template puts the payload into one new field; LINE and FIELD are what the
# one-line error must name.
TEMPLATES = {
    "jump": ("hosts:\n  - name: a\n    arch: x86_64\n    address: 127.0.0.1\n    jump: {v}\n",
             5, "jump", "root@h{p}"),
    "jump_name": ("hosts:\n  - name: a\n    arch: x86_64\n    address: 127.0.0.1\n    jump: {v}\n",
                  5, "jump", "gw{p}"),
    "ssh_host": ("hosts:\n  - name: a\n    arch: x86_64\n    ssh_host: {v}\n", 4, "ssh_host",
                 "lab{p}"),
    "become": ("hosts:\n  - name: a\n    arch: x86_64\n    address: h\n    become: {v}\n", 5,
               "become", "sudo{p}"),
    "defaults.user": ("defaults:\n  user: {v}\nhosts:\n  - {{name: a, arch: x86_64, address: h}}\n",
                      2, "defaults.user", "ci{p}"),
    "defaults.jump": ("defaults:\n  jump: {v}\nhosts:\n  - {{name: a, arch: x86_64, address: h}}\n",
                      2, "defaults.jump", "ops@gw:22{p}"),
    "jump_hosts.address": ("hosts:\n  - {{name: a, arch: x86_64, address: h, jump: gw}}\n"
                           "jump_hosts:\n  - name: gw\n    address: {v}\n", 5, "address", "gw{p}"),
    "jump_hosts.user": ("hosts:\n  - {{name: a, arch: x86_64, address: h, jump: gw}}\n"
                        "jump_hosts:\n  - name: gw\n    address: gw\n    user: {v}\n", 6, "user",
                        "ops{p}"),
}


@pytest.mark.parametrize("name", sorted(TEMPLATES))
def test_payloads_in_new_fields_are_refused(tmp_path: Path, marker: str, name: str,
                                            sshd: SshdInfo) -> None:
    text, line, field, shape = TEMPLATES[name]
    hosts = tmp_path / "hosts.yaml"
    for i, p in enumerate(_payloads(marker)):
        hosts.write_text(text.format(v=_q(shape.format(p=p))))
        with pytest.raises(InputError) as ei:
            load_hosts(hosts)
        assert (ei.value.line, ei.value.field) == (line, field), str(ei.value)
        if i == 0:  # and once through the real CLI: exit 2, one line, nothing run
            proc = _kmatrix("run", "--hosts", str(hosts), "--cases-dir", str(_cases(tmp_path)),
                            "--output", str(tmp_path / "out"), cwd=tmp_path)
            err = proc.stderr.strip().splitlines()
            assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr
            assert len(err) == 1 and f"{hosts}:{line}: {field}:" in err[0], err
    assert _fired(marker) == []


def test_payloads_inside_an_ssh_config_never_run(tmp_path: Path, marker: str,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))  # ~ in a config expands here, not in /root
    cfg = tmp_path / "ssh_config"
    hosts = tmp_path / "hosts.yaml"
    hosts.write_text(f"hosts:\n  - name: a\n    arch: x86_64\n    ssh_host: x\n"
                     f"    ssh_config: {cfg}\n")
    for p in _payloads(marker):
        for body in (f"HostName \"h{p}\"", f"User \"u{p}\"", f"Port \"22{p}\"",
                     f"ProxyJump \"j{p}\"", f"IdentityFile \"/tmp/k{p}\"",
                     f"UserKnownHostsFile \"/nonexistent/k{p}\"", f"ProxyCommand {p}",
                     f"LocalCommand {p}\n    PermitLocalCommand yes\n    HostName \"h{p}\""):
            cfg.write_text(f"Host x\n    {body}\n")
            with pytest.raises(InputError) as ei:
                load_hosts(hosts)
            assert (ei.value.line, ei.value.field) == (4, "ssh_host"), str(ei.value)
            assert f"{cfg}:" in ei.value.message, str(ei.value)
        cfg.write_text(f"Match exec \"{p}\"\n    User x\nHost x\n    HostName h\n")
        with pytest.raises(InputError):
            load_hosts(hosts)
        cfg.write_text(f"Include {tmp_path}/inc{p.replace(' ', '')}\nHost x\n    HostName h\n")
        assert load_hosts(hosts)[0].address == "h"  # a glob with no match includes nothing
    assert _fired(marker) == []


def test_odd_paths_in_ssh_config_and_hosts_run_but_never_execute(
        tmp_path: Path, sshd: SshdInfo, marker: str) -> None:
    pay = _payloads(marker)
    odd = tmp_path / ("d" + pay[0].replace("/", "_") + pay[1].replace("/", "_") + ";x")
    odd.mkdir()
    key = odd / "id key$(x)"
    shutil.copy(sshd.user_key_path, key)
    os.chmod(key, 0o600)
    known = odd / "known`hosts`"
    known.write_text(sshd.known_hosts_line())
    cfg = odd / "ssh config$(touch x)"
    # Double quotes keep the spaces; the rest is literal text to ssh_config and to us.
    cfg.write_text(f"""\
Host odd-target
    HostName 127.0.0.1
    Port {sshd.port}
    User root
    IdentityFile "{key}"
    UserKnownHostsFile "{known}"
    ProxyJump odd-bastion
Host odd-bastion
    HostName 127.0.0.1
    Port {sshd.port}
    User root
    IdentityFile "{key}"
    UserKnownHostsFile "{known}"
""")
    hosts = tmp_path / "hosts.yaml"
    hosts.write_text(f"defaults:\n  ssh_config: {_q(str(cfg))}\n  become: sudo\n"
                     "hosts:\n  - name: odd\n    arch: x86_64\n    ssh_host: odd-target\n")
    logins = sshd.log().count("Accepted publickey for root")
    proc = _kmatrix("run", "--hosts", str(hosts), "--cases-dir", str(_cases(odd)), "--output",
                    str(odd / "out"), "--cache-dir", str(odd / "cache"), "--run-id", "inj",
                    cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert '"state": "pass"' in (odd / "out" / "inj" / "results.json").read_text()
    # Two logins per connection: the ProxyJump hop, then the target through it.
    assert sshd.log().count("Accepted publickey for root") - logins >= 2
    assert _fired(marker) == []
