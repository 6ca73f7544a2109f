"""SSH transport on paramiko: one SSHClient (one TCP connection) per host.

Host keys are checked strictly against known_hosts. Unknown keys are refused
unless ``Host.trust_on_first_use``, which appends the key to known_hosts and logs
its fingerprint; a *changed* key is always refused. Commands are argv lists
joined with ``shlex.join``, so the remote login shell sees each item as one
literal word. Secrets (password_env's value) are never logged or put in messages.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import os
import select
import shlex
import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional

import paramiko

from kmatrix.errors import HostKeyError, TransportError
from kmatrix.transport.base import (
    CommandTimeout,
    Completed,
    Stream,
    Tail,
    Transport,
    check_argv,
    split_lines,
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

    def __init__(self, owner: SSHTransport) -> None:
        self.owner = owner

    def missing_host_key(self, client: paramiko.SSHClient, hostname: str, key: paramiko.PKey) -> None:
        o = self.owner
        if any(key == r for r in o._revoked):
            raise HostKeyError(f"{o.host.label}: the host key {fingerprint(key)} offered by "
                               f"{hostname} is marked @revoked in known_hosts")
        known = []
        for hk in (client.get_host_keys(), client._system_host_keys):
            entry = hk.lookup(hostname)
            if entry:
                known.extend(entry[t] for t in entry.keys())
        if known:
            # A key of another type than the one recorded: treat it as a changed key.
            raise HostKeyError(o.mismatch_message(hostname, key, known))
        if not o.host.trust_on_first_use:
            raise HostKeyError(
                f"{o.host.label}: host key for {hostname} is not in {o.known_hosts_path} "
                f"(the server offered {fingerprint(key)} ({key.get_name()})); add it to "
                "known_hosts, or set trust_on_first_use: true to record it on first connect")
        o.record_host_key(hostname, key)


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
        last = time.monotonic()
        while True:
            idle_left = self._idle - (time.monotonic() - last)
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
                last = time.monotonic()
            yield from split_lines(buf)
            if _finished(ch):
                break
            if not self._owner.connected():
                break
        if buf:
            yield buf.decode("utf-8", errors="replace")
            buf.clear()
        self.returncode = self._owner.exit_status(ch, self._argv0, wait=min(self._idle, 30.0))

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
    def __init__(self, host: Host, *, known_hosts_override: Optional[str | Path] = None) -> None:
        super().__init__(host)
        explicit = known_hosts_override or host.known_hosts
        self._explicit_known_hosts = explicit is not None
        self.known_hosts_path = Path(os.path.expanduser(str(explicit or "~/.ssh/known_hosts")))
        self._client: Optional[paramiko.SSHClient] = None
        self._revoked: list[paramiko.PKey] = []  # @revoked keys from known_hosts
        self._sftp: Optional[paramiko.SFTPClient] = None
        self._lock = threading.Lock()
        # Per-packet stall limit for SFTP: generous, but a hung link still ends.
        self.sftp_timeout = min(host.command_timeout, max(60.0, host.connect_timeout * 4))

    # -- host keys -------------------------------------------------------------

    def mismatch_message(self, hostname: str, offered: paramiko.PKey, expected: Any) -> str:
        return (f"{self.host.label}: HOST KEY MISMATCH for {hostname}: {self.known_hosts_path} "
                f"expects {_describe_keys(expected)}, but the server offered "
                f"{fingerprint(offered)} ({offered.get_name()}). Someone may be intercepting "
                "the connection, or the host was reinstalled; if you are sure, remove the old "
                f"entry with: ssh-keygen -R '{hostname}' -f {self.known_hosts_path}")

    def record_host_key(self, hostname: str, key: paramiko.PKey) -> None:
        """Trust on first use: append the key to known_hosts (never rewrite the file)."""
        path = self.known_hosts_path
        line = paramiko.hostkeys.HostKeyEntry([hostname], key).to_line()
        if not line:
            raise HostKeyError(f"{self.host.label}: cannot record a {key.get_name()} host key")
        with _known_hosts_lock:
            try:
                path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
                fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
                with os.fdopen(fd, "a", encoding="ascii") as f:
                    if path.stat().st_size > 0 and not _ends_with_newline(path):
                        f.write("\n")
                    f.write(line)
            except OSError as e:
                raise HostKeyError(f"{self.host.label}: cannot record the host key in {path}: "
                                   f"{e.strerror or e}") from None
        log.warning("%s: trust on first use: recorded %s host key %s for %s in %s",
                    self.host.label, key.get_name(), fingerprint(key), hostname, path)

    def _new_client(self) -> paramiko.SSHClient:
        client = paramiko.SSHClient()
        self._revoked = []
        try:
            if not self._explicit_known_hosts and os.path.isfile(SYSTEM_KNOWN_HOSTS):
                _load_known_hosts(Path(SYSTEM_KNOWN_HOSTS), client._system_host_keys,
                                  self._revoked)
            if self.known_hosts_path.is_file():
                _load_known_hosts(self.known_hosts_path, client.get_host_keys(), self._revoked)
        except (OSError, UnicodeDecodeError) as e:
            raise HostKeyError(f"{self.host.label}: cannot read known_hosts "
                               f"{self.known_hosts_path}: {e}") from None
        if self._revoked:
            _drop_revoked(client, self._revoked)
        client.set_missing_host_key_policy(_Policy(self))
        return client

    # -- connection --------------------------------------------------------------

    def connected(self) -> bool:
        c = self._client
        t = c.get_transport() if c is not None else None
        return bool(t is not None and t.is_active())

    def connect(self) -> None:
        with self._lock:
            if self.connected():
                return
            self._close_locked()
            h = self.host
            password: Optional[str] = None
            if h.password_env:
                password = os.environ.get(h.password_env)
                if password is None:
                    raise TransportError(f"{h.label}: environment variable {h.password_env} "
                                         "(password_env) is not set")
            client = self._new_client()
            ct = h.connect_timeout
            kh_name = known_hosts_name(h.address, h.port)
            try:
                client.connect(
                    hostname=h.address, port=h.port, username=h.user,
                    key_filename=h.identity_file, password=password,
                    allow_agent=bool(os.environ.get("SSH_AUTH_SOCK")),
                    look_for_keys=h.identity_file is None and password is None,
                    timeout=ct, banner_timeout=ct, auth_timeout=ct, channel_timeout=ct,
                )
            except HostKeyError:
                client.close()
                raise
            except paramiko.BadHostKeyException as e:
                client.close()
                raise HostKeyError(self.mismatch_message(kh_name, e.key, [e.expected_key])) from None
            except paramiko.AuthenticationException as e:
                client.close()
                how = ", ".join(x for x in (
                    f"key {h.identity_file}" if h.identity_file else "",
                    "ssh-agent" if os.environ.get("SSH_AUTH_SOCK") else "",
                    f"password from ${h.password_env}" if h.password_env else "",
                ) if x) or "default keys"
                raise TransportError(f"{h.label}: authentication failed ({how}): "
                                     f"{type(e).__name__}") from None
            except (socket.timeout, TimeoutError):
                client.close()
                raise TransportError(f"{h.label}: connection timed out after {ct:g}s") from None
            except socket.gaierror as e:
                client.close()
                raise TransportError(f"{h.label}: cannot resolve {h.address!r}: {e.strerror}") from None
            except (OSError, EOFError, paramiko.SSHException) as e:
                client.close()
                # paramiko's ways to say "the handshake timed out" (which one is a race)
                if str(e) in ("No existing session", "Error reading SSH protocol banner"):
                    raise TransportError(f"{h.label}: no SSH handshake within {ct:g}s (is this "
                                         "an SSH server?)") from None
                raise TransportError(f"{h.label}: cannot connect: {_short(e)}") from None
            except Exception as e:  # noqa: BLE001 - paramiko raises bare Exception in corners
                client.close()
                raise TransportError(f"{h.label}: cannot connect: {_short(e)}") from None
            t = client.get_transport()
            if t is not None:
                t.set_keepalive(15)  # a dead peer then surfaces as a send error
            self._client = client
            log.debug("%s: connected", h.label)

    def _transport(self) -> paramiko.Transport:
        c = self._client
        t = c.get_transport() if c is not None else None
        if t is None or not t.is_active():
            raise TransportError(f"{self.host.label}: not connected (connection lost?)")
        return t

    def _exec(self, argv: list[str], timeout: float) -> paramiko.Channel:
        argv = check_argv(argv)
        t = self._transport()
        self._count()
        cmd = shlex.join(argv)
        log.debug("%s: exec %s", self.host.label, cmd)
        try:
            ch = t.open_session(timeout=timeout)
            ch.settimeout(timeout)
            ch.exec_command(cmd)
        except (OSError, EOFError, paramiko.SSHException) as e:
            raise TransportError(f"{self.host.label}: cannot start {argv[0]}: {_short(e)}") from None
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
        deadline = time.monotonic() + timeout
        ch = self._exec(argv, timeout)
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

    def stream(self, argv: list[str], *, idle_timeout: float) -> SSHStream:
        ch = self._exec(argv, idle_timeout)
        ch.shutdown_write()
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

    def put(self, local: Path, remote: str, mode: int = 0o600) -> None:
        src = open(local, "rb")  # noqa: SIM115 - a local error stays an OSError
        with src:
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
        try:
            return self.run(["true"], timeout=timeout).returncode == 0
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

    def close(self) -> None:
        with self._lock:
            self._close_locked()


def _feed(ch: paramiko.Channel, data: bytes) -> None:
    """Write stdin, then EOF; a command that exits without reading it is fine."""
    try:
        ch.sendall(data)
        ch.shutdown_write()
    except (OSError, EOFError, paramiko.SSHException):
        pass


def _load_known_hosts(path: Path, keys: paramiko.HostKeys, revoked: list[paramiko.PKey]) -> None:
    """Read a known_hosts file the way OpenSSH does: a bad line is skipped, not fatal.

    paramiko's own loader aborts on some malformed lines and does not know markers;
    ``@revoked`` keys are collected, ``@cert-authority`` lines are ignored (paramiko
    cannot verify host certificates).
    """
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
