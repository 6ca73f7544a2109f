"""SSH transport on paramiko: one SSHClient (one TCP connection) per host.

Host keys are checked strictly against known_hosts. Unknown keys are refused
unless ``Host.trust_on_first_use``, which appends the key to known_hosts and logs
its fingerprint; a *changed* key is always refused. Commands are argv lists
joined with ``shlex.join``, so the remote login shell sees each item as one
literal word. Secrets (password_env's value) are never logged or put in messages.

Jump hosts (``Host.jump``, a chain): each hop is its own SSHClient, checked against
its own known_hosts, and the next one is reached through a ``direct-tcpip`` channel
of the previous, every step bounded by that hop's connect_timeout. With
``become: sudo`` every command runs as ``sudo -n -- ARGV...``; connect() checks once
that sudo works without a password, and that a non-root login without ``become``
can load BPF at all, so either problem is one host-level ``PrivilegeError``.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import posixpath
import select
import shlex
import shutil
import socket
import stat
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import paramiko

from kmatrix.errors import HostKeyError, TransportError
from kmatrix.transport.base import (
    CommandTimeout,
    Completed,
    LineSplitter,
    PrivilegeError,
    Stream,
    Tail,
    Transport,
    check_argv,
)

if TYPE_CHECKING:
    from kmatrix.inventory import Host

log = logging.getLogger("kmatrix.transport.ssh")
# paramiko logs handshake failures with tracebacks at ERROR; without any handler
# configured, logging's last-resort handler would print them under our one-line
# errors. A NullHandler keeps them out unless the application configures logging.
logging.getLogger("paramiko").addHandler(logging.NullHandler())

SYSTEM_KNOWN_HOSTS = "/etc/ssh/ssh_known_hosts"
_POLL = 0.5  # seconds between liveness checks while waiting for output
_CHUNK = 65536
_known_hosts_lock = threading.Lock()  # TOFU appends from several host threads
SUDO = ["sudo", "-n", "--"]  # -n: fail at once instead of prompting for a password
# Either one lets a non-root user load and attach the programs the cases use.
_CAP_SYS_ADMIN, _CAP_BPF = 21, 39
# Hands the preflight's work directory (made by root under sudo) to the login user,
# so SFTP, which runs as that user, can write into it; it stays 0700. $1 is the
# directory; sudo sets SUDO_UID/SUDO_GID to the user that called it.
_HAND_OVER = ('[ -d "$1" ] && [ ! -L "$1" ] && chown -- "$SUDO_UID:$SUDO_GID" "$1" '
              '&& chmod 0700 -- "$1"')


def fingerprint(key: paramiko.PKey) -> str:
    """OpenSSH-style ``SHA256:...`` fingerprint of a public key."""
    digest = hashlib.sha256(key.asbytes()).digest()
    return "SHA256:" + base64.b64encode(digest).decode("ascii").rstrip("=")


def _describe_keys(keys: Any) -> str:
    return ", ".join(f"{fingerprint(k)} ({k.get_name()})" for k in keys) or "none"


def known_hosts_name(address: str, port: int) -> str:
    """The name a host is stored under in known_hosts (``[addr]:port`` unless port 22)."""
    return address if port == 22 else f"[{address}]:{port}"


class _Policy(paramiko.MissingHostKeyPolicy):
    """Called by paramiko when known_hosts has no key for this host (of the offered type)."""

    def __init__(self, ep: _Endpoint) -> None:
        self.ep = ep

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        ep = self.ep
        if any(key == r for r in ep.revoked):
            raise HostKeyError(f"{ep.label}: the host key {fingerprint(key)} offered by "
                               f"{hostname} is marked @revoked in known_hosts")
        known = []
        for hk in (client.get_host_keys(), client._system_host_keys):
            entry = hk.lookup(hostname)
            if entry:
                known.extend(entry[t] for t in entry.keys())
        if known:
            # A key of another type than the one recorded: treat it as a changed key.
            raise HostKeyError(ep.mismatch_message(hostname, key, known))
        if not ep.trust_on_first_use:
            raise HostKeyError(
                f"{ep.label}: host key for {hostname} is not in {ep.known_hosts_path} "
                f"(the server offered {fingerprint(key)} ({key.get_name()})); add it to "
                "known_hosts, or set trust_on_first_use: true to record it on first connect")
        ep.record_host_key(hostname, key)


@dataclass
class _Endpoint:
    """One SSH server on the way in: a jump host, or the target itself (always last)."""

    label: str  # for messages; a hop's says which host it leads to
    name: str
    address: str
    port: int
    user: str
    identity_file: Optional[str]
    password_env: Optional[str]
    trust_on_first_use: bool
    connect_timeout: float
    known_hosts_path: Path
    explicit_known_hosts: bool  # an explicit file replaces /etc/ssh/ssh_known_hosts
    revoked: list[paramiko.PKey] = field(default_factory=list)  # @revoked keys

    @classmethod
    def make(cls, label: str, h: Any, known_hosts: Optional[str | Path] = None) -> _Endpoint:
        explicit = known_hosts or h.known_hosts
        return cls(label=label, name=h.name, address=h.address, port=h.port, user=h.user,
                   identity_file=h.identity_file, password_env=h.password_env,
                   trust_on_first_use=h.trust_on_first_use, connect_timeout=h.connect_timeout,
                   known_hosts_path=Path(os.path.expanduser(str(explicit or "~/.ssh/known_hosts"))),
                   explicit_known_hosts=explicit is not None)

    def mismatch_message(self, hostname: str, offered: paramiko.PKey, expected: Any) -> str:
        return (f"{self.label}: HOST KEY MISMATCH for {hostname}: {self.known_hosts_path} "
                f"expects {_describe_keys(expected)}, but the server offered "
                f"{fingerprint(offered)} ({offered.get_name()}). Someone may be intercepting "
                "the connection, or the host was reinstalled; if you are sure, remove the old "
                f"entry with: ssh-keygen -R '{hostname}' -f {self.known_hosts_path}")

    def record_host_key(self, hostname: str, key: paramiko.PKey) -> None:
        """Trust on first use: append the key to known_hosts (never rewrite the file)."""
        path = self.known_hosts_path
        line = paramiko.hostkeys.HostKeyEntry([hostname], key).to_line()
        if not line:
            raise HostKeyError(f"{self.label}: cannot record a {key.get_name()} host key")
        with _known_hosts_lock:
            try:
                path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                with os.fdopen(fd, "a", encoding="ascii") as f:
                    if path.stat().st_size > 0 and not _ends_with_newline(path):
                        f.write("\n")
                    f.write(line)
            except OSError as e:
                raise HostKeyError(f"{self.label}: cannot record the host key in {path}: "
                                   f"{e.strerror or e}") from None
        log.warning("%s: trust on first use: recorded %s host key %s for %s in %s",
                    self.label, key.get_name(), fingerprint(key), hostname, path)

    def new_client(self) -> paramiko.SSHClient:
        client = paramiko.SSHClient()
        self.revoked = []
        try:
            if not self.explicit_known_hosts and os.path.isfile(SYSTEM_KNOWN_HOSTS):
                _load_known_hosts(Path(SYSTEM_KNOWN_HOSTS), client._system_host_keys,
                                  self.revoked)
            if self.known_hosts_path.is_file():
                _load_known_hosts(self.known_hosts_path, client.get_host_keys(), self.revoked)
        except (OSError, UnicodeDecodeError) as e:
            raise HostKeyError(f"{self.label}: cannot read known_hosts "
                               f"{self.known_hosts_path}: {e}") from None
        if self.revoked:
            _drop_revoked(client, self.revoked)
        client.set_missing_host_key_policy(_Policy(self))
        return client


class SSHStream(Stream):
    def __init__(self, owner: SSHTransport, chan: paramiko.Channel, argv0: str,
                 idle_timeout: float) -> None:
        super().__init__()
        self._owner = owner
        self._chan = chan
        self._argv0 = argv0
        self._idle = idle_timeout
        self._closed = False

    def lines(self) -> Iterator[str]:
        ch = self._chan
        buf = bytearray()
        splitter = LineSplitter()
        self.touch()
        while True:
            idle_left = self._idle - (time.monotonic() - self._last)
            if idle_left <= 0:
                self.close()
                raise CommandTimeout(
                    f"{self._owner.host.label}: {self._argv0} printed nothing for "
                    f"{self._idle:g}s")
            try:
                select.select([ch], [], [], min(idle_left, _POLL))
            except (OSError, ValueError):
                pass  # the channel's pipe went away: the checks below tell why
            got = _drain(ch, buf, self._stderr)
            if got:
                self.touch()
            yield from splitter.split(buf)
            if _finished(ch):
                break
            if not self._owner.connected():
                break
        yield from splitter.rest(buf)
        self.returncode = self._owner.exit_status(ch, self._argv0, wait=min(self._idle, 30.0))

    def send(self, data: bytes) -> None:
        try:
            self._chan.sendall(data)
        except (OSError, EOFError, paramiko.SSHException) as e:
            raise TransportError(f"{self._owner.host.label}: writing to {self._argv0} failed: "
                                 f"{_short(e)}") from None
        self.touch()

    def end_input(self) -> None:
        try:
            self._chan.shutdown_write()
        except (OSError, EOFError, paramiko.SSHException):
            pass  # the command already went away: lines() says how it ended

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            try:
                self._chan.close()
            except Exception:  # noqa: BLE001 - closing a dead channel must not mask the real error
                pass


def _drain(ch: paramiko.Channel, out: bytearray, err: Tail) -> bool:
    """Move whatever is buffered on the channel into out/err; True if anything came."""
    got = False
    while ch.recv_ready():
        data = ch.recv(_CHUNK)
        if not data:
            break
        out += data
        got = True
    while ch.recv_stderr_ready():
        data = ch.recv_stderr(_CHUNK)
        if not data:
            break
        err.add(data)
        got = True
    return got


def _finished(ch: paramiko.Channel) -> bool:
    return (ch.eof_received or ch.closed) and not ch.recv_ready() and not ch.recv_stderr_ready()


class SSHTransport(Transport):
    def __init__(self, host: Host, *, known_hosts_override: Optional[str | Path] = None,
                 check_privileges: bool = True) -> None:
        super().__init__(host)
        self._target = _Endpoint.make(host.label, host, known_hosts_override)
        self.known_hosts_path = self._target.known_hosts_path
        self._explicit_known_hosts = self._target.explicit_known_hosts
        self._client: Optional[paramiko.SSHClient] = None
        self._hops: list[paramiko.SSHClient] = []  # jump hosts' clients, outermost first
        self._sftp: Optional[paramiko.SFTPClient] = None
        self._lock = threading.Lock()
        # False: connect() skips the root/sudo checks (e.g. to use the transport for
        # something other than loading BPF); `become` still wraps every command.
        self.check_privileges = check_privileges
        self._handed: set[str] = set()  # work directories already handed to the login user
        # Per-packet stall limit for SFTP: generous, but a hung link still ends.
        self.sftp_timeout = min(host.command_timeout, max(60.0, host.connect_timeout * 4))

    # -- host keys -------------------------------------------------------------

    @property
    def _revoked(self) -> list[paramiko.PKey]:
        return self._target.revoked

    def mismatch_message(self, hostname: str, offered: paramiko.PKey, expected: Any) -> str:
        return self._target.mismatch_message(hostname, offered, expected)

    def record_host_key(self, hostname: str, key: paramiko.PKey) -> None:
        self._target.record_host_key(hostname, key)

    def _endpoints(self) -> list[_Endpoint]:
        """Every SSH server to log in to, in order: the jump hosts, then the target."""
        h = self.host
        jump = getattr(h, "jump", None)
        hops = jump.chain() if jump is not None else []
        return [_Endpoint.make(f"{h.label}: jump host {hop.label}", hop) for hop in hops] \
            + [self._target]

    # -- connection --------------------------------------------------------------

    def connected(self) -> bool:
        for c in [*self._hops, self._client]:
            t = c.get_transport() if c is not None else None
            if t is None or not t.is_active():
                return False
        return True

    def connect(self) -> None:
        with self._lock:
            if self.connected():
                return
            self._close_locked()
            eps = self._endpoints()
            clients: list[paramiko.SSHClient] = []
            try:
                for i, ep in enumerate(eps):
                    sock = _tunnel(clients[-1], eps[i - 1], ep) if clients else None
                    clients.append(_login(ep, sock))
            except BaseException:
                for c in reversed(clients):
                    c.close()
                raise
            self._hops, self._client = clients[:-1], clients[-1]
            log.debug("%s: connected", self.host.label)
            try:
                self._settle_privileges()
            except BaseException:
                self._close_locked()
                raise

    # -- privileges ----------------------------------------------------------------

    def _settle_privileges(self) -> None:
        """Decide how commands become root, and check once that they can.

        A root login needs nothing (``become`` is then moot). ``become: sudo`` must
        work without a password; a non-root login without it must hold CAP_BPF.
        Either check is one exec bounded by the connect timeout.
        """
        h = self.host
        user = self.login_user
        self.become = "sudo" if getattr(h, "become", None) == "sudo" and user != "root" else ""
        if not self.check_privileges or user == "root":
            return
        if self.become:
            self._check_sudo()
        else:
            self._check_bpf_capable()

    def _check_sudo(self) -> None:
        h, user, ct = self.host, self.login_user, self.host.connect_timeout
        fix = (f"user {user} needs passwordless sudo for kmatrix: add `{user} ALL=(root) "
               "NOPASSWD: ALL` (or a narrower rule) to /etc/sudoers.d/kmatrix on the target "
               "(visudo -f /etc/sudoers.d/kmatrix)")
        try:
            res = self._run([*SUDO, "id", "-u"], timeout=ct, elevate=False)
        except CommandTimeout:
            raise PrivilegeError(f"{h.label}: become: sudo, but `sudo -n` did not answer "
                                 f"within {ct:g}s") from None
        out = res.stdout.decode(errors="replace").strip()
        if res.returncode == 0 and out == "0":
            return
        err = _tail_line(res.stderr)
        low = err.lower()
        if res.returncode == 127 or ("sudo" in low and "not found" in low):
            msg = ("sudo is not installed on the target; install it, or log in as root "
                   "(user: root) and drop become")
        elif "password is required" in low or "terminal is required" in low or "askpass" in low:
            msg = f"sudo asks {user} for a password, and kmatrix never types one; {fix}"
        elif "tty" in low:
            msg = (f"sudoers requires a tty for {user} (Defaults requiretty); add "
                   f"`Defaults:{user} !requiretty` to /etc/sudoers.d/kmatrix")
        elif res.returncode == 0:
            msg = f"`sudo -n -- id -u` ran as uid {out or '?'}, not root; check Runas in sudoers"
        else:
            msg = f"`sudo -n -- id -u` failed (exit {res.returncode}): {err or 'no output'}; {fix}"
        raise PrivilegeError(f"{h.label}: become: sudo: {msg}")

    def _check_bpf_capable(self) -> None:
        """A non-root login without become: refuse at once unless it holds CAP_BPF."""
        h, user = self.host, self.login_user
        try:
            res = self._run(["cat", "/proc/self/status"], timeout=h.connect_timeout,
                            elevate=False)
        except CommandTimeout:
            return  # the preflight will say what is wrong with this target
        uid, caps = _uid_and_caps(res.stdout.decode(errors="replace"))
        if res.returncode != 0 or uid is None or uid == 0:
            return
        if caps & ((1 << _CAP_SYS_ADMIN) | (1 << _CAP_BPF)):
            return
        raise PrivilegeError(
            f"{h.label}: user {user} (uid {uid}) is not root and lacks CAP_BPF, so it cannot "
            "load BPF programs; set `become: sudo` for this host in hosts.yaml and give "
            f"{user} passwordless sudo (`{user} ALL=(root) NOPASSWD: ALL` in "
            "/etc/sudoers.d/kmatrix), or log in as root (user: root)")

    def _transport(self) -> paramiko.Transport:
        c = self._client
        t = c.get_transport() if c is not None else None
        if t is None or not t.is_active():
            raise TransportError(f"{self.host.label}: not connected (connection lost?)")
        return t

    def _exec(self, argv: list[str], timeout: float, *, elevate: bool = True) -> paramiko.Channel:
        argv = check_argv(argv)
        name = argv[0]
        if elevate and self.become == "sudo":
            argv = [*SUDO, *argv]  # still one quoted word per item: sudo gets an argv too
        t = self._transport()
        self._count()
        cmd = shlex.join(argv)
        log.debug("%s: exec %s", self.host.label, cmd)
        try:
            ch = t.open_session(timeout=timeout)
            ch.settimeout(timeout)
            ch.exec_command(cmd)
        except (OSError, EOFError, paramiko.SSHException) as e:
            raise TransportError(f"{self.host.label}: cannot start {name}: {_short(e)}") from None
        return ch

    def exit_status(self, ch: paramiko.Channel, argv0: str, wait: float) -> int:
        """The exit status once output ended; TransportError if the link died first."""
        ch.status_event.wait(wait)
        if ch.exit_status == -1 and not ch.status_event.is_set():
            ch.close()
            raise CommandTimeout(f"{self.host.label}: {argv0} closed its output but did not "
                                 f"exit within {wait:g}s")
        if ch.exit_status == -1 and not self.connected():
            raise TransportError(f"{self.host.label}: connection lost while {argv0} was running")
        # -1 with a live connection: killed by a signal (paramiko ignores exit-signal).
        return ch.exit_status

    # -- commands ----------------------------------------------------------------

    def run(self, argv: list[str], *, timeout: float, stdin: Optional[bytes] = None) -> Completed:
        return self._run(argv, timeout=timeout, stdin=stdin)

    def _run(self, argv: list[str], *, timeout: float, stdin: Optional[bytes] = None,
             elevate: bool = True) -> Completed:
        deadline = time.monotonic() + timeout
        ch = self._exec(argv, timeout, elevate=elevate)
        out = bytearray()
        err = Tail()
        writer: Optional[threading.Thread] = None
        try:
            if stdin is None:
                ch.shutdown_write()  # EOF at once, so a command reading stdin cannot hang
            else:
                writer = threading.Thread(target=_feed, args=(ch, stdin), daemon=True)
                writer.start()
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise CommandTimeout(f"{self.host.label}: {argv[0]} did not finish "
                                         f"within {timeout:g}s")
                try:
                    select.select([ch], [], [], min(left, _POLL))
                except (OSError, ValueError):
                    pass
                _drain(ch, out, err)
                if _finished(ch):
                    break
                if not self.connected():
                    break
            rc = self.exit_status(ch, argv[0], wait=max(0.1, deadline - time.monotonic()))
            return Completed(rc, bytes(out), err.value())
        finally:
            ch.close()
            if writer is not None:
                writer.join(1.0)

    def stream(self, argv: list[str], *, idle_timeout: float, stdin: bool = False) -> SSHStream:
        ch = self._exec(argv, idle_timeout)
        if not stdin:
            ch.shutdown_write()  # EOF at once, so a command reading stdin cannot hang
        return SSHStream(self, ch, argv[0], idle_timeout)

    # -- files -------------------------------------------------------------------

    def _sftp_client(self) -> paramiko.SFTPClient:
        with self._lock:
            if self._sftp is not None and not self._sftp.get_channel().closed:
                return self._sftp
            t = self._transport()
            try:
                sftp = paramiko.SFTPClient.from_transport(t, window_size=None)
            except (OSError, EOFError, paramiko.SSHException) as e:
                raise TransportError(f"{self.host.label}: cannot start SFTP: {_short(e)}") from None
            if sftp is None:
                raise TransportError(f"{self.host.label}: cannot start SFTP")
            sftp.get_channel().settimeout(self.sftp_timeout)
            self._sftp = sftp
            return sftp

    def _hand_over(self, remote: str) -> None:
        """With become, the preflight (root) made the work directory: hand it to the
        login user once, so SFTP (which runs as that user) can write into it.

        It stays 0700, now owned by the login user; the agent, as root, reads it all
        the same. Only a ``kmatrix.*`` directory is ever handed over.
        """
        parent = posixpath.dirname(remote)
        if (self.become != "sudo" or parent in self._handed or ".." in parent.split("/")
                or not posixpath.basename(parent).startswith("kmatrix.")):
            return
        res = self._run(["sh", "-c", _HAND_OVER, "sh", parent], timeout=self.sftp_timeout)
        if res.returncode != 0:
            raise TransportError(f"{self.host.label}: cannot hand the work directory {parent} "
                                 f"to {self.login_user}: {_tail_line(res.stderr) or 'not a directory'}")
        self._handed.add(parent)

    def put(self, local: Path, remote: str, mode: int = 0o600) -> None:
        src = open(local, "rb")  # noqa: SIM115 - a local error stays an OSError
        with src:
            self._hand_over(remote)
            sftp = self._sftp_client()
            self._count()
            try:
                with sftp.open(remote, "wb") as dst:
                    dst.chmod(mode)  # before any byte lands, so it is never readable by others
                    dst.set_pipelined(True)
                    shutil.copyfileobj(src, dst, 32768)
            except (OSError, EOFError, paramiko.SSHException) as e:
                self._drop_sftp()
                raise TransportError(f"{self.host.label}: cannot upload to {remote}: "
                                     f"{_short(e)}") from None

    def get(self, remote: str, local: Path) -> None:
        if self.become == "sudo":
            self._get_as_root(remote, Path(local))
            return
        sftp = self._sftp_client()
        self._count()
        local = Path(local)
        tmp = local.with_name(local.name + ".part")
        try:
            sftp.get(remote, str(tmp))
            os.replace(tmp, local)
        except FileNotFoundError:
            tmp.unlink(missing_ok=True)
            raise FileNotFoundError(f"{self.host.label}: no such remote file: {remote}") from None
        except (OSError, EOFError, paramiko.SSHException) as e:
            tmp.unlink(missing_ok=True)
            self._drop_sftp()
            raise TransportError(f"{self.host.label}: cannot download {remote}: "
                                 f"{_short(e)}") from None

    def _get_as_root(self, remote: str, local: Path) -> None:
        """With become, files the agent wrote are root's: read them through sudo."""
        res = self._run(["cat", "--", remote], timeout=self.host.command_timeout)
        if res.returncode != 0:
            err = _tail_line(res.stderr)
            if "no such file" in err.lower():
                raise FileNotFoundError(f"{self.host.label}: no such remote file: {remote}")
            raise TransportError(f"{self.host.label}: cannot download {remote}: "
                                 f"{err or f'exit {res.returncode}'}")
        tmp = local.with_name(local.name + ".part")
        tmp.write_bytes(res.stdout)
        os.replace(tmp, local)

    def _drop_sftp(self) -> None:
        with self._lock:
            if self._sftp is not None:
                try:
                    self._sftp.close()
                except Exception:  # noqa: BLE001
                    pass
                self._sftp = None

    # -- lifecycle -----------------------------------------------------------------

    def alive(self, timeout: float = 5.0) -> bool:
        if not self.connected():
            return False
        try:  # the login user's own `true`: answering needs no sudo
            return self._run(["true"], timeout=timeout, elevate=False).returncode == 0
        except TransportError:
            return False

    def _close_locked(self) -> None:
        if self._sftp is not None:
            try:
                self._sftp.close()
            except Exception:  # noqa: BLE001
                pass
            self._sftp = None
        if self._client is not None:
            self._client.close()
            self._client = None
        for hop in reversed(self._hops):  # innermost first: each carries the next one
            hop.close()
        self._hops = []

    def close(self) -> None:
        with self._lock:
            self._close_locked()


def _tunnel(prev: paramiko.SSHClient, prev_ep: _Endpoint, ep: _Endpoint) -> paramiko.Channel:
    """A direct-tcpip channel from the jump host ``prev`` to ``ep`` (the hop resolves
    ep's name, as ssh -J does), opened within ep's connect timeout."""
    t = prev.get_transport()
    ct = ep.connect_timeout
    where = f"{ep.address}:{ep.port}"
    if t is None or not t.is_active():
        raise TransportError(f"{ep.label}: jump host {prev_ep.name} dropped the connection")
    try:
        chan = t.open_channel("direct-tcpip", (ep.address, ep.port), ("127.0.0.1", 0),
                              timeout=ct)
    except paramiko.ChannelException as e:
        hint = (" (is AllowTcpForwarding on there, and PermitOpen not in the way?)"
                if e.code == paramiko.common.OPEN_FAILED_ADMINISTRATIVELY_PROHIBITED else "")
        raise TransportError(f"{ep.label}: jump host {prev_ep.name} could not connect to "
                             f"{where}: {e.text or f'open failed ({e.code})'}{hint}") from None
    except (OSError, EOFError, paramiko.SSHException) as e:
        if "Timeout" in str(e):
            raise TransportError(f"{ep.label}: jump host {prev_ep.name} did not reach {where} "
                                 f"within {ct:g}s") from None
        raise TransportError(f"{ep.label}: jump host {prev_ep.name} could not connect to "
                             f"{where}: {_short(e)}") from None
    chan.settimeout(ct)  # the handshake over it is bounded like a socket's
    return chan


def _key_problem(identity_file: Optional[str], password: Optional[str],
                 password_env: Optional[str]) -> str:
    """Why the identity file itself cannot be used (encrypted without a passphrase, or
    a passphrase that does not decrypt it), or "". paramiko reports either as a failed
    login (BadAuthenticationType when the server takes no passwords)."""
    if not identity_file:
        return ""
    try:
        paramiko.PKey.from_path(identity_file, password.encode() if password else None)
    except (paramiko.PasswordRequiredException, TypeError):  # TypeError: cryptography's word
        return (f"the key {identity_file} is encrypted and no passphrase was given: set "
                "password_env to the name of a variable holding it")
    except (paramiko.SSHException, ValueError) as e:
        if password is not None:
            return (f"the passphrase from ${password_env} does not decrypt the key "
                    f"{identity_file} (password_env serves as the key's passphrase and as "
                    f"the login password): {_short(e)}")
    except OSError:
        return ""
    return ""


def _login(ep: _Endpoint, sock: Optional[paramiko.Channel]) -> paramiko.SSHClient:
    """Log in to one endpoint (over ``sock`` when a jump host carries it)."""
    password: Optional[str] = None
    if ep.password_env:
        password = os.environ.get(ep.password_env)
        if password is None:
            raise TransportError(f"{ep.label}: environment variable {ep.password_env} "
                                 "(password_env) is not set")
    if ep.identity_file:
        problem = _too_big(os.path.expanduser(ep.identity_file), MAX_KEY_FILE, "identity_file")
        if problem:  # paramiko would read it whole
            raise TransportError(f"{ep.label}: {problem}")
    client = ep.new_client()
    ct = ep.connect_timeout
    kh_name = known_hosts_name(ep.address, ep.port)
    try:
        client.connect(
            hostname=ep.address, port=ep.port, username=ep.user,
            key_filename=ep.identity_file, password=password,
            allow_agent=bool(os.environ.get("SSH_AUTH_SOCK")),
            look_for_keys=ep.identity_file is None and password is None,
            timeout=ct, banner_timeout=ct, auth_timeout=ct, channel_timeout=ct, sock=sock,
        )
    except HostKeyError:
        client.close()
        raise
    except paramiko.BadHostKeyException as e:
        client.close()
        raise HostKeyError(ep.mismatch_message(kh_name, e.key, [e.expected_key])) from None
    except paramiko.AuthenticationException as e:
        client.close()
        bad_key = _key_problem(ep.identity_file, password, ep.password_env)
        if bad_key:
            raise TransportError(f"{ep.label}: {bad_key}") from None
        how = ", ".join(x for x in (
            f"key {ep.identity_file}" if ep.identity_file else "",
            "ssh-agent" if os.environ.get("SSH_AUTH_SOCK") else "",
            f"password from ${ep.password_env}" if ep.password_env else "",
        ) if x) or "default keys"
        raise TransportError(f"{ep.label}: authentication failed ({how}): "
                             f"{type(e).__name__}") from None
    except (socket.timeout, TimeoutError):
        client.close()
        raise TransportError(f"{ep.label}: connection timed out after {ct:g}s") from None
    except socket.gaierror as e:
        client.close()
        raise TransportError(f"{ep.label}: cannot resolve {ep.address!r}: {e.strerror}") from None
    except (OSError, EOFError, paramiko.SSHException) as e:
        client.close()
        # paramiko's ways to say "the handshake timed out" (which one is a race)
        if str(e) in ("No existing session", "Error reading SSH protocol banner"):
            raise TransportError(f"{ep.label}: no SSH handshake within {ct:g}s (is this "
                                 "an SSH server?)") from None
        raise TransportError(f"{ep.label}: cannot connect: {_short(e)}") from None
    except Exception as e:  # noqa: BLE001 - paramiko raises bare Exception in corners
        client.close()
        raise TransportError(f"{ep.label}: cannot connect: {_short(e)}") from None
    t = client.get_transport()
    if t is not None:
        t.set_keepalive(15)  # a dead peer (or hop) then surfaces as a send error
    return client


def _uid_and_caps(status: str) -> tuple[Optional[int], int]:
    """(effective uid, effective capability mask) from a /proc/PID/status text."""
    uid: Optional[int] = None
    caps = 0
    for line in status.splitlines():
        key, _, value = line.partition(":")
        fields = value.split()
        try:
            if key == "Uid" and len(fields) > 1:
                uid = int(fields[1])
            elif key == "CapEff" and fields:
                caps = int(fields[0], 16)
        except ValueError:
            pass
    return uid, caps


def _tail_line(data: bytes) -> str:
    """The last non-empty stderr line, printable, for a one-line message."""
    lines = [x.strip() for x in data.decode(errors="replace").splitlines() if x.strip()]
    text = lines[-1] if lines else ""
    return "".join(c if c.isprintable() else "?" for c in text)[:300]


def _feed(ch: paramiko.Channel, data: bytes) -> None:
    """Write stdin, then EOF; a command that exits without reading it is fine."""
    try:
        ch.sendall(data)
        ch.shutdown_write()
    except (OSError, EOFError, paramiko.SSHException):
        pass


MAX_KNOWN_HOSTS = 16 << 20  # ~100k entries
MAX_KEY_FILE = 1 << 20  # a private key is a few KB (a 16384-bit RSA PEM is ~12 KB)


def _too_big(path: str | Path, limit: int, what: str) -> str:
    """Why `path` must not be read whole (over `limit`, or not a regular file), or ""
    (also "" when it cannot be stat'ed: the reader then says why)."""
    try:
        st = os.stat(path)
    except OSError:
        return ""
    if not stat.S_ISREG(st.st_mode):
        return f"{what} {path} is not a regular file"
    if st.st_size > limit:
        return f"{what} {path} is {st.st_size} bytes, over the {limit >> 20} MiB bound"
    return ""


def _load_known_hosts(path: Path, keys: paramiko.HostKeys, revoked: list[paramiko.PKey]) -> None:
    """Read a known_hosts file the way OpenSSH does: a bad line is skipped, not fatal.

    paramiko's own loader aborts on some malformed lines and does not know markers;
    ``@revoked`` keys are collected, ``@cert-authority`` lines are ignored (paramiko
    cannot verify host certificates).
    """
    problem = _too_big(path, MAX_KNOWN_HOSTS, "known_hosts")
    if problem:
        raise OSError(problem)
    with open(path, encoding="utf-8") as f:
        for lineno, raw in enumerate(f, 1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            marker = ""
            if line.startswith("@"):
                marker, _, line = line.partition(" ")
                line = line.strip()
                if marker != "@revoked":
                    continue
            try:
                entry = paramiko.hostkeys.HostKeyEntry.from_line(line, lineno)
            except Exception:  # noqa: BLE001 - InvalidHostKey, binascii errors, ...
                entry = None
            if entry is None or entry.key is None:
                log.debug("%s:%d: skipping an unreadable known_hosts line", path, lineno)
                continue
            if marker == "@revoked":
                revoked.append(entry.key)
                continue
            for name in entry.hostnames:
                keys.add(name, entry.key.get_name(), entry.key)


def _drop_revoked(client: paramiko.SSHClient, revoked: list[paramiko.PKey]) -> None:
    """Forget known keys that are also revoked, so they reach the policy and are refused."""
    for hk in (client.get_host_keys(), client._system_host_keys):
        hk._entries = [e for e in hk._entries if not any(e.key == r for r in revoked)]


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"


def _short(e: BaseException) -> str:
    s = str(e).strip().splitlines()
    return f"{type(e).__name__}: {s[0]}" if s else type(e).__name__
