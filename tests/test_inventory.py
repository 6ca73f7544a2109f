"""hosts.yaml loading: good files, a corpus of bad ones, host selection, fuzzing."""

from __future__ import annotations

import atexit
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kmatrix.errors import InputError
from kmatrix.inventory import (
    DEFAULT_KEYS,
    HOST_KEYS,
    QEMU_KEYS,
    Host,
    QemuSpec,
    load_hosts,
    load_hosts_text,
    select_hosts,
)

pytestmark = pytest.mark.fast

REPO = Path(__file__).resolve().parent.parent
BAD = Path(__file__).resolve().parent / "data" / "bad" / "hosts"
BAD_FILES = sorted(BAD.glob("*.yaml"))
EXPECT_RE = re.compile(r"^# expect: (\d+): (\S+):\s*$")


def _expectation(path: Path) -> tuple[int, str]:
    first = path.read_text().splitlines()[0]
    m = EXPECT_RE.match(first)
    assert m, f"{path.name}: first line must be '# expect: LINE: FIELD:'"
    return int(m.group(1)), m.group(2)


@pytest.fixture(autouse=True)
def _too_open_key_is_too_open() -> None:
    # git only records 0644/0755, and a umask of 077 would make the checkout 0600.
    os.chmod(BAD / "keys" / "id_too_open", 0o644)


def test_corpus_is_big_enough() -> None:
    assert len(BAD_FILES) >= 20


@pytest.mark.parametrize("path", BAD_FILES, ids=[p.stem for p in BAD_FILES])
def test_bad_hosts_file_gives_one_line_error(path: Path) -> None:
    line, field = _expectation(path)
    with pytest.raises(InputError) as ei:
        load_hosts(path)
    msg = str(ei.value)
    assert "\n" not in msg
    assert msg.startswith(f"{path}:{line}: {field}: "), msg
    assert ei.value.line == line and ei.value.field == field
    assert len(msg) > len(f"{path}:{line}: {field}: ") + 5  # there is a message, too


@pytest.mark.parametrize("path", BAD_FILES, ids=[p.stem for p in BAD_FILES])
def test_bad_hosts_file_cli_exit_2_no_traceback(path: Path) -> None:
    line, field = _expectation(path)
    p = subprocess.run([sys.executable, "-m", "kmatrix.inventory", str(path)], cwd=REPO,
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2, p.stderr
    assert "Traceback" not in p.stderr
    assert p.stdout == ""
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert f"{path}:{line}: {field}: " in lines[0]


def test_yaml_tags_never_execute(tmp_path: Path) -> None:
    marker = Path("/tmp/kmatrix-pwned-yaml")
    marker.unlink(missing_ok=True)
    with pytest.raises(InputError):
        load_hosts(BAD / "37_python_object_tag.yaml")
    assert not marker.exists()


def test_password_message_points_to_password_env() -> None:
    with pytest.raises(InputError) as ei:
        load_hosts(BAD / "17_password_plain.yaml")
    assert "password_env" in ei.value.message and "ssh-agent" in ei.value.message
    assert "hunter2" not in str(ei.value)  # never echo the secret back


def test_too_open_key_message() -> None:
    with pytest.raises(InputError) as ei:
        load_hosts(BAD / "20_identity_too_open.yaml")
    assert "permissions 0644 are too open" in ei.value.message


def test_missing_hosts_file(tmp_path: Path) -> None:
    with pytest.raises(InputError) as ei:
        load_hosts(tmp_path / "nope.yaml")
    assert "no such file" in str(ei.value)


def _key(path: Path, mode: int = 0o600) -> Path:
    path.write_text("-----BEGIN OPENSSH PRIVATE KEY-----\nnot really\n")
    os.chmod(path, mode)
    return path


GOOD = """\
hosts:
  - name: x86-box
    arch: amd64
    address: 192.0.2.10
    port: 2222
    user: ci
    identity_file: keys/id_ed25519
    known_hosts: known_hosts
    python: /usr/bin/python3.11
    build: remote
    tags: [ci, openeuler-24.03]
    password_env: KMATRIX_PW
    trust_on_first_use: false
    reset_cmd: [ipmitool, -H, bmc1, power, reset]
    connect_timeout: 5
    command_timeout: 120.5
  - name: arm-box
    arch: arm64
    address: arm.example.org
    identity_file: ~/homekey
    tags: [ci]
  - name: rv-lab
    arch: riscv
    qemu:
      packages: [strace]
      memory: 4G
      smp: 4
  - name: rv-board
    arch: riscv64
    address: "2001:db8::7"
    trust_on_first_use: true
  - name: self
    arch: x86_64
    transport: local
"""


@pytest.fixture
def good_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    home.mkdir()
    monkeypatch.setenv("HOME", str(home))
    _key(home / "homekey")
    cfg = tmp_path / "cfg"
    (cfg / "keys").mkdir(parents=True)
    _key(cfg / "keys" / "id_ed25519")
    p = cfg / "hosts.yaml"
    p.write_text(GOOD)
    return p


def test_good_file_all_fields(good_file: Path) -> None:
    hosts = load_hosts(good_file)
    assert [h.name for h in hosts] == ["x86-box", "arm-box", "rv-lab", "rv-board", "self"]
    x = hosts[0]
    assert x == Host(
        name="x86-box", arch="x86_64", address="192.0.2.10", port=2222, user="ci",
        identity_file=str(good_file.parent / "keys" / "id_ed25519"),
        known_hosts=str(good_file.parent / "known_hosts"),
        python="/usr/bin/python3.11", build="remote", tags=["ci", "openeuler-24.03"],
        transport="ssh", password_env="KMATRIX_PW", trust_on_first_use=False,
        reset_cmd=["ipmitool", "-H", "bmc1", "power", "reset"], connect_timeout=5.0,
        command_timeout=120.5, qemu=None, source=(str(good_file), 2),
    )
    arm = hosts[1]
    assert arm.arch == "aarch64"
    assert arm.identity_file == str(Path(os.environ["HOME"]) / "homekey")  # ~ expanded
    assert (arm.port, arm.user, arm.build, arm.transport) == (22, "root", "local", "ssh")
    assert arm.known_hosts is None and arm.python == "python3"
    lab = hosts[2]
    assert lab.arch == "riscv64" and lab.address == "127.0.0.1"
    assert lab.qemu == QemuSpec(suite="", packages=["strace"], mirror=None, image=None,
                                memory="4G", smp=4, boot_timeout=300.0)
    assert hosts[3].address == "2001:db8::7" and hosts[3].trust_on_first_use is True
    assert hosts[4].transport == "local"
    assert hosts[4].source == (str(good_file), 32)


def test_relative_paths_resolve_against_the_file_not_cwd(good_file: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    hosts = load_hosts(Path("cfg") / "hosts.yaml")
    assert hosts[0].identity_file == str(good_file.parent / "keys" / "id_ed25519")


def test_qemu_defaults_and_image(tmp_path: Path) -> None:
    (tmp_path / "img").mkdir()
    for f in ("disk.qcow2", "Image", "initrd.img", "host.pub"):
        (tmp_path / "img" / f).write_text("x")
    _key(tmp_path / "img" / "client")
    p = tmp_path / "hosts.yaml"
    p.write_text("""\
hosts:
  - name: a
    arch: aarch64
    qemu:
  - name: b
    arch: aarch64
    qemu:
      suite: trixie
      mirror: http://deb.debian.org/debian
      memory: 1024
      cpu: max,pauth=off
      boot_timeout: 900
      image:
        disk: img/disk.qcow2
        kernel: img/Image
        initrd: img/initrd.img
        append: console=ttyAMA0 root=/dev/vda rw
        format: qcow2
        client_key: img/client
        host_key_pub: img/host.pub
  - name: c
    arch: x86_64
    qemu:
      packages: [-linux-perf, bpftrace]
      image:
        disk: img/disk.qcow2
        host_key_pub: ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJ
""")
    a, b, c = load_hosts(p)
    assert a.qemu == QemuSpec()
    assert (a.qemu.memory, a.qemu.smp, a.qemu.boot_timeout) == ("2G", 2, 300.0)
    assert b.qemu is not None
    assert b.qemu.suite == "trixie" and b.qemu.mirror == "http://deb.debian.org/debian"
    assert b.qemu.memory == "1024" and b.qemu.boot_timeout == 900.0
    assert a.qemu.cpu == "" and b.qemu.cpu == "max,pauth=off"
    assert b.qemu.image == {
        "disk": str(tmp_path / "img" / "disk.qcow2"),
        "kernel": str(tmp_path / "img" / "Image"),
        "initrd": str(tmp_path / "img" / "initrd.img"),
        "append": "console=ttyAMA0 root=/dev/vda rw",
        "format": "qcow2",
        "client_key": str(tmp_path / "img" / "client"),
        "host_key_pub": str(tmp_path / "img" / "host.pub"),
    }
    assert c.qemu is not None and c.qemu.packages == ["-linux-perf", "bpftrace"]
    assert c.qemu.image is not None
    assert c.qemu.image["host_key_pub"].startswith("ssh-ed25519 AAAA")  # a literal key


def test_key_mode_0640_is_refused(tmp_path: Path) -> None:
    _key(tmp_path / "k", 0o640)
    p = tmp_path / "hosts.yaml"
    p.write_text("hosts:\n  - {name: a, arch: x86_64, address: h, identity_file: k}\n")
    with pytest.raises(InputError) as ei:
        load_hosts(p)
    assert ei.value.field == "identity_file" and "0640 are too open" in ei.value.message


def test_yaml_anchors_and_aliases_work(tmp_path: Path) -> None:
    p = tmp_path / "hosts.yaml"
    p.write_text("""\
hosts:
  - name: a
    arch: x86_64
    address: &addr 10.0.0.1
    tags: &tags [ci, board]
  - name: b
    arch: x86_64
    address: *addr
    tags: *tags
""")
    a, b = load_hosts(p)
    assert (b.name, b.address, b.tags) == ("b", "10.0.0.1", ["ci", "board"])
    assert a.tags == b.tags


def test_yaml_merge_key_override(tmp_path: Path) -> None:
    p = tmp_path / "hosts.yaml"
    p.write_text("""\
hosts:
  - &base
    name: a
    arch: x86_64
    address: 10.0.0.1
  - <<: *base
    name: b
""")
    a, b = load_hosts(p)
    assert (b.name, b.address) == ("b", "10.0.0.1")


# -- defaults:, become, jump ------------------------------------------------------

DEFAULTS = """\
defaults:
  user: ci
  identity_file: keys/id_ed25519
  known_hosts: known_hosts
  become: sudo
  jump: bastion
  tags: [lab, openeuler]
  python: /usr/bin/python3.11
  build: remote
  libbpf: system
  connect_timeout: 7
  command_timeout: 300
hosts:
  - name: plain
    arch: x86_64
    address: 10.0.0.1
  - name: own
    arch: aarch64
    address: 10.0.0.2
    user: root
    become: none
    jump: none
    tags: [mine]
    build: local
    connect_timeout: 3
  - name: lab
    arch: x86_64
    qemu:
  - name: self
    arch: x86_64
    transport: local
jump_hosts:
  - name: bastion
    address: 192.0.2.1
    user: ops
"""


@pytest.fixture
def defaults_file(tmp_path: Path) -> Path:
    (tmp_path / "keys").mkdir()
    _key(tmp_path / "keys" / "id_ed25519")
    p = tmp_path / "hosts.yaml"
    p.write_text(DEFAULTS)
    return p


def test_defaults_apply_and_a_host_overrides_them(defaults_file: Path) -> None:
    plain, own, lab, local = load_hosts(defaults_file)
    key = str(defaults_file.parent / "keys" / "id_ed25519")
    assert (plain.user, plain.identity_file, plain.become, plain.tags) == (
        "ci", key, "sudo", ["lab", "openeuler"])
    assert (plain.python, plain.build, plain.libbpf) == ("/usr/bin/python3.11", "remote", "system")
    assert (plain.connect_timeout, plain.command_timeout) == (7.0, 300.0)
    assert plain.known_hosts == str(defaults_file.parent / "known_hosts")
    assert plain.jump is not None and plain.jump.label == "bastion (ops@192.0.2.1:22)"
    # The bastion takes the login defaults too (but not the default jump: it is the way in).
    assert (plain.jump.identity_file, plain.jump.connect_timeout, plain.jump.jump) == (key, 7.0, None)
    assert (own.user, own.become, own.jump, own.tags, own.build) == ("root", None, None, ["mine"],
                                                                     "local")
    assert own.connect_timeout == 3.0 and own.identity_file == key
    # A lab guest and a local host are reached their own way: no login defaults ...
    for h in (lab, local):
        assert (h.user, h.identity_file, h.become, h.jump) == ("root", None, None, None)
        assert h.tags == ["lab", "openeuler"] and h.build == "remote"  # ... but the rest


def test_bad_default_is_reported_at_its_own_line_even_if_overridden(tmp_path: Path) -> None:
    p = tmp_path / "hosts.yaml"
    p.write_text(DEFAULTS.replace("  identity_file: keys/id_ed25519\n", "")
                 .replace("  connect_timeout: 7\n", "  connect_timeout: soon\n"))
    with pytest.raises(InputError) as ei:
        load_hosts(p)
    assert (ei.value.line, ei.value.field) == (10, "defaults.connect_timeout"), str(ei.value)


def test_inherited_value_errors_name_defaults(tmp_path: Path) -> None:
    # Only applying it shows the problem: the default jump names a local host.
    p = tmp_path / "hosts.yaml"
    p.write_text("defaults:\n  jump: self\nhosts:\n  - {name: self, arch: x86_64, "
                 "transport: local}\n  - {name: b, arch: x86_64, address: h}\n")
    with pytest.raises(InputError) as ei:
        load_hosts(p)
    assert (ei.value.line, ei.value.field) == (2, "defaults.jump"), str(ei.value)


def test_default_jump_is_not_applied_to_the_host_it_names(tmp_path: Path) -> None:
    p = tmp_path / "hosts.yaml"
    p.write_text("defaults:\n  jump: gw\nhosts:\n  - {name: gw, arch: x86_64, address: 192.0.2.1}\n"
                 "  - {name: b, arch: x86_64, address: 10.0.0.2}\n")
    gw, b = load_hosts(p)
    assert gw.jump is None  # a host entry can be a target and a bastion at once
    assert b.jump is not None and (b.jump.name, b.jump.address) == ("gw", "192.0.2.1")


def test_jump_chains_and_literals(tmp_path: Path) -> None:
    _key(tmp_path / "k")
    p = tmp_path / "hosts.yaml"
    p.write_text("""\
hosts:
  - name: deep
    arch: x86_64
    address: 10.0.0.9
    jump: inner
  - name: lit
    arch: x86_64
    address: 10.0.0.8
    user: alice
    identity_file: k
    connect_timeout: 4
    jump: 203.0.113.5:2222
  - name: v6
    arch: x86_64
    address: 10.0.0.7
    jump: ops@[2001:db8::1]:22
jump_hosts:
  - {name: inner, address: 10.0.0.1, jump: outer}
  - {name: outer, address: 203.0.113.1, port: 2200, user: edge}
""")
    deep, lit, v6 = load_hosts(p)
    assert [(j.name, j.address, j.port, j.user) for j in deep.jump.chain()] == [
        ("outer", "203.0.113.1", 2200, "edge"), ("inner", "10.0.0.1", 22, "root")]
    assert deep.label == "deep (root@10.0.0.9:22 via outer > inner)"
    j = lit.jump
    # A bare user@host:port logs in the way its entry does.
    assert (j.address, j.port, j.user, j.identity_file, j.connect_timeout) == (
        "203.0.113.5", 2222, "alice", str(tmp_path / "k"), 4.0)
    assert (v6.jump.address, v6.jump.user) == ("2001:db8::1", "ops")


@pytest.mark.parametrize("value", ["'a;b'", "'$(id)@h'", "'root@h:0'", "'-oProxyCommand=x:1'",
                                   "'root@[::1'", "'root@h:22:33'", "[x]", "7"])
def test_bad_jump_values(tmp_path: Path, value: str) -> None:
    p = tmp_path / "hosts.yaml"
    p.write_text(f"hosts:\n  - name: a\n    arch: x86_64\n    address: h\n    jump: {value}\n")
    with pytest.raises(InputError) as ei:
        load_hosts(p)
    assert (ei.value.line, ei.value.field) == (5, "jump"), str(ei.value)


@pytest.mark.parametrize("value, want", [("sudo", "sudo"), ("none", None), ("null", None),
                                         ("false", None)])
def test_become_values(tmp_path: Path, value: str, want: Any) -> None:
    p = tmp_path / "hosts.yaml"
    p.write_text(f"hosts:\n  - {{name: a, arch: x86_64, address: h, become: {value}}}\n")
    assert load_hosts(p)[0].become == want


def test_cli_shows_jump_and_become(defaults_file: Path) -> None:
    p = subprocess.run([sys.executable, "-m", "kmatrix.inventory", str(defaults_file)],
                       capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, PYTHONPATH=str(REPO)))
    assert p.returncode == 0, p.stderr
    first = p.stdout.splitlines()[0].split("\t")
    assert first[2] == "ci@10.0.0.1:22 via ops@192.0.2.1:22"
    assert "become=sudo" in first[3]


# -- select_hosts ------------------------------------------------------------------

def _hosts() -> list[Host]:
    return [
        Host(name="x1", arch="x86_64", tags=["ci"]),
        Host(name="r1", arch="riscv64", tags=["ci", "board"]),
        Host(name="r2", arch="riscv64", tags=["lab"]),
        Host(name="a1", arch="aarch64"),
    ]


def test_select_by_arch_alias() -> None:
    assert [h.name for h in select_hosts(_hosts(), arch="riscv")] == ["r1", "r2"]
    assert [h.name for h in select_hosts(_hosts(), arch="ARM64")] == ["a1"]
    assert [h.name for h in select_hosts(_hosts(), arch=None)] == ["x1", "r1", "r2", "a1"]


def test_select_by_names_and_tags() -> None:
    assert [h.name for h in select_hosts(_hosts(), names=["r2", "x1"])] == ["x1", "r2"]
    assert [h.name for h in select_hosts(_hosts(), arch="riscv64", names=["x1"])] == []
    assert [h.name for h in select_hosts(_hosts(), tags=["ci"])] == ["x1", "r1"]
    assert [h.name for h in select_hosts(_hosts(), tags=["ci", "board"])] == ["r1"]


def test_select_errors_are_input_errors() -> None:
    with pytest.raises(InputError) as ei:
        select_hosts(_hosts(), arch="mips")
    assert ei.value.field == "--arch" and "unknown arch" in ei.value.message
    with pytest.raises(InputError) as ei:
        select_hosts(_hosts(), names=["nope"])
    assert ei.value.field == "--host" and "nope" in ei.value.message


def test_cli_prints_hosts(good_file: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(REPO))
    p = subprocess.run([sys.executable, "-m", "kmatrix.inventory", str(good_file)],
                       capture_output=True, text=True, env=env, timeout=60)
    assert p.returncode == 0, p.stderr
    out = p.stdout.splitlines()
    assert len(out) == 5
    assert out[0].split("\t")[:3] == ["x86-box", "x86_64", "ci@192.0.2.10:2222"]
    assert out[2].split("\t")[:3] == ["rv-lab", "riscv64", "qemu lab guest"]


# -- fuzzing: only InputError, ever ------------------------------------------------

_FUZZ_DIR = Path(tempfile.mkdtemp(prefix="kmatrix-inv-fuzz."))
atexit.register(shutil.rmtree, _FUZZ_DIR, True)
_fuzz_key = _FUZZ_DIR / "key"
_key(_fuzz_key)


def _only_input_errors(text: str) -> None:
    try:
        hosts = load_hosts_text(text, "fuzz.yaml", _FUZZ_DIR)
    except InputError as e:
        s = str(e)
        assert s.startswith("fuzz.yaml") and "\n" not in s.rstrip("\n")
        return
    assert hosts and all(isinstance(h, Host) for h in hosts)


_yamlish = st.lists(
    st.sampled_from(list("hosts:name arch-[]{},&*!|>#'\"\n\t 0123456789.x_~/\\%@?\x1f\u2028")
                    + ["hosts:", "- ", "name: ", "arch: ", "port: ", "qemu: ", "\n  ",
                       "\n    ", "x86_64", "!!binary", "!!set", "<<: ", "identity_file: ", "key",
                       "*a", "&a ", "null", "true", "!!python/name:os.system", "? "]),
    max_size=80,
).map("".join)

_scalar = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=True),
    st.text(max_size=20), st.sampled_from(["x86_64", "riscv", "arm64", "key", "~", "/", ".",
                                           "local", "ssh", "remote", "2G"]),
)
_value = st.recursive(_scalar, lambda c: st.lists(c, max_size=3)
                      | st.dictionaries(st.sampled_from(list(QEMU_KEYS) + ["disk", "x"]), c,
                                        max_size=3), max_leaves=8)
_host = st.dictionaries(st.sampled_from(list(HOST_KEYS) + ["password", "bogus"]), _value,
                        max_size=8)
_defaults = st.dictionaries(st.sampled_from(list(DEFAULT_KEYS) + ["address", "password"]),
                            _value, max_size=5)
_doc = st.one_of(st.fixed_dictionaries({"hosts": st.lists(_host, max_size=3)}),
                 st.fixed_dictionaries({"defaults": _defaults, "hosts": st.lists(_host, max_size=2),
                                        "jump_hosts": st.lists(_host, max_size=2)}),
                 st.dictionaries(st.sampled_from(["hosts", "x"]), _value, max_size=2), _value)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_yamlish)
def test_fuzz_yamlish_text(text: str) -> None:
    _only_input_errors(text)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(max_size=300))
def test_fuzz_arbitrary_text(text: str) -> None:
    _only_input_errors(text)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_doc)
def test_fuzz_structured_documents(doc: Any) -> None:
    _only_input_errors(yaml.safe_dump(doc))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, len(GOOD) - 1), st.integers(0, 40), st.text(max_size=5))
def test_fuzz_mutated_good_file(pos: int, cut: int, insert: str) -> None:
    _only_input_errors(GOOD[:pos] + insert + GOOD[pos + cut:])


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=200) | st.sampled_from([GOOD.encode("utf-16"), b"\xff\xfehosts:",
                                                   GOOD.encode()[:50] + b"\xc3\x28"]))
def test_fuzz_bytes_through_a_file(data: bytes) -> None:
    path = _FUZZ_DIR / "bytes.yaml"
    path.write_bytes(data)
    try:
        load_hosts(path)
    except InputError as e:
        assert str(e).startswith(str(path)) and "\n" not in str(e)
