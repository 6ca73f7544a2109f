"""hosts.yaml `ssh_host:` entries resolved through an OpenSSH client config (no network).

HostName, Port, User, IdentityFile, UserKnownHostsFile and ProxyJump come from the
config (paramiko.SSHConfig); a value written in hosts.yaml, in the entry or in
defaults:, wins. Errors are one line at the ssh_host line and name the config
file and line. Nothing in a config ever runs: Match exec and ProxyCommand are refused.
"""

from __future__ import annotations

import os
import uuid
from pathlib import Path

import pytest

from kmatrix.errors import InputError
from kmatrix.inventory import Host, load_hosts

pytestmark = pytest.mark.fast


@pytest.fixture
def lab(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A HOME with ~/.ssh (keys, known_hosts), so nothing reads the real user's files."""
    home = tmp_path / "home"
    (home / ".ssh").mkdir(parents=True)
    monkeypatch.setenv("HOME", str(home))
    for k in ("id_lab", "id_bastion"):
        (home / ".ssh" / k).write_text("not really a key\n")
        os.chmod(home / ".ssh" / k, 0o600)
    (home / ".ssh" / "known_hosts_lab").write_text("")
    return tmp_path


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


CONFIG = """\
# lab machines
Host lab3
    HostName 10.1.0.3
    Port 2201
    User alice
    IdentityFile ~/.ssh/id_lab
    UserKnownHostsFile ~/.ssh/known_hosts_lab
    ProxyJump bastion

Host bastion
    HostName bastion.example.org
    User ops
    IdentityFile ~/.ssh/id_bastion

Host *
    ServerAliveInterval 30
"""


def load_one(lab: Path, hosts: str, config: str = CONFIG) -> Host:
    write(lab / "home" / ".ssh" / "config", config)
    (h,) = load_hosts(write(lab / "hosts.yaml", hosts))
    return h


def test_alias_gives_every_login_field(lab: Path) -> None:
    h = load_one(lab, "hosts:\n  - {name: lab3, arch: x86_64, ssh_host: lab3}\n")
    home = lab / "home" / ".ssh"
    assert (h.address, h.port, h.user) == ("10.1.0.3", 2201, "alice")
    assert h.identity_file == str(home / "id_lab")
    assert h.known_hosts == str(home / "known_hosts_lab")
    assert h.ssh_host == "lab3" and h.ssh_config == str(home / "config")
    assert h.jump is not None and h.jump.chain()[0].name == "bastion"
    j = h.jump
    assert (j.address, j.port, j.user, j.identity_file) == (
        "bastion.example.org", 22, "ops", str(home / "id_bastion"))
    assert h.label == "lab3 (alice@10.1.0.3:2201 via bastion)"


def test_hosts_yaml_wins_entry_and_defaults(lab: Path) -> None:
    h = load_one(lab, """\
defaults:
  user: ci
hosts:
  - name: lab3
    arch: x86_64
    ssh_host: lab3
    port: 22
    address: 10.9.9.9
""")
    assert (h.address, h.port, h.user) == ("10.9.9.9", 22, "ci")
    assert h.identity_file is not None and h.identity_file.endswith("id_lab")  # config fills the rest


def test_hosts_yaml_jump_wins_over_proxyjump_and_none_keeps_it(lab: Path) -> None:
    write(lab / "home" / ".ssh" / "config", CONFIG)
    a, b = load_hosts(write(lab / "hosts.yaml", """\
defaults:
  jump: root@gw.example.org:2222
hosts:
  - {name: a, arch: x86_64, ssh_host: lab3}
  - {name: b, arch: x86_64, ssh_host: lab3, jump: none}
"""))
    assert a.jump is not None and a.jump.name == "root@gw.example.org:2222"
    assert b.jump is not None and b.jump.name == "bastion"  # none drops the default only


def test_ssh_config_chosen_in_entry_or_defaults_relative_to_hosts_yaml(lab: Path) -> None:
    write(lab / "cfg" / "lab_ssh_config", "Host box\n  HostName 192.0.2.44\n  User bob\n")
    write(lab / "hosts.yaml", """\
defaults:
  ssh_config: cfg/lab_ssh_config
hosts:
  - {name: box, arch: aarch64, ssh_host: box}
""")
    (h,) = load_hosts(lab / "hosts.yaml")
    assert (h.address, h.user, h.ssh_config) == ("192.0.2.44", "bob",
                                                 str(lab / "cfg" / "lab_ssh_config"))


def test_missing_default_config_means_the_alias_is_the_host_name(lab: Path) -> None:
    (h,) = load_hosts(write(lab / "hosts.yaml", "hosts:\n  - {name: a, arch: x86_64, "
                                                "ssh_host: plain.example.org}\n"))
    assert (h.address, h.port, h.user, h.jump) == ("plain.example.org", 22, "root", None)


def test_include_is_read_and_errors_name_the_included_file(lab: Path) -> None:
    ssh = lab / "home" / ".ssh"
    write(ssh / "config.d" / "10-lab", "Host inc\n  HostName 10.2.0.1\n  Port 2022\n")
    write(ssh / "config.d" / "20-bad", "Host bad\n  HostName 10.2.0.2\n  Port 99999\n")
    cfg = "Include config.d/*\n" + CONFIG
    h = load_one(lab, "hosts:\n  - {name: a, arch: x86_64, ssh_host: inc}\n", cfg)
    assert (h.address, h.port) == ("10.2.0.1", 2022)
    with pytest.raises(InputError) as ei:
        load_one(lab, "hosts:\n  - {name: a, arch: x86_64, ssh_host: bad}\n", cfg)
    assert f"{ssh / 'config.d' / '20-bad'}:3: Port must be in 1..65535" in str(ei.value)


def test_proxyjump_list_and_the_first_hops_own_proxyjump(lab: Path) -> None:
    cfg = """\
Host t
  HostName 10.0.0.9
  ProxyJump hop1,ops@hop2:2200
Host hop1
  HostName 10.0.0.1
  ProxyJump outer
Host hop2
  HostName 10.0.0.2
Host outer
  HostName 203.0.113.1
  User edge
"""
    h = load_one(lab, "hosts:\n  - {name: t, arch: x86_64, ssh_host: t}\n", cfg)
    chain = [(j.name, j.user, j.address, j.port) for j in h.jump.chain()]
    assert chain == [("outer", "edge", "203.0.113.1", 22), ("hop1", "root", "10.0.0.1", 22),
                     ("hop2", "ops", "10.0.0.2", 2200)]


@pytest.mark.parametrize("cfg, line, needle", [
    ("Host x\n  HostName 'a;touch /tmp/p'\n", 2, "HostName"),
    ("Host x\n  HostName h\n  User 'b$(id)'\n", 3, "User"),
    ("Host x\n  Port none\n", 2, "Port"),
    ("Host x\n  IdentityFile ~/.ssh/id_missing\n", 2, "IdentityFile: no such file"),
    ("Host x\n  UserKnownHostsFile /dev/null\n", 2, "UserKnownHostsFile '/dev/null'"),
    ("Host x\n  UserKnownHostsFile none\n", 2, "UserKnownHostsFile 'none'"),
    ("Host x\n  ProxyJump x\n", 2, "ProxyJump loop"),
    ("Host x\n  ProxyJump a@b@\n", 2, "ProxyJump"),
    ("Host x\n  HostName h\n\n  =oops\n", 4, "cannot parse"),
    ("Host \"x\n  HostName h\n", 1, "cannot parse"),
])
def test_config_errors_name_file_and_line(lab: Path, cfg: str, line: int, needle: str) -> None:
    with pytest.raises(InputError) as ei:
        load_one(lab, "hosts:\n  - name: a\n    arch: x86_64\n    ssh_host: x\n", cfg)
    e = ei.value
    config = lab / "home" / ".ssh" / "config"
    assert (e.file, e.line, e.field) == (str(lab / "hosts.yaml"), 4, "ssh_host"), str(e)
    assert f"{config}:{line}: " in e.message and needle in e.message, str(e)
    assert "\n" not in str(e)


def test_known_hosts_list_with_a_quoted_path(lab: Path) -> None:
    spaced = lab / "home" / ".ssh" / "lab known hosts"
    spaced.write_text("")
    cfg = f'Host x\n  UserKnownHostsFile "{spaced}" ~/.ssh/known_hosts2\n'
    h = load_one(lab, "hosts:\n  - {name: a, arch: x86_64, ssh_host: x}\n", cfg)
    assert h.known_hosts == str(spaced)  # the first of the list, spaces and all


def test_identity_file_too_open_in_config(lab: Path) -> None:
    os.chmod(lab / "home" / ".ssh" / "id_lab", 0o644)
    with pytest.raises(InputError) as ei:
        load_one(lab, "hosts:\n  - {name: a, arch: x86_64, ssh_host: lab3}\n")
    assert ":6: IdentityFile: permissions 0644 are too open" in str(ei.value)


def test_first_existing_identity_file_is_used(lab: Path) -> None:
    cfg = "Host x\n  IdentityFile ~/.ssh/id_gone\n  IdentityFile ~/.ssh/id_%h\n"
    (lab / "home" / ".ssh" / "id_x").write_text("k")
    os.chmod(lab / "home" / ".ssh" / "id_x", 0o600)
    h = load_one(lab, "hosts:\n  - {name: a, arch: x86_64, ssh_host: x}\n", cfg)
    assert h.identity_file == str(lab / "home" / ".ssh" / "id_x")  # %h expanded


def test_commands_in_a_config_never_run(lab: Path) -> None:
    m = Path(f"/tmp/kmatrix-sshcfg-{uuid.uuid4().hex}")
    for cfg, needle in ((f"Match exec \"touch {m}\"\n  User x\nHost x\n  HostName h\n",
                         ":1: Match exec would run a local command"),
                        (f"Host x\n  ProxyCommand touch {m}\n", ":2: ProxyCommand would run")):
        with pytest.raises(InputError) as ei:
            load_one(lab, "hosts:\n  - {name: a, arch: x86_64, ssh_host: x}\n", cfg)
        assert needle in str(ei.value), str(ei.value)
    assert not m.exists()


def test_explicit_config_must_exist(lab: Path) -> None:
    with pytest.raises(InputError) as ei:
        load_hosts(write(lab / "hosts.yaml", "hosts:\n  - name: a\n    arch: x86_64\n"
                                             "    ssh_host: x\n    ssh_config: nope/config\n"))
    assert (ei.value.line, ei.value.field) == (5, "ssh_config")
    assert "no such file" in ei.value.message


def test_qemu_and_local_hosts_refuse_ssh_host(lab: Path) -> None:
    for extra in ("qemu: {}", "transport: local"):
        with pytest.raises(InputError) as ei:
            load_hosts(write(lab / "hosts.yaml", f"hosts:\n  - name: a\n    arch: x86_64\n"
                                                 f"    {extra}\n    ssh_host: x\n"))
        assert (ei.value.line, ei.value.field) == (5, "ssh_host"), str(ei.value)


def test_config_read_once_per_load(lab: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import kmatrix.inventory as inv

    reads: list[Path] = []
    real = inv._SshConfig._read

    def counting(self: inv._SshConfig, path: Path, depth: int) -> None:
        reads.append(path)
        real(self, path, depth)

    monkeypatch.setattr(inv._SshConfig, "_read", counting)
    write(lab / "home" / ".ssh" / "config", CONFIG)
    load_hosts(write(lab / "hosts.yaml", "hosts:\n" + "".join(
        f"  - {{name: h{i}, arch: x86_64, ssh_host: lab3}}\n" for i in range(5))))
    assert len(reads) == 1


def test_error_names_the_line_of_a_token_expanded_value(lab: Path) -> None:
    # paramiko expands %h inside lookup(); the error still points at the line written.
    cfg = ("Host x\n  IdentityFile ~/.ssh/id_gone\n  IdentityFile ~/.ssh/id_%h\n"
           "Host *\n  IdentityFile ~/.ssh/id_x\n")
    (lab / "home" / ".ssh" / "id_x").write_text("k")
    os.chmod(lab / "home" / ".ssh" / "id_x", 0o644)
    with pytest.raises(InputError) as ei:
        load_one(lab, "hosts:\n  - {name: a, arch: x86_64, ssh_host: x}\n", cfg)
    assert ":3: IdentityFile: permissions 0644 are too open" in str(ei.value)
