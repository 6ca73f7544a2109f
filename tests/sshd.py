"""A real OpenSSH sshd on 127.0.0.1 for tests (a helper module, not a conftest).

``start_sshd(tmp_path)`` generates an ed25519 host key and a user key, writes an
sshd_config that lets that key log in as the current user (root in CI), starts
``/usr/sbin/sshd -D -e`` on a free port and waits until it answers with an SSH
banner. ``info.stop()`` ends it and every per-connection child it forked.

``listen=`` picks another loopback address (127.0.0.2: a target only a bastion
should reach), ``user=`` another login account (see ``make_user``), ``extra=``
sshd_config lines that win over the defaults (e.g. ``AllowTcpForwarding yes``).
``make_user()`` (root only) creates a throwaway non-root account, optionally with
a sudoers.d rule, and ``remove()`` deletes both.
"""

from __future__ import annotations

import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Optional

SSHD = "/usr/sbin/sshd"
SSH_KEYGEN = "ssh-keygen"


def sshd_available() -> bool:
    return os.path.exists(SSHD) and shutil.which(SSH_KEYGEN) is not None


def free_port(address: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((address, 0))
        return int(s.getsockname()[1])


def _descendants(pid: int) -> list[int]:
    """All live descendants of pid (sshd's per-connection children call setsid)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", "rb") as f:
                stat = f.read().decode(errors="replace")
        except OSError:
            continue
        # ppid is the 2nd field after the ")" that ends the command name.
        rest = stat[stat.rfind(")") + 2:].split()
        if len(rest) > 1:
            children.setdefault(int(rest[1]), []).append(int(entry))
    out: list[int] = []
    todo = [pid]
    while todo:
        p = todo.pop()
        for c in children.get(p, []):
            out.append(c)
            todo.append(c)
    return out


def _keygen(path: Path, comment: str) -> str:
    subprocess.run([SSH_KEYGEN, "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)],
                   check=True, stdin=subprocess.DEVNULL, capture_output=True)
    return Path(str(path) + ".pub").read_text().strip()


@dataclass
class SshdInfo:
    port: int
    host_key_pub: str  # "ssh-ed25519 AAAA... comment"
    known_hosts_path: Path  # holds "[127.0.0.1]:PORT ssh-ed25519 AAAA..."
    user_key_path: Path  # private key, mode 0600
    user: str
    proc: subprocess.Popen[bytes]
    dir: Path
    log_path: Path
    address: str = "127.0.0.1"
    _stopped: bool = field(default=False, repr=False)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def known_hosts_line(self) -> str:
        kt, blob = self.host_key_pub.split()[:2]
        return f"[{self.address}]:{self.port} {kt} {blob}\n"

    def kill_connections(self) -> None:
        """SIGKILL every per-connection sshd and what it runs; the listener stays up."""
        for pid in _descendants(self.proc.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

    def kill_sessions(self) -> None:
        """SIGKILL the per-connection sshd processes only: a dropped network link.

        What the sessions run (e.g. the kmatrix agent) keeps running, orphaned."""
        for pid in _descendants(self.proc.pid):
            try:
                with open(f"/proc/{pid}/comm") as f:
                    comm = f.read().strip()
            except OSError:
                continue
            if comm.startswith("sshd"):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass

    def stop(self) -> None:
        if self._stopped:
            return
        self._stopped = True
        kids = _descendants(self.proc.pid)
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        for pid in kids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def _config(d: Path, port: int, user: str, env: Optional[dict[str, str]] = None,
            listen: str = "127.0.0.1", extra: Optional[list[str]] = None) -> str:
    # sshd keeps the first value it reads for a keyword: `extra` goes first to win.
    return "\n".join([f"SetEnv {k}={v}" for k, v in sorted((env or {}).items())] + list(extra or []) + [
        f"Port {port}",
        f"ListenAddress {listen}",
        f"HostKey {d / 'ssh_host_ed25519_key'}",
        f"PidFile {d / 'sshd.pid'}",
        # sshd reads authorized_keys as the login user: another account (make_user)
        # cannot read our private test directory, so its own ~/.ssh is tried too.
        f"AuthorizedKeysFile {d / 'authorized_keys'} %h/.ssh/authorized_keys",
        f"AllowUsers {user}",
        "StrictModes no",
        "UsePAM no",
        "PermitRootLogin prohibit-password",
        "PubkeyAuthentication yes",
        "PasswordAuthentication no",
        "KbdInteractiveAuthentication no",
        "HostbasedAuthentication no",
        "X11Forwarding no",
        "AllowTcpForwarding no",
        "PrintMotd no",
        "UseDNS no",
        "LogLevel VERBOSE",
        "MaxSessions 32",
        "MaxStartups 50",
        "Subsystem sftp internal-sftp",
        "",
    ])


def start_sshd(tmp_path: Path, *, timeout: float = 20.0, attempts: int = 5,
               env: Optional[dict[str, str]] = None, listen: str = "127.0.0.1",
               user: Optional[str] = None, extra: Optional[list[str]] = None) -> SshdInfo:
    """Start a real sshd for the current user; the caller must call ``stop()``.

    `env` is set in every session (sshd's SetEnv), e.g. a private TMPDIR so a test
    can see exactly which work directories its own runs left behind."""
    if not sshd_available():
        raise RuntimeError(f"{SSHD} or {SSH_KEYGEN} is not installed")
    # sshd refuses to start without its privilege separation directory.
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    d = Path(tmp_path) / "sshd"
    d.mkdir(mode=0o700, parents=True, exist_ok=True)
    user = user or getpass.getuser()
    host_key = d / "ssh_host_ed25519_key"
    if not host_key.exists():
        _keygen(host_key, "kmatrix-test-host")
    host_pub = Path(str(host_key) + ".pub").read_text().strip()
    user_key = d / "id_ed25519"
    if not user_key.exists():
        _keygen(user_key, "kmatrix-test-user")
    os.chmod(user_key, 0o600)
    (d / "authorized_keys").write_text(Path(str(user_key) + ".pub").read_text())

    last_err = ""
    for _ in range(attempts):
        port = free_port(listen)  # racy by nature: retried if someone else grabs it
        cfg = d / "sshd_config"
        cfg.write_text(_config(d, port, user, env, listen, extra))
        log_path = d / f"sshd-{port}.log"
        with open(log_path, "wb") as logf:
            proc = subprocess.Popen([SSHD, "-D", "-e", "-f", str(cfg)], stdin=subprocess.DEVNULL,
                                    stdout=logf, stderr=subprocess.STDOUT,
                                    start_new_session=True)
        kt, blob = host_pub.split()[:2]
        kh = d / "known_hosts"
        kh.write_text(f"[{listen}]:{port} {kt} {blob}\n")
        info = SshdInfo(port=port, host_key_pub=host_pub, known_hosts_path=kh,
                        user_key_path=user_key, user=user, proc=proc, dir=d, log_path=log_path,
                        address=listen)
        err = _wait_banner(info, timeout)
        if err is None:
            return info
        info.stop()
        last_err = err
    raise RuntimeError(f"sshd did not start: {last_err}")


def _wait_banner(info: SshdInfo, timeout: float) -> Optional[str]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if info.proc.poll() is not None:
            return f"sshd exited with {info.proc.returncode}: {info.log()[-2000:]}"
        try:
            with socket.create_connection((info.address, info.port), timeout=2) as s:
                s.settimeout(2)
                if s.recv(64).startswith(b"SSH-2.0-"):
                    return None
        except OSError:
            pass
        time.sleep(0.05)
    return f"no SSH banner on port {info.port} within {timeout:g}s: {info.log()[-2000:]}"


# -- throwaway login accounts (root only) ------------------------------------------------

SUDO = "/usr/bin/sudo"


def can_make_users() -> bool:
    """Root, with useradd and sudo installed: what make_user() needs."""
    return (os.geteuid() == 0 and shutil.which("useradd") is not None
            and shutil.which("userdel") is not None and os.path.exists(SUDO)
            and shutil.which("visudo") is not None)


@dataclass
class LoginUser:
    name: str
    home: Path
    sudoers: Path  # /etc/sudoers.d/kmatrix-test-NAME, present only while a rule is set

    def authorize(self, pub: str) -> None:
        """Let the key ``pub`` log in as this user (its own ~/.ssh/authorized_keys)."""
        ssh = self.home / ".ssh"
        ssh.mkdir(mode=0o700, exist_ok=True)
        (ssh / "authorized_keys").write_text(pub.strip() + "\n")
        pw = _pwnam(self.name)
        for p in (ssh, ssh / "authorized_keys"):
            os.chown(p, pw[0], pw[1])
        os.chmod(ssh / "authorized_keys", 0o600)

    def set_sudo(self, rule: Optional[str]) -> None:
        """Install ``rule`` (a sudoers line) for this user, checked by visudo; None removes it."""
        if rule is None:
            self.sudoers.unlink(missing_ok=True)
            return
        tmp = self.sudoers.with_name("." + self.sudoers.name + ".new")  # sudo skips dotfiles
        tmp.write_text(rule.strip() + "\n")
        os.chmod(tmp, 0o440)
        subprocess.run(["visudo", "-c", "-q", "-f", str(tmp)], check=True, capture_output=True)
        os.replace(tmp, self.sudoers)

    def remove(self) -> None:
        # Stop the sshd that served this user first (SshdInfo.stop ends its sessions).
        self.set_sudo(None)
        subprocess.run(["userdel", "-r", "-f", self.name], capture_output=True)


def _pwnam(name: str) -> tuple[int, int]:
    import pwd

    pw = pwd.getpwnam(name)
    return pw.pw_uid, pw.pw_gid


def make_user(prefix: str = "kmx") -> LoginUser:
    """A fresh non-root account with a home and no password (``*``: not locked, so
    sshd without PAM lets its key in; sudo cannot be given a password either)."""
    import uuid

    name = f"{prefix}{uuid.uuid4().hex[:8]}"
    subprocess.run(["useradd", "-m", "-s", "/bin/sh", "-p", "*", name], check=True,
                   capture_output=True)
    home = Path(os.path.expanduser(f"~{name}"))
    return LoginUser(name=name, home=home, sudoers=Path("/etc/sudoers.d") / f"kmatrix-test-{name}")
