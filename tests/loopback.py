"""Helpers for end-to-end tests over the loopback sshd (a plain module, not a conftest).

``Loopback`` owns one real sshd (tests/sshd.py) and a hosts.yaml whose entries all
point at it, and runs the real `kmatrix` CLI (`python -m kmatrix.cli`, the same
code `runners/run` execs, minus the apt/venv bootstrap) with a private cache.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Optional, Sequence

from sshd import SshdInfo, start_sshd

ROOT = Path(__file__).resolve().parent.parent


def can_run() -> Optional[str]:
    """None when the loopback end-to-end tests can run here, else why not."""
    if os.geteuid() != 0:
        return "needs root for sshd and BPF"
    if not os.path.exists("/usr/sbin/sshd"):
        return "/usr/sbin/sshd is not installed"
    return None


def write_hosts(path: Path, sshd: SshdInfo, names: Sequence[str] = ("loop",),
                arch: str = "x86_64") -> Path:
    lines = ["hosts:"]
    for n in names:
        lines += [f"  - name: {n}", f"    arch: {arch}", "    address: 127.0.0.1",
                  f"    port: {sshd.port}", f"    user: {sshd.user}",
                  f"    identity_file: {sshd.user_key_path}",
                  f"    known_hosts: {sshd.known_hosts_path}"]
    path.write_text("\n".join(lines) + "\n")
    return path


class Loopback:
    def __init__(self, workdir: Path, names: Sequence[str] = ("loop",)) -> None:
        self.dir = workdir
        self.dir.mkdir(parents=True, exist_ok=True)
        self.sshd = start_sshd(self.dir / "sshd")
        self.hosts = write_hosts(self.dir / "hosts.yaml", self.sshd, names)
        self.cache = self.dir / "cache"
        self.results = self.dir / "results"

    def env(self) -> dict[str, str]:
        return dict(os.environ, KMATRIX_CACHE=str(self.cache), PYTHONPATH=str(ROOT))

    def kmatrix(self, *args: str, timeout: float = 900) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "kmatrix.cli", *args], capture_output=True,
                              text=True, env=self.env(), timeout=timeout, cwd=str(self.dir))

    def run(self, run_id: str, *extra: str) -> subprocess.CompletedProcess[str]:
        """`kmatrix run` on every host of the loopback inventory; results in results/<run_id>."""
        return self.kmatrix("run", "--hosts", str(self.hosts), "--output", str(self.results),
                            "--run-id", run_id, "-q", *extra)

    def run_dir(self, run_id: str) -> Path:
        return self.results / run_id

    def stop(self) -> None:
        self.sshd.stop()


class SshdFleet:
    """``k`` independent real sshd processes on 127.0.0.1, each with its own port, host
    key and user key: k "hosts" for concurrency tests and the scale bench."""

    def __init__(self, workdir: Path, k: int) -> None:
        from concurrent.futures import ThreadPoolExecutor

        self.dir = Path(workdir)
        self.sshds: list[SshdInfo] = []
        # ssh-keygen and the banner wait dominate: start them a few at a time.
        with ThreadPoolExecutor(max_workers=4) as pool:
            futs = [pool.submit(start_sshd, self.dir / f"sshd{i:02d}") for i in range(k)]
            errors = []
            for f in futs:
                try:
                    self.sshds.append(f.result())
                except Exception as e:  # noqa: BLE001 - stop the started ones, then raise
                    errors.append(e)
        if errors:
            self.stop()
            raise RuntimeError(f"{len(errors)} of {k} sshd(s) did not start: {errors[0]}")

    def stop(self) -> None:
        for s in self.sshds:
            s.stop()

    def __enter__(self) -> SshdFleet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def copy_cases(dest: Path, ids: Sequence[str]) -> Path:
    """A catalogue of the named real cases (family/name), copied into `dest`."""
    for cid in ids:
        fam, name = cid.split("/")
        (dest / fam).mkdir(parents=True, exist_ok=True)
        for src in (ROOT / "bpf_cases" / fam).glob(f"{name}.*"):
            shutil.copy(src, dest / fam / src.name)
    return dest
