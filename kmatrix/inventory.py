"""The inventory: ``hosts.yaml`` parsed into ``Host`` objects.

Every problem is reported as one ``InputError`` (``FILE:LINE: FIELD: MESSAGE``);
nothing here raises anything else on bad input. Secrets never live in this file:
a ``password:`` key is refused, ``password_env`` names an environment variable.

``python -m kmatrix.inventory hosts.yaml`` validates a file and prints its hosts
(exit 2 on the first error).
"""

from __future__ import annotations

import difflib
import os
import re
import shlex
import stat
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

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
    boot_timeout: float = 300.0


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
    source: tuple[str, int] = ("<memory>", 0)  # (file, line) of the entry

    @property
    def label(self) -> str:
        """Where this host is, for messages: ``name (user@address:port)``."""
        if self.transport == "local":
            return f"{self.name} (local)"
        return f"{self.name} ({self.user}@{self.address}:{self.port})"


HOST_KEYS = (
    "name", "arch", "address", "port", "user", "identity_file", "known_hosts", "python",
    "build", "tags", "transport", "password_env", "trust_on_first_use", "reset_cmd",
    "connect_timeout", "command_timeout", "qemu", "libbpf",
)
QEMU_KEYS = ("suite", "packages", "mirror", "image", "memory", "smp", "boot_timeout")
IMAGE_PATHS = ("disk", "kernel", "initrd", "firmware")
IMAGE_KEYS = ("disk", "kernel", "initrd", "append", "format", "kernel_release", "console",
              "client_key", "host_key_pub", "firmware")
SECRET_KEYS = ("password", "passphrase", "pass", "secret")
TOP_KEYS = ("hosts",)

# Host names end up in file names and report ids: keep them boring.
_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_USER_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.@-]{0,63}$")
_ENV_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
# Hostname, IPv4 or IPv6 literal; no spaces, no leading '-' (never an option).
_ADDR_RE = re.compile(r"^[A-Za-z0-9_:.%\[\]][A-Za-z0-9_:.%\[\]-]{0,252}$")
_TAG_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:=+-]{0,63}$")
_MEM_RE = re.compile(r"^[1-9][0-9]*[KMGT]?$")
_PKG_RE = re.compile(r"^-?[a-z0-9][a-z0-9.+-]*$")  # "-NAME" drops a default package


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


def _identity(ctx: _Ctx, d: yamlpos.PosDict, key: str = "identity_file",
              fld: str = "identity_file") -> str:
    """A private key file: it must exist and be readable by its owner only."""
    raw = _string(ctx, d, key, fld)
    line = d.line_of(key)
    p = ctx.path(raw)
    try:
        st = p.stat()
    except FileNotFoundError:
        raise ctx.err(line, fld, f"no such file: {p}") from None
    except OSError as e:
        raise ctx.err(line, fld, f"cannot access {p}: {e.strerror}") from None
    if not stat.S_ISREG(st.st_mode):
        raise ctx.err(line, fld, f"not a regular file: {p}")
    if st.st_mode & 0o077:
        # The same rule OpenSSH applies: a private key others can read is not private.
        raise ctx.err(line, fld,
                      f"permissions {stat.S_IMODE(st.st_mode):04o} are too open for {p}; "
                      f"run: chmod 600 {shlex.quote(str(p))}")
    if not os.access(p, os.R_OK):
        raise ctx.err(line, fld, f"not readable: {p}")
    return str(p)


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
    if "boot_timeout" in v:
        spec.boot_timeout = _number(ctx, v, "boot_timeout", "qemu.boot_timeout")
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


def _host(ctx: _Ctx, entry: Any, line: int, index: int, seen: dict[str, int]) -> Host:
    if not isinstance(entry, yamlpos.PosDict):
        raise ctx.err(line, f"hosts[{index}]", f"each host must be a mapping, got {_tname(entry)}")
    _check_keys(ctx, entry, HOST_KEYS, "")
    for req in ("name", "arch"):
        if req not in entry:
            raise ctx.err(entry.line, req, f"missing (host entry {index + 1} needs a {req})")
    name = _string(ctx, entry, "name", "name", pattern=_NAME_RE,
                   what="host name (letters, digits, '.', '_', '-'; up to 64)")
    if name in seen:
        raise ctx.err(entry.line_of("name"), "name",
                      f"duplicate host name {name!r} (first defined on line {seen[name]})")
    seen[name] = entry.line_of("name")
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
    if "build" in entry:
        h.build = _string(ctx, entry, "build", "build")
        if h.build not in ("local", "remote"):
            raise ctx.err(entry.line_of("build"), "build",
                          f"must be local or remote, got {h.build!r}")
    if "libbpf" in entry:
        h.libbpf = _string(ctx, entry, "libbpf", "libbpf")
        if h.libbpf not in ("bundled", "system"):
            raise ctx.err(entry.line_of("libbpf"), "libbpf",
                          f"must be bundled or system, got {h.libbpf!r}")
    if "qemu" in entry:
        h.qemu = _qemu(ctx, entry, arch)
        if h.transport != "ssh":
            raise ctx.err(entry.line_of("transport"), "transport",
                          "a qemu lab host is reached over ssh; drop transport: local")
    if "address" in entry:
        h.address = _string(ctx, entry, "address", "address", pattern=_ADDR_RE,
                            what="host name or IP address")
    elif h.transport == "ssh" and h.qemu is None:
        raise ctx.err(entry.line, "address", f"missing (ssh host {name!r} needs an address)")
    if "port" in entry:
        h.port = _integer(ctx, entry, "port", "port", 1, 65535)
    if "user" in entry:
        h.user = _string(ctx, entry, "user", "user", pattern=_USER_RE, what="user name")
    if "identity_file" in entry and entry["identity_file"] is not None:
        h.identity_file = _identity(ctx, entry)
    if "known_hosts" in entry and entry["known_hosts"] is not None:
        p = ctx.path(_string(ctx, entry, "known_hosts", "known_hosts"))
        if p.exists() and not p.is_file():
            raise ctx.err(entry.line_of("known_hosts"), "known_hosts", f"not a regular file: {p}")
        if not p.exists() and not p.parent.is_dir():
            raise ctx.err(entry.line_of("known_hosts"), "known_hosts",
                          f"no such directory: {p.parent}")
        h.known_hosts = str(p)
    if "python" in entry:
        h.python = _string(ctx, entry, "python", "python",
                           pattern=re.compile(r"^[A-Za-z0-9_./+-]+$"), what="interpreter path")
    if "tags" in entry and entry["tags"] is not None:
        h.tags = _str_list(ctx, entry, "tags", "tags", _TAG_RE)
    if "password_env" in entry and entry["password_env"] is not None:
        h.password_env = _string(ctx, entry, "password_env", "password_env", pattern=_ENV_RE,
                                 what="environment variable name (the secret goes in the "
                                      "environment, not here)")
    if "trust_on_first_use" in entry:
        v = entry["trust_on_first_use"]
        if not isinstance(v, bool):
            raise ctx.err(entry.line_of("trust_on_first_use"), "trust_on_first_use",
                          f"must be true or false, got {_tname(v)}")
        h.trust_on_first_use = v
    if "reset_cmd" in entry and entry["reset_cmd"] is not None:
        if isinstance(entry["reset_cmd"], str):
            raise ctx.err(entry.line_of("reset_cmd"), "reset_cmd",
                          "must be a list (an argv, never a shell string), e.g. [ipmitool, ...]")
        h.reset_cmd = _str_list(ctx, entry, "reset_cmd", "reset_cmd", nonempty=True)
    if "connect_timeout" in entry:
        h.connect_timeout = _number(ctx, entry, "connect_timeout", "connect_timeout")
    if "command_timeout" in entry:
        h.command_timeout = _number(ctx, entry, "command_timeout", "command_timeout")
    return h


def _yaml(text: str, file: str) -> Any:
    try:
        return yamlpos.loads(text, file)
    except InputError as e:
        # e.g. a duplicate key whose name spans lines: keep the error on one line.
        raise InputError(e.file, e.line or 1, _oneline(e.field), _oneline(e.message)) from None
    except yaml.reader.ReaderError as e:
        # Raised while the loader is built (control characters), outside yamlpos' net.
        line = text.count("\n", 0, max(0, e.position)) + 1
        raise InputError(file, line, "yaml", f"unacceptable character #x{e.character:04x} "
                         "(control characters are not allowed)") from None
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
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(str(p), None, "file", "no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(str(p), None, "file", f"cannot read: {e}") from None
    return _parse(_yaml(text, str(p)), _Ctx(str(p), p.resolve().parent))


def _parse(data: Any, ctx: _Ctx) -> list[Host]:
    if data is None:
        raise ctx.err(1, "hosts", "the file is empty; expected a mapping with a 'hosts' list")
    if not isinstance(data, yamlpos.PosDict):
        raise ctx.err(getattr(data, "line", 1), "hosts",
                      f"the top level must be a mapping with a 'hosts' list, got {_tname(data)}")
    for key in data:
        if key not in TOP_KEYS:
            raise ctx.err(data.line_of(key), str(key), "unknown top-level key (allowed: hosts)")
    if "hosts" not in data:
        raise ctx.err(data.line, "hosts", "missing: expected a 'hosts' list")
    entries = data["hosts"]
    if not isinstance(entries, yamlpos.PosList):
        raise ctx.err(data.line_of("hosts"), "hosts", f"must be a list of hosts, got {_tname(entries)}")
    if not entries:
        raise ctx.err(data.line_of("hosts"), "hosts", "the list is empty")
    seen: dict[str, int] = {}
    return [_host(ctx, e, entries.line_of(i), i, seen) for i, e in enumerate(entries)]


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
    extra = f" tags={','.join(h.tags)}" if h.tags else ""
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
