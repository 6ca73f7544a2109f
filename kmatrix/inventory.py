"""The inventory: ``hosts.yaml`` parsed into ``Host`` objects.

Every problem is reported as one ``InputError`` (``FILE:LINE: FIELD: MESSAGE``);
nothing here raises anything else on bad input. Secrets never live in this file:
a ``password:`` key is refused, ``password_env`` names an environment variable.

Besides ``hosts``, a file may have ``defaults`` (values every host entry takes
unless it sets its own; a bad default is reported at its own line) and
``jump_hosts`` (bastions that ``jump:`` names but that are not run). A host may
give only ``ssh_host: ALIAS``: its address, port, user, key, known_hosts and
ProxyJump then come from an OpenSSH client config (paramiko.SSHConfig); values
written in hosts.yaml win.

``python -m kmatrix.inventory hosts.yaml`` validates a file and prints its hosts
(exit 2 on the first error).
"""

from __future__ import annotations

import difflib
import glob
import os
import re
import shlex
import stat
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Union

import yaml

from kmatrix import archs, yamlpos
from kmatrix.errors import EXIT_INFRA, EXIT_OK, InputError


@dataclass
class QemuSpec:
    """The ``qemu:`` block of a lab host; the lab (kmatrix/lab/) builds and boots it."""

    suite: str = ""  # Debian suite for mmdebstrap; "" = the lab's default for the arch
    packages: list[str] = field(default_factory=list)  # extra packages; "-NAME" drops one
    mirror: Optional[str] = None
    # A user-supplied image instead of a built one: disk, kernel, initrd, firmware,
    # client_key, host_key_pub (absolute paths after loading; host_key_pub may be a literal key),
    # append, format, kernel_release, console (strings). disk is required, and a
    # kernel too except on x86_64 or when firmware boots the disk.
    image: Optional[dict[str, str]] = None
    memory: str = "2G"
    smp: int = 2
    # QEMU -cpu model and properties ("max,pauth=off", "rv64,zbb=false"); "" = the
    # lab's default for the arch (kmatrix/lab/qemu.py DEFAULT_CPU).
    cpu: str = ""
    boot_timeout: float = 300.0
    snapshot: bool = True  # restore a saved VM snapshot instead of booting cold (lab/snapshot.py)


@dataclass
class Hop:
    """A jump host on the way to a target (``jump:``, or ProxyJump in an ssh_config).

    The transport logs in here first (host key checked against this hop's own
    known_hosts) and opens a direct-tcpip channel onward; ``jump`` is the hop
    before this one (a chain), or None when this hop is reached directly.
    """

    name: str  # the entry's name, or the jump as written (user@host:port, an ssh alias)
    address: str
    port: int = 22
    user: str = "root"
    identity_file: Optional[str] = None
    known_hosts: Optional[str] = None  # None means ~/.ssh/known_hosts
    password_env: Optional[str] = None
    trust_on_first_use: bool = False
    connect_timeout: float = 15.0
    jump: Optional[Hop] = None
    source: tuple[str, int] = ("<memory>", 0)  # where this hop was written

    @property
    def label(self) -> str:
        where = f"{self.user}@{self.address}:{self.port}"
        return where if "@" in self.name or ":" in self.name else f"{self.name} ({where})"

    def chain(self) -> list[Hop]:
        """Every hop from the first one reached (outermost) to this one."""
        out: list[Hop] = []
        hop: Optional[Hop] = self
        while hop is not None:
            out.append(hop)
            hop = hop.jump
        return out[::-1]


@dataclass
class Host:
    name: str
    arch: str  # canonical (kmatrix.archs)
    address: str = "127.0.0.1"
    port: int = 22
    user: str = "root"
    identity_file: Optional[str] = None  # absolute path after loading
    known_hosts: Optional[str] = None  # absolute path; None means ~/.ssh/known_hosts
    python: str = "python3"
    build: str = "local"  # or "remote"
    tags: list[str] = field(default_factory=list)
    transport: str = "ssh"  # or "local"
    password_env: Optional[str] = None  # name of an env var, never the secret itself
    trust_on_first_use: bool = False
    reset_cmd: Optional[list[str]] = None  # argv run on the controller to reset the box
    connect_timeout: float = 15.0
    command_timeout: float = 600.0
    qemu: Optional[QemuSpec] = None
    # "bundled": the agent loads the libbpf shipped in agent.pyz (kmatrix/libbpf_bundle.py);
    # "system": the target's own libbpf.so.1/.so.0.
    libbpf: str = "bundled"
    # "sudo": log in as `user`, run every remote command as `sudo -n -- ARGV...` (root).
    become: Optional[str] = None
    jump: Optional[Hop] = None  # the last jump host before this one (Hop.chain() for all)
    ssh_host: Optional[str] = None  # the ssh_config alias the connection fields came from
    ssh_config: Optional[str] = None  # the config file it was looked up in
    source: tuple[str, int] = ("<memory>", 0)  # (file, line) of the entry

    @property
    def label(self) -> str:
        """Where this host is, for messages: ``name (user@address:port via JUMP)``."""
        if self.transport == "local":
            return f"{self.name} (local)"
        via = f" via {' > '.join(h.name for h in self.jump.chain())}" if self.jump else ""
        return f"{self.name} ({self.user}@{self.address}:{self.port}{via})"


HOST_KEYS = (
    "name", "arch", "address", "port", "user", "identity_file", "known_hosts", "python",
    "build", "tags", "transport", "password_env", "trust_on_first_use", "reset_cmd",
    "connect_timeout", "command_timeout", "qemu", "libbpf", "become", "jump", "ssh_host",
    "ssh_config",
)
# A jump_hosts entry is only a way through: connection fields, nothing that runs there.
JUMP_HOST_KEYS = (
    "name", "address", "port", "user", "identity_file", "known_hosts", "password_env",
    "trust_on_first_use", "connect_timeout", "jump", "ssh_host", "ssh_config",
)
DEFAULT_KEYS = (
    "user", "identity_file", "known_hosts", "password_env", "trust_on_first_use", "become",
    "jump", "ssh_config", "tags", "python", "build", "libbpf", "connect_timeout",
    "command_timeout",
)
# Defaults about how to log in: a qemu lab guest (root on a loopback port, with the
# lab's own key) and a local host are reached their own way and do not take them.
CONNECTION_DEFAULTS = (
    "user", "identity_file", "known_hosts", "password_env", "trust_on_first_use", "become",
    "jump", "ssh_config",
)
QEMU_KEYS = ("suite", "packages", "mirror", "image", "memory", "smp", "cpu", "boot_timeout",
             "snapshot")
IMAGE_PATHS = ("disk", "kernel", "initrd", "firmware")
IMAGE_KEYS = ("disk", "kernel", "initrd", "append", "format", "kernel_release", "console",
              "client_key", "host_key_pub", "firmware")
SECRET_KEYS = ("password", "passphrase", "pass", "secret")
TOP_KEYS = ("hosts", "defaults", "jump_hosts")
BECOME = ("sudo",)

# Host names end up in file names and report ids: keep them boring.
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_USER_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,63}$")
_ENV_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Hostname, IPv4 or IPv6 literal; no spaces, no leading '-' (never an option).
_ADDR_RE = re.compile(r"^[A-Za-z0-9_:.%\[\]][A-Za-z0-9_:.%\[\]-]{0,252}$")
_TAG_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:=+-]{0,63}$")
_MEM_RE = re.compile(r"^[1-9][0-9]*[KMGT]?$")
# A QEMU -cpu value: a model, then comma-separated properties (name or name=value).
_CPU_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*(,[A-Za-z0-9][A-Za-z0-9._-]*(=[A-Za-z0-9._-]+)?)*\Z")
_PKG_RE = re.compile(r"^-?[a-z0-9][a-z0-9.+-]*$")  # "-NAME" drops a default package
# An ssh_config alias: looked up with fnmatch and expanded into %h tokens, so no
# wildcards, spaces or shell characters.
_ALIAS_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]{0,252}$")
_SSH_CONFIG = "~/.ssh/config"
_MAX_JUMPS = 8  # a longer chain is a loop in an ssh_config more likely than a real network


_CONTROL_RE = re.compile("[\x00-\x1f\x7f-\x9f\u2028\u2029]")


def _oneline(s: str) -> str:
    """Escape control characters so a message built from user text stays one line."""
    return _CONTROL_RE.sub(lambda m: repr(m.group())[1:-1], s)


def _tname(v: Any) -> str:
    if v is None:
        return "null"
    if isinstance(v, bool):
        return "a boolean"
    if isinstance(v, int):
        return "an integer"
    if isinstance(v, float):
        return "a number"
    if isinstance(v, str):
        return "a string"
    if isinstance(v, list):
        return "a list"
    if isinstance(v, dict):
        return "a mapping"
    return type(v).__name__


class _Ctx:
    """Where we are: the file, its directory (for relative paths), and error helpers."""

    def __init__(self, file: str, base_dir: Path) -> None:
        self.file = file
        self.base = base_dir
        self.ssh_configs: dict[Path, _SshConfig] = {}  # each config file is read once per load

    def err(self, line: Optional[int], fld: str, msg: str) -> InputError:
        return InputError(self.file, line if line else 1, _oneline(fld), _oneline(msg))

    def path(self, value: str) -> Path:
        p = Path(os.path.expanduser(value))
        if not p.is_absolute():
            p = self.base / p
        return Path(os.path.normpath(p))


def _string(ctx: _Ctx, d: yamlpos.PosDict, key: str, fld: str, *, pattern: Optional[re.Pattern[str]] = None,
            what: str = "") -> str:
    v = d[key]
    line = d.line_of(key)
    if not isinstance(v, str):
        raise ctx.err(line, fld, f"must be a string, got {_tname(v)}")
    if not v.strip():
        raise ctx.err(line, fld, "must not be empty")
    if pattern is not None and not pattern.match(v):
        raise ctx.err(line, fld, f"{v!r} is not a valid {what or fld}")
    return v


def _number(ctx: _Ctx, d: yamlpos.PosDict, key: str, fld: str) -> float:
    v = d[key]
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ctx.err(d.line_of(key), fld, f"must be a number of seconds, got {_tname(v)}")
    if not (0 < v < 10**7):  # also rejects nan
        raise ctx.err(d.line_of(key), fld, f"must be > 0 seconds, got {v}")
    return float(v)


def _integer(ctx: _Ctx, d: yamlpos.PosDict, key: str, fld: str, lo: int, hi: int) -> int:
    v = d[key]
    if isinstance(v, bool) or not isinstance(v, int):
        raise ctx.err(d.line_of(key), fld, f"must be an integer, got {_tname(v)}")
    if not lo <= v <= hi:
        raise ctx.err(d.line_of(key), fld, f"must be in {lo}..{hi}, got {v}")
    return v


def _str_list(ctx: _Ctx, d: yamlpos.PosDict, key: str, fld: str,
              pattern: Optional[re.Pattern[str]] = None, *, nonempty: bool = False) -> list[str]:
    v = d[key]
    if not isinstance(v, list):
        raise ctx.err(d.line_of(key), fld, f"must be a list of strings, got {_tname(v)}")
    if nonempty and not v:
        raise ctx.err(d.line_of(key), fld, "must not be an empty list")
    out: list[str] = []
    for i, item in enumerate(v):
        line = v.line_of(i) if isinstance(v, yamlpos.PosList) else d.line_of(key)
        if not isinstance(item, str):
            raise ctx.err(line, fld, f"item {i + 1} must be a string, got {_tname(item)}")
        if pattern is not None and not pattern.match(item):
            raise ctx.err(line, fld, f"item {i + 1} {item!r} is not valid")
        out.append(item)
    return out


def _check_keys(ctx: _Ctx, d: yamlpos.PosDict, allowed: tuple[str, ...], prefix: str) -> None:
    for key in d:
        line = d.line_of(key)
        if not isinstance(key, str):
            raise ctx.err(line, f"{prefix}{key}", f"keys must be strings, got {_tname(key)}")
        if key.lower() in SECRET_KEYS:
            raise ctx.err(line, f"{prefix}{key}",
                          "secrets are not allowed in hosts.yaml; use password_env "
                          "(the name of an environment variable holding it) or ssh-agent")
        if key not in allowed:
            near = difflib.get_close_matches(key, allowed, n=1)
            hint = f"did you mean {near[0]!r}? " if near else ""
            raise ctx.err(line, f"{prefix}{key}",
                          f"unknown key; {hint}(allowed: {', '.join(allowed)})")


def _key_problem(p: Path) -> Optional[str]:
    """Why a private key file is unusable (None when it is fine)."""
    try:
        st = p.stat()
    except FileNotFoundError:
        return f"no such file: {p}"
    except OSError as e:
        return f"cannot access {p}: {e.strerror}"
    if not stat.S_ISREG(st.st_mode):
        return f"not a regular file: {p}"
    if st.st_mode & 0o077:
        # The same rule OpenSSH applies: a private key others can read is not private.
        return (f"permissions {stat.S_IMODE(st.st_mode):04o} are too open for {p}; "
                f"run: chmod 600 {shlex.quote(str(p))}")
    if not os.access(p, os.R_OK):
        return f"not readable: {p}"
    return None


def _identity(ctx: _Ctx, d: yamlpos.PosDict, key: str = "identity_file",
              fld: str = "identity_file") -> str:
    """A private key file: it must exist and be readable by its owner only."""
    p = ctx.path(_string(ctx, d, key, fld))
    problem = _key_problem(p)
    if problem:
        raise ctx.err(d.line_of(key), fld, problem)
    return str(p)


def _known_hosts_problem(p: Path) -> Optional[str]:
    if p.exists() and not p.is_file():
        return f"not a regular file: {p}"
    if not p.exists() and not p.parent.is_dir():
        return f"no such directory: {p.parent}"
    return None


def _qemu(ctx: _Ctx, d: yamlpos.PosDict, arch: str) -> QemuSpec:
    v = d["qemu"]
    if v is None:
        return QemuSpec()  # `qemu:` with nothing under it: all defaults
    if not isinstance(v, yamlpos.PosDict):
        raise ctx.err(d.line_of("qemu"), "qemu", f"must be a mapping, got {_tname(v)}")
    _check_keys(ctx, v, QEMU_KEYS, "qemu.")
    spec = QemuSpec()
    if "suite" in v:
        spec.suite = _string(ctx, v, "suite", "qemu.suite", pattern=re.compile(r"^[A-Za-z0-9._-]+$"),
                             what="suite name")
    if "packages" in v:
        spec.packages = _str_list(ctx, v, "packages", "qemu.packages", _PKG_RE)
    if "mirror" in v and v["mirror"] is not None:
        spec.mirror = _string(ctx, v, "mirror", "qemu.mirror",
                              pattern=re.compile(r"^(https?|file)://\S+$"), what="mirror URL")
    if "memory" in v:
        mem = v["memory"]
        if isinstance(mem, int) and not isinstance(mem, bool):
            mem = str(mem)  # QEMU reads a bare number as MiB
        if not isinstance(mem, str) or not _MEM_RE.match(mem):
            raise ctx.err(v.line_of("memory"), "qemu.memory",
                          f"must look like 2G or 1024M, got {mem!r}")
        spec.memory = mem
    if "smp" in v:
        spec.smp = _integer(ctx, v, "smp", "qemu.smp", 1, 64)
    if "cpu" in v:
        spec.cpu = _string(ctx, v, "cpu", "qemu.cpu", pattern=_CPU_RE,
                           what="QEMU -cpu value (MODEL[,PROP[=VALUE]]...)")
    if "boot_timeout" in v:
        spec.boot_timeout = _number(ctx, v, "boot_timeout", "qemu.boot_timeout")
    if "snapshot" in v:
        if not isinstance(v["snapshot"], bool):
            raise ctx.err(v.line_of("snapshot"), "qemu.snapshot",
                          f"must be true or false, got {_tname(v['snapshot'])}")
        spec.snapshot = v["snapshot"]
    if "image" in v and v["image"] is not None:
        img = v["image"]
        if not isinstance(img, yamlpos.PosDict):
            raise ctx.err(v.line_of("image"), "qemu.image", f"must be a mapping, got {_tname(img)}")
        spec.image = _image(ctx, img, arch, v.line_of("image"))
    return spec


def _image(ctx: _Ctx, img: yamlpos.PosDict, arch: str, line: int) -> dict[str, str]:
    """A user-supplied guest image: file paths made absolute, the rest kept as strings."""
    _check_keys(ctx, img, IMAGE_KEYS, "qemu.image.")
    out: dict[str, str] = {}
    for key in IMAGE_KEYS:
        if key not in img or img[key] is None:
            continue
        fld = f"qemu.image.{key}"
        if key == "client_key":
            out[key] = _identity(ctx, img, key, fld)
            continue
        val = _string(ctx, img, key, fld)
        if key == "host_key_pub" and val.strip().startswith(("ssh-", "ecdsa-", "sk-")):
            out[key] = val.strip()  # a literal public key, not a path
        elif key in IMAGE_PATHS or key == "host_key_pub":
            p = ctx.path(val)
            if not p.is_file():
                raise ctx.err(img.line_of(key), fld, f"no such file: {p}")
            out[key] = str(p)
        elif key == "format" and val not in ("qcow2", "raw"):
            raise ctx.err(img.line_of(key), fld, f"must be qcow2 or raw, got {val!r}")
        else:
            out[key] = val
    if "disk" not in out:
        raise ctx.err(line, "qemu.image.disk", "missing: a user-supplied image needs a disk")
    if "kernel" not in out and "firmware" not in out and arch != "x86_64":
        # Only x86 firmware (SeaBIOS) boots a bare disk by default; the others need
        # -kernel or a firmware file (UEFI QEMU_EFI.fd, U-Boot) given as firmware.
        raise ctx.err(line, "qemu.image.kernel", f"missing: a user-supplied {arch} image "
                      "needs a kernel (or a firmware file that boots the disk)")
    if "kernel" not in out and "initrd" in out:
        raise ctx.err(img.line_of("initrd"), "qemu.image.initrd", "an initrd needs a kernel")
    return out


Field = Callable[[str], str]  # a key -> the field name its errors report ("defaults.user")


def _plain(key: str) -> str:
    return key


def _in_defaults(key: str) -> str:
    return f"defaults.{key}"


def _with_defaults(entry: yamlpos.PosDict, defaults: Optional[yamlpos.PosDict],
                   keys: Iterable[str], name: str) -> tuple[yamlpos.PosDict, Field]:
    """The entry plus the defaults it does not set itself, each at the line it was written.

    Errors about an inherited value name ``defaults.KEY`` and the line in ``defaults:``.
    """
    if not defaults:
        return entry, _plain
    merged = yamlpos.PosDict()
    merged.line = entry.line
    merged.lines = {}
    inherited: set[str] = set()
    for key in keys:
        if key in defaults and key not in entry:
            if key == "jump" and defaults[key] == name:
                continue  # the default bastion itself is reached directly
            merged[key] = defaults[key]
            merged.lines[key] = defaults.line_of(key)
            inherited.add(key)
    for key, value in entry.items():
        merged[key] = value
        merged.lines[key] = entry.line_of(key)
    return merged, (lambda k: f"defaults.{k}" if k in inherited else k)


def _login_fields(ctx: _Ctx, d: yamlpos.PosDict, F: Field, obj: Union[Host, Hop]) -> None:
    """How to log in: the fields hosts, jump hosts and defaults share."""
    if "address" in d:
        obj.address = _string(ctx, d, "address", F("address"), pattern=_ADDR_RE,
                              what="host name or IP address")
    if "port" in d:
        obj.port = _integer(ctx, d, "port", F("port"), 1, 65535)
    if "user" in d:
        obj.user = _string(ctx, d, "user", F("user"), pattern=_USER_RE, what="user name")
    if "identity_file" in d and d["identity_file"] is not None:
        obj.identity_file = _identity(ctx, d, "identity_file", F("identity_file"))
    if "known_hosts" in d and d["known_hosts"] is not None:
        p = ctx.path(_string(ctx, d, "known_hosts", F("known_hosts")))
        problem = _known_hosts_problem(p)
        if problem:
            raise ctx.err(d.line_of("known_hosts"), F("known_hosts"), problem)
        obj.known_hosts = str(p)
    if "password_env" in d and d["password_env"] is not None:
        obj.password_env = _string(ctx, d, "password_env", F("password_env"), pattern=_ENV_RE,
                                   what="environment variable name (the secret goes in the "
                                        "environment, not here)")
    if "trust_on_first_use" in d:
        v = d["trust_on_first_use"]
        if not isinstance(v, bool):
            raise ctx.err(d.line_of("trust_on_first_use"), F("trust_on_first_use"),
                          f"must be true or false, got {_tname(v)}")
        obj.trust_on_first_use = v
    if "connect_timeout" in d:
        obj.connect_timeout = _number(ctx, d, "connect_timeout", F("connect_timeout"))


def _run_fields(ctx: _Ctx, d: yamlpos.PosDict, F: Field, h: Host) -> None:
    """What runs on the target and how: the host fields defaults may also give."""
    if "build" in d:
        h.build = _string(ctx, d, "build", F("build"))
        if h.build not in ("local", "remote"):
            raise ctx.err(d.line_of("build"), F("build"), f"must be local or remote, got {h.build!r}")
    if "libbpf" in d:
        h.libbpf = _string(ctx, d, "libbpf", F("libbpf"))
        if h.libbpf not in ("bundled", "system"):
            raise ctx.err(d.line_of("libbpf"), F("libbpf"),
                          f"must be bundled or system, got {h.libbpf!r}")
    if "python" in d:
        h.python = _string(ctx, d, "python", F("python"),
                           pattern=re.compile(r"^[A-Za-z0-9_./+-]+$"), what="interpreter path")
    if "tags" in d and d["tags"] is not None:
        h.tags = _str_list(ctx, d, "tags", F("tags"), _TAG_RE)
    if "reset_cmd" in d and d["reset_cmd"] is not None:
        if isinstance(d["reset_cmd"], str):
            raise ctx.err(d.line_of("reset_cmd"), F("reset_cmd"),
                          "must be a list (an argv, never a shell string), e.g. [ipmitool, ...]")
        h.reset_cmd = _str_list(ctx, d, "reset_cmd", F("reset_cmd"), nonempty=True)
    if "command_timeout" in d:
        h.command_timeout = _number(ctx, d, "command_timeout", F("command_timeout"))
    if "become" in d:
        v = d["become"]
        if v is None or v is False or v == "none":
            h.become = None  # also how a host opts out of a default `become`
        elif v in BECOME:
            h.become = v
        else:
            shown = repr(v) if isinstance(v, str) else _tname(v)
            raise ctx.err(d.line_of("become"), F("become"),
                          f"must be sudo (run every command as `sudo -n -- ...`) or none, "
                          f"got {shown}")


def _ssh_fields(ctx: _Ctx, d: yamlpos.PosDict, F: Field) -> tuple[Optional[str], Optional[str]]:
    """(ssh_host alias, ssh_config file), both checked; None where not given."""
    alias = cfg = None
    if "ssh_host" in d and d["ssh_host"] is not None:
        alias = _string(ctx, d, "ssh_host", F("ssh_host"), pattern=_ALIAS_RE,
                        what="ssh_config host alias (letters, digits, '.', '_', '-')")
    if "ssh_config" in d and d["ssh_config"] is not None:
        p = ctx.path(_string(ctx, d, "ssh_config", F("ssh_config")))
        if not p.is_file():
            raise ctx.err(d.line_of("ssh_config"), F("ssh_config"),
                          f"no such file: {p}" if not p.exists() else f"not a regular file: {p}")
        cfg = str(p)
    return alias, cfg


@dataclass
class _JumpRef:
    """A ``jump:`` as written; resolved once every entry is known (names may come later)."""

    value: str
    line: int
    field: str


def _split_jump(v: str) -> tuple[Optional[str], str, Optional[int]]:
    """``[ssh://][user@]host[:port]`` (IPv6 in brackets) -> (user, host, port); ValueError."""
    rest = v[len("ssh://"):] if v.startswith("ssh://") else v
    user: Optional[str] = None
    if "@" in rest:
        user, _, rest = rest.rpartition("@")
        if not _USER_RE.match(user):
            raise ValueError(f"{user!r} is not a valid user name")
    port_s: Optional[str] = None
    if rest.startswith("["):
        close = rest.find("]")
        if close < 0 or (rest[close + 1:] and not rest[close + 1:].startswith(":")):
            raise ValueError(f"{v!r} is not user@host:port")
        host, port_s = rest[1:close], (rest[close + 2:] if rest[close + 1:] else None)
    elif rest.count(":") == 1:
        host, _, port_s = rest.partition(":")
    else:
        host = rest
    if not host or not _ADDR_RE.match(host) or host.startswith("-") or (
            ":" in host and not _is_ipv6(host)):
        raise ValueError(f"{host!r} is not a valid host name or IP address")
    port: Optional[int] = None
    if port_s is not None:
        if not port_s.isdigit() or not 1 <= int(port_s) <= 65535:
            raise ValueError(f"port {port_s!r} must be in 1..65535")
        port = int(port_s)
    return user, host, port


def _is_ipv6(host: str) -> bool:
    import ipaddress

    try:
        ipaddress.IPv6Address(host.split("%", 1)[0])  # fe80::1%eth0: a scope is fine
    except ValueError:
        return False
    return True


def _is_literal_jump(v: str) -> bool:
    return "@" in v or ":" in v  # host entry names have neither


def _jump_ref(ctx: _Ctx, d: yamlpos.PosDict, F: Field) -> Optional[_JumpRef]:
    if "jump" not in d or d["jump"] is None or d["jump"] == "none":
        return None  # `jump: none` also opts a host out of a default jump
    v = _string(ctx, d, "jump", F("jump"))
    if _is_literal_jump(v):
        try:
            _split_jump(v)
        except ValueError as e:
            raise ctx.err(d.line_of("jump"), F("jump"), f"{e} (write a host entry name, or "
                          "user@host:port)") from None
    elif not _NAME_RE.match(v):
        raise ctx.err(d.line_of("jump"), F("jump"),
                      f"{v!r} is neither a host entry name nor user@host:port")
    return _JumpRef(v, d.line_of("jump"), F("jump"))


# -- ssh_config --------------------------------------------------------------------

class _CfgError(Exception):
    """A problem in an ssh_config: where (``FILE:LINE`` or ``FILE``) and what."""

    def __init__(self, where: str, msg: str) -> None:
        super().__init__(f"{where}: {msg}")
        self.where = where
        self.msg = msg


_CFG_LINE = re.compile(r"^(\w+)(?:\s*=\s*|\s+)(.+)$")  # paramiko's own SETTINGS_REGEX
_MATCH_EXEC = re.compile(r"(^|\s)!?exec(\s|$)", re.IGNORECASE)


class _SshConfig:
    """An OpenSSH client config, looked up with paramiko.SSHConfig.

    paramiko has no ``Include``: included files are read inline here, and every
    line remembers its file and number so a bad value is reported where it was
    written. ``Match exec`` (and ProxyCommand, refused at lookup) would run local
    shell commands: kmatrix refuses them instead of running them.
    """

    def __init__(self, path: Path) -> None:
        from paramiko.config import SSHConfig

        self.path = path
        self.lines: list[tuple[str, int, str, str, str]] = []  # file, number, key, value, text
        self._read(path, 0)
        texts = [t for *_, t in self.lines]
        try:
            self.config = SSHConfig.from_text("\n".join(texts))
        except Exception as e:  # noqa: BLE001 - ConfigParseError, shlex's ValueError, ...
            for i in range(1, len(texts) + 1):  # find the first line paramiko refuses
                try:
                    SSHConfig.from_text("\n".join(texts[:i]))
                except Exception:  # noqa: BLE001
                    f, n = self.lines[i - 1][:2]
                    raise _CfgError(f"{f}:{n}", f"cannot parse: {e}") from None
            raise _CfgError(str(path), f"cannot parse: {e}") from None

    def _read(self, path: Path, depth: int) -> None:
        if depth > 16:
            raise _CfgError(str(path), "Include nested more than 16 deep")
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise _CfgError(str(path), f"cannot read: {getattr(e, 'strerror', None) or e}") from None
        for n, raw in enumerate(text.splitlines(), 1):
            s = raw.strip()
            if not s or s.startswith("#"):
                continue
            m = _CFG_LINE.match(s)
            if not m:
                raise _CfgError(f"{path}:{n}", f"cannot parse {s[:60]!r}")
            key, value = m.group(1).lower(), m.group(2).strip()
            if key == "include":
                try:
                    patterns = shlex.split(value)
                except ValueError as e:
                    raise _CfgError(f"{path}:{n}", f"Include: {e}") from None
                for pat in patterns:
                    pat = os.path.expanduser(pat)
                    if not os.path.isabs(pat):  # as OpenSSH: relative to the user config's dir
                        pat = str(self.path.parent / pat)
                    for f in sorted(glob.glob(pat)):
                        self._read(Path(f), depth + 1)
                continue
            if key == "match" and _MATCH_EXEC.search(value):
                raise _CfgError(f"{path}:{n}", "Match exec would run a local command, which "
                                "kmatrix never does; give the host an ssh_config: file "
                                "without it")
            self.lines.append((str(path), n, key, value, s))

    def lookup(self, alias: str) -> dict[str, Any]:
        try:
            return dict(self.config.lookup(alias))
        except Exception as e:  # noqa: BLE001 - canonicalisation, bad numbers, ...
            raise _CfgError(str(self.path), f"cannot look up {alias!r}: {_oneline(str(e))}") from None

    def first_word(self, key: str, value: str, opts: dict[str, Any], alias: str) -> str:
        """The first of several whitespace-separated values (UserKnownHostsFile takes a
        list), with OpenSSH's double quotes around one that has spaces respected."""
        where = self.where(key, value, opts, alias)
        for f, n, k, v, _ in self.lines:
            if k == key and f"{f}:{n}" == where:
                try:
                    words = shlex.split(v, posix=True)
                except ValueError:
                    break
                return words[0] if words else v
        return value.split()[0] if value.split() else value

    def where(self, key: str, value: str, opts: dict[str, Any], alias: str) -> str:
        """``FILE:LINE`` of the line that gave ``key`` this (expanded) value, else FILE.

        paramiko expands tokens (%h, ~) only inside lookup(), so the line is found
        with its public API: look the alias up again without one candidate line at
        a time; the line whose absence drops ``value`` from the answer gave it.
        Only error messages (and UserKnownHostsFile's first word) ask, so the extra
        parses cost nothing on a good inventory.
        """
        from paramiko.config import SSHConfig

        def count(got: Any) -> int:
            if isinstance(got, list):
                return [str(x) for x in got].count(value)
            return int(got is not None and str(got) == value)

        texts = [t for *_, t in self.lines]
        have = count(opts.get(key))
        first = ""
        for i, (f, n, k, _, _) in enumerate(self.lines):
            if k != key:
                continue
            first = first or f"{f}:{n}"
            try:
                without = SSHConfig.from_text("\n".join(texts[:i] + texts[i + 1:])).lookup(alias)
            except Exception:  # noqa: BLE001 - as in lookup(): paramiko raises several kinds
                continue
            if count(without.get(key)) < have:
                return f"{f}:{n}"
        return first or str(self.path)


def _ssh_config(ctx: _Ctx, path: Path) -> _SshConfig:
    path = Path(os.path.normpath(path))
    if path not in ctx.ssh_configs:
        ctx.ssh_configs[path] = _SshConfig(path)
    return ctx.ssh_configs[path]


def _cfg_file(value: str) -> Path:
    """A file named in ssh_config: ~ and %d/%u expanded, relative to the home directory."""
    home = os.path.expanduser("~")
    value = value.replace("%d", home).replace("%u", _local_user()).replace("%%", "%")
    p = Path(os.path.expanduser(value))
    return Path(os.path.normpath(p if p.is_absolute() else Path(home) / p))


def _local_user() -> str:
    import getpass

    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - no passwd entry in some containers
        return str(os.getuid())


def _cfg_values(cfg: _SshConfig, alias: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Checked login fields for ``alias`` (only those its config sets) and the raw options."""
    opts = cfg.lookup(alias)
    out: dict[str, Any] = {}
    host = str(opts.get("hostname") or alias)
    if not _ADDR_RE.match(host) or host.startswith("-"):
        raise _CfgError(cfg.where("hostname", host, opts, alias),
                        f"HostName {host!r} is not a valid host name or IP address")
    out["address"] = host
    if "port" in opts:
        port = str(opts["port"])
        if not port.isdigit() or not 1 <= int(port) <= 65535:
            raise _CfgError(cfg.where("port", port, opts, alias), f"Port must be in 1..65535, "
                            f"got {port!r}")
        out["port"] = int(port)
    if "user" in opts:
        user = str(opts["user"])
        if not _USER_RE.match(user):
            raise _CfgError(cfg.where("user", user, opts, alias),
                            f"User {user!r} is not a valid user name")
        out["user"] = user
    files = [str(f) for f in opts.get("identityfile") or []]
    if files:
        # Like OpenSSH, skip keys that are not on this machine; the first one there is used.
        paths = [_cfg_file(f) for f in files]
        found = next((i for i, p in enumerate(paths) if p.exists()), None)
        if found is None:
            raise _CfgError(cfg.where("identityfile", files[0], opts, alias),
                            f"IdentityFile: no such file: {', '.join(map(str, paths))}")
        problem = _key_problem(paths[found])
        if problem:
            raise _CfgError(cfg.where("identityfile", files[found], opts, alias),
                            f"IdentityFile: {problem}")
        out["identity_file"] = str(paths[found])
    if "userknownhostsfile" in opts:
        raw = str(opts["userknownhostsfile"])
        first = cfg.first_word("userknownhostsfile", raw, opts, alias)
        p = _cfg_file(first)
        problem = "none" if first.lower() == "none" else _known_hosts_problem(p)
        if problem:
            raise _CfgError(cfg.where("userknownhostsfile", raw, opts, alias),
                            f"UserKnownHostsFile {first!r}: kmatrix checks every host key "
                            f"against a known_hosts file ({problem})")
        out["known_hosts"] = str(p)
    if opts.get("proxycommand") and not opts.get("proxyjump"):
        cmd = str(opts["proxycommand"])
        raise _CfgError(cfg.where("proxycommand", cmd, opts, alias),
                        "ProxyCommand would run a local command, which kmatrix never does; "
                        "use ProxyJump (or jump: in hosts.yaml)")
    return out, opts


def _cfg_jump(cfg: _SshConfig, alias: str, opts: dict[str, Any], owner: Union[Host, Hop],
              stack: list[str]) -> Optional[Hop]:
    """The ProxyJump chain of ``alias`` as Hops (the last one is the hop next to it)."""
    value = opts.get("proxyjump")
    if not value or str(value).strip().lower() == "none":
        return None
    where = cfg.where("proxyjump", str(value), opts, alias)
    prev: Optional[Hop] = None
    for i, part in enumerate(p.strip() for p in str(value).split(",")):
        try:
            user, host, port = _split_jump(part)
        except ValueError as e:
            raise _CfgError(where, f"ProxyJump {part!r}: {e}") from None
        if host in stack or len(stack) > _MAX_JUMPS:
            raise _CfgError(where, "ProxyJump loop: " + " -> ".join([*stack, host]))
        vals, hop_opts = _cfg_values(cfg, host)  # a hop is an alias of its own, as in OpenSSH
        file, _, line = where.rpartition(":")
        hop = Hop(name=host, address=vals["address"], port=port or vals.get("port", 22),
                  user=user or vals.get("user", "root"),
                  identity_file=vals.get("identity_file"), known_hosts=vals.get("known_hosts"),
                  trust_on_first_use=owner.trust_on_first_use,
                  connect_timeout=owner.connect_timeout,
                  source=(file, int(line)) if line.isdigit() else (where, 0))
        # Only the first hop of a list keeps its own ProxyJump (ssh -J a,b does the same).
        hop.jump = _cfg_jump(cfg, host, hop_opts, owner, [*stack, host]) if i == 0 else prev
        prev = hop
    return prev


def _apply_ssh_config(ctx: _Ctx, d: yamlpos.PosDict, F: Field, obj: Union[Host, Hop],
                      alias: str, cfg_file: Optional[str], jump_written: bool) -> Optional[Hop]:
    """Fill the login fields hosts.yaml leaves unset from ``alias`` in the ssh_config.

    Returns the alias's ProxyJump chain, unless hosts.yaml says ``jump:`` itself.
    Errors are reported at the ``ssh_host`` line and name the config file and line.
    """
    path = Path(cfg_file) if cfg_file else Path(os.path.expanduser(_SSH_CONFIG))
    try:
        if not path.exists():  # only the default can be missing: then the alias is the name
            vals: dict[str, Any] = {"address": alias}
            opts: dict[str, Any] = {}
            cfg = None
        else:
            cfg = _ssh_config(ctx, path)
            vals, opts = _cfg_values(cfg, alias)
        jump = None
        if cfg is not None and not jump_written:
            jump = _cfg_jump(cfg, alias, opts, obj, [alias])
    except _CfgError as e:
        raise ctx.err(d.line_of("ssh_host"), F("ssh_host"),
                      f"{e.where}: {e.msg} (looking up {alias!r})") from None
    for key in ("address", "port", "user", "identity_file", "known_hosts"):
        if key in vals and key not in d:  # hosts.yaml (entry or defaults) wins
            setattr(obj, key, vals[key])
    return jump


# -- entries -------------------------------------------------------------------------

@dataclass
class _Entry:
    """A parsed hosts or jump_hosts entry whose jump is not resolved yet."""

    name: str
    obj: Union[Host, Hop]
    ref: Optional[_JumpRef]  # jump: from hosts.yaml (the entry or defaults)
    cfg_jump: Optional[Hop]  # ProxyJump from ssh_config, used when hosts.yaml gives none
    is_host: bool
    not_a_hop: str = ""  # why it cannot be a jump host ("" when it can)
    hop: Optional[Hop] = None


def _entry_name(ctx: _Ctx, entry: yamlpos.PosDict, index: int, seen: dict[str, int],
                what: str) -> str:
    if "name" not in entry:
        raise ctx.err(entry.line, "name", f"missing ({what} entry {index + 1} needs a name)")
    name = _string(ctx, entry, "name", "name", pattern=_NAME_RE,
                   what="host name (letters, digits, '.', '_', '-'; up to 64)")
    if name in seen:
        raise ctx.err(entry.line_of("name"), "name",
                      f"duplicate host name {name!r} (first defined on line {seen[name]})")
    seen[name] = entry.line_of("name")
    return name


def _host(ctx: _Ctx, entry: Any, line: int, index: int, seen: dict[str, int],
          defaults: Optional[yamlpos.PosDict]) -> _Entry:
    if not isinstance(entry, yamlpos.PosDict):
        raise ctx.err(line, f"hosts[{index}]", f"each host must be a mapping, got {_tname(entry)}")
    _check_keys(ctx, entry, HOST_KEYS, "")
    for req in ("name", "arch"):
        if req not in entry:
            raise ctx.err(entry.line, req, f"missing (host entry {index + 1} needs a {req})")
    name = _entry_name(ctx, entry, index, seen, "host")
    arch_raw = entry["arch"]
    if not isinstance(arch_raw, str):
        raise ctx.err(entry.line_of("arch"), "arch", f"must be a string, got {_tname(arch_raw)}")
    try:
        arch = archs.normalize(arch_raw)
    except ValueError as e:
        raise ctx.err(entry.line_of("arch"), "arch", str(e)) from None

    h = Host(name=name, arch=arch, source=(ctx.file, entry.line))
    if "transport" in entry:
        h.transport = _string(ctx, entry, "transport", "transport")
        if h.transport not in ("ssh", "local"):
            raise ctx.err(entry.line_of("transport"), "transport",
                          f"must be ssh or local, got {h.transport!r}")
    own_way = ""  # a lab guest or the controller itself: reached without login settings
    if "qemu" in entry:
        own_way = "a qemu lab guest is reached as root on this machine's loopback"
    elif h.transport == "local":
        own_way = "a local host runs on the controller itself"
    if own_way:
        for key in ("become", "jump", "ssh_host", "ssh_config"):
            if key in entry and entry[key] is not None:
                raise ctx.err(entry.line_of(key), key, f"{own_way}; drop {key}")
    keys = [k for k in DEFAULT_KEYS if not (own_way and k in CONNECTION_DEFAULTS)]
    d, F = _with_defaults(entry, defaults, keys, name)
    _run_fields(ctx, d, F, h)
    if "qemu" in d:
        h.qemu = _qemu(ctx, d, arch)
        if h.transport != "ssh":
            raise ctx.err(d.line_of("transport"), "transport",
                          "a qemu lab guest is reached over ssh; drop transport: local")
    _login_fields(ctx, d, F, h)
    h.ssh_host, cfg_file = _ssh_fields(ctx, d, F)
    ref = _jump_ref(ctx, d, F)
    cfg_jump = None
    if h.ssh_host:
        h.ssh_config = cfg_file or str(Path(os.path.expanduser(_SSH_CONFIG)))
        cfg_jump = _apply_ssh_config(ctx, d, F, h, h.ssh_host, cfg_file, ref is not None)
    elif "address" not in d and h.transport == "ssh" and h.qemu is None:
        raise ctx.err(entry.line, "address",
                      f"missing (ssh host {name!r} needs an address, or ssh_host: an alias "
                      "from your ssh config)")
    return _Entry(name, h, ref, cfg_jump, True, not_a_hop=own_way)


def _jump_host(ctx: _Ctx, entry: Any, line: int, index: int, seen: dict[str, int],
               defaults: Optional[yamlpos.PosDict]) -> _Entry:
    if not isinstance(entry, yamlpos.PosDict):
        raise ctx.err(line, f"jump_hosts[{index}]",
                      f"each jump host must be a mapping, got {_tname(entry)}")
    _check_keys(ctx, entry, JUMP_HOST_KEYS, "")
    name = _entry_name(ctx, entry, index, seen, "jump_hosts")
    # Not the default jump: the bastions are the way in, each says its own jump.
    keys = [k for k in CONNECTION_DEFAULTS if k not in ("become", "jump")] + ["connect_timeout"]
    d, F = _with_defaults(entry, defaults, keys, name)
    hop = Hop(name=name, address="", source=(ctx.file, entry.line))
    _login_fields(ctx, d, F, hop)
    alias, cfg_file = _ssh_fields(ctx, d, F)
    ref = _jump_ref(ctx, d, F)
    cfg_jump = None
    if alias:
        cfg_jump = _apply_ssh_config(ctx, d, F, hop, alias, cfg_file, ref is not None)
    elif "address" not in d:
        raise ctx.err(entry.line, "address",
                      f"missing (jump host {name!r} needs an address, or ssh_host:)")
    return _Entry(name, hop, ref, cfg_jump, False)


def _defaults(ctx: _Ctx, data: yamlpos.PosDict) -> Optional[yamlpos.PosDict]:
    """The checked ``defaults:`` block: a bad value is reported here, at its own line,
    even when every host overrides it."""
    d = data.get("defaults")
    if d is None:
        return None
    if not isinstance(d, yamlpos.PosDict):
        raise ctx.err(data.line_of("defaults"), "defaults",
                      f"must be a mapping of host fields, got {_tname(d)}")
    _check_keys(ctx, d, DEFAULT_KEYS, "defaults.")
    scratch = Host(name="defaults", arch="x86_64")
    _run_fields(ctx, d, _in_defaults, scratch)
    _login_fields(ctx, d, _in_defaults, scratch)
    _ssh_fields(ctx, d, _in_defaults)
    _jump_ref(ctx, d, _in_defaults)
    return d


def _jump_of(ctx: _Ctx, e: _Entry, by_name: dict[str, _Entry], stack: list[str]) -> Optional[Hop]:
    """The hop right before entry ``e``: its hosts.yaml jump, else its ProxyJump."""
    ref = e.ref
    if ref is None:
        return e.cfg_jump
    v = ref.value
    if v in by_name:
        target = by_name[v]
        if target.not_a_hop:
            raise ctx.err(ref.line, ref.field, f"{v!r} cannot be a jump host: {target.not_a_hop}")
        if v in stack:
            hint = ("; set jump: none on the entry that should be reached directly"
                    if ref.field.startswith("defaults.") else "")
            raise ctx.err(ref.line, ref.field, "jump loop: " + " -> ".join([*stack, v]) + hint)
        return _as_hop(ctx, target, by_name, stack)
    if not _is_literal_jump(v):
        near = difflib.get_close_matches(v, list(by_name), n=1)
        hint = f"did you mean {near[0]!r}? " if near else ""
        raise ctx.err(ref.line, ref.field, f"no host or jump_hosts entry named {v!r}; {hint}"
                      "(or write user@host:port)")
    user, host, port = _split_jump(v)
    o = e.obj  # a bare user@host:port logs in the way the entry naming it does
    return Hop(name=v, address=host, port=port or 22, user=user or o.user,
               identity_file=o.identity_file, known_hosts=o.known_hosts,
               password_env=o.password_env, trust_on_first_use=o.trust_on_first_use,
               connect_timeout=o.connect_timeout, source=(ctx.file, ref.line))


def _as_hop(ctx: _Ctx, e: _Entry, by_name: dict[str, _Entry], stack: list[str]) -> Hop:
    if e.hop is None:
        jump = _jump_of(ctx, e, by_name, [*stack, e.name])
        o = e.obj
        e.hop = Hop(name=e.name, address=o.address, port=o.port, user=o.user,
                    identity_file=o.identity_file, known_hosts=o.known_hosts,
                    password_env=o.password_env, trust_on_first_use=o.trust_on_first_use,
                    connect_timeout=o.connect_timeout, jump=jump, source=o.source)
    return e.hop


def _resolve_jumps(ctx: _Ctx, entries: list[_Entry], defaults: Optional[yamlpos.PosDict]) -> None:
    by_name = {e.name: e for e in entries}
    ref = _jump_ref(ctx, defaults, _in_defaults) if defaults else None
    if ref is not None and not _is_literal_jump(ref.value) and ref.value not in by_name:
        near = difflib.get_close_matches(ref.value, list(by_name), n=1)
        hint = f"did you mean {near[0]!r}? " if near else ""
        raise ctx.err(ref.line, ref.field, f"no host or jump_hosts entry named {ref.value!r}; "
                      f"{hint}(or write user@host:port)")
    for e in entries:
        if e.is_host and not e.not_a_hop:
            jump = _jump_of(ctx, e, by_name, [e.name])
            if jump is not None and len(jump.chain()) > _MAX_JUMPS:
                where = e.ref or _JumpRef("", e.obj.source[1], "jump")
                raise ctx.err(where.line, where.field, f"more than {_MAX_JUMPS} jump hosts")
            e.obj.jump = jump
        elif not e.is_host:
            _as_hop(ctx, e, by_name, [])  # an unused jump host's own jump is checked too


def _yaml(text: str, file: str) -> Any:
    try:
        return yamlpos.loads(text, file)
    except InputError as e:
        # e.g. a duplicate key whose name spans lines: keep the error on one line.
        raise InputError(e.file, e.line or 1, _oneline(e.field), _oneline(e.message)) from None
    except yaml.YAMLError as e:
        raise InputError(file, 1, "yaml", f"syntax error: {e}") from None
    except RecursionError:
        raise InputError(file, 1, "yaml", "nested too deeply") from None


def load_hosts_text(text: str, file: str = "<hosts>", base_dir: Optional[Path] = None) -> list[Host]:
    """Parse hosts.yaml content; relative paths resolve against ``base_dir`` (default: cwd)."""
    return _parse(_yaml(text, file), _Ctx(file, base_dir or Path.cwd()))


def load_hosts(path: Path | str) -> list[Host]:
    """Load and validate a hosts.yaml; raise InputError naming the first problem."""
    p = Path(path)
    text = yamlpos.read_text(p)  # bounded: no /dev/zero, FIFO or 4 MB inventory reaches YAML
    return _parse(_yaml(text, str(p)), _Ctx(str(p), p.resolve().parent))


def _parse(data: Any, ctx: _Ctx) -> list[Host]:
    if data is None:
        raise ctx.err(1, "hosts", "the file is empty; expected a mapping with a 'hosts' list")
    if not isinstance(data, yamlpos.PosDict):
        raise ctx.err(getattr(data, "line", 1), "hosts",
                      f"the top level must be a mapping with a 'hosts' list, got {_tname(data)}")
    for key in data:
        if key not in TOP_KEYS:
            near = difflib.get_close_matches(str(key), TOP_KEYS, n=1)
            hint = f"did you mean {near[0]!r}? " if near else ""
            raise ctx.err(data.line_of(key), str(key),
                          f"unknown top-level key; {hint}(allowed: {', '.join(TOP_KEYS)})")
    if "hosts" not in data:
        raise ctx.err(data.line, "hosts", "missing: expected a 'hosts' list")
    defaults = _defaults(ctx, data)
    entries = data["hosts"]
    if not isinstance(entries, yamlpos.PosList):
        raise ctx.err(data.line_of("hosts"), "hosts", f"must be a list of hosts, got {_tname(entries)}")
    if not entries:
        raise ctx.err(data.line_of("hosts"), "hosts", "the list is empty")
    seen: dict[str, int] = {}
    parsed = [_host(ctx, e, entries.line_of(i), i, seen, defaults) for i, e in enumerate(entries)]
    jumps = data.get("jump_hosts")
    if jumps is not None:
        if not isinstance(jumps, yamlpos.PosList):
            raise ctx.err(data.line_of("jump_hosts"), "jump_hosts",
                          f"must be a list of jump hosts, got {_tname(jumps)}")
        parsed += [_jump_host(ctx, e, jumps.line_of(i), i, seen, defaults)
                   for i, e in enumerate(jumps)]
    _resolve_jumps(ctx, parsed, defaults)
    return [e.obj for e in parsed if isinstance(e.obj, Host)]


def select_hosts(hosts: list[Host], arch: Optional[str] = None,
                 names: Optional[Iterable[str]] = None,
                 tags: Optional[Iterable[str]] = None) -> list[Host]:
    """Filter hosts, keeping file order.

    ``arch`` accepts aliases (``riscv`` selects every riscv64 host). ``names`` keeps
    hosts with one of those names (an unknown name is an error, not silence).
    ``tags`` keeps hosts carrying every given tag.
    """
    out = list(hosts)
    if arch:
        try:
            canon = archs.normalize(arch)
        except ValueError as e:
            raise InputError("command line", None, "--arch", str(e)) from None
        out = [h for h in out if h.arch == canon]
    if names:
        wanted = list(dict.fromkeys(names))
        known = {h.name for h in hosts}
        for n in wanted:
            if n not in known:
                raise InputError("command line", None, "--host",
                                 f"no host named {n!r} (known: {', '.join(sorted(known)) or 'none'})")
        out = [h for h in out if h.name in wanted]
    if tags:
        need = set(tags)
        out = [h for h in out if need.issubset(h.tags)]
    return out


def _describe(h: Host) -> str:
    where = "local" if h.transport == "local" else (
        "qemu lab guest" if h.qemu else f"{h.user}@{h.address}:{h.port}")
    if h.jump is not None and h.transport != "local" and not h.qemu:
        where += " via " + " > ".join(f"{j.user}@{j.address}:{j.port}" for j in h.jump.chain())
    extra = f" tags={','.join(h.tags)}" if h.tags else ""
    extra += f" become={h.become}" if h.become else ""
    return f"{h.name}\t{h.arch}\t{where}\tbuild={h.build}{extra}"


def main(argv: Optional[list[str]] = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] in ("-h", "--help"):
        print("usage: python -m kmatrix.inventory HOSTS.YAML", file=sys.stderr)
        return EXIT_INFRA
    try:
        hosts = load_hosts(args[0])
    except InputError as e:
        print(f"kmatrix: {e}", file=sys.stderr)
        return EXIT_INFRA
    for h in hosts:
        print(_describe(h))
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
