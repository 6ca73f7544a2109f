"""Which inventory `kmatrix run` uses: --hosts, $KMATRIX_HOSTS, ./hosts.yaml, else the
embedded lab, which is announced in one line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.fast

ROOT = Path(__file__).resolve().parent.parent


def _list(cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    e = {k: v for k, v in os.environ.items() if k != "KMATRIX_HOSTS"}
    e.update(env, PYTHONPATH=str(ROOT))
    return subprocess.run([sys.executable, "-m", "kmatrix", "run", "--list"], cwd=cwd, env=e,
                          capture_output=True, text=True, timeout=120)


def test_kmatrix_hosts_env_is_read(tmp_path: Path) -> None:
    inv = tmp_path / "mine.yaml"
    inv.write_text("hosts:\n  - {name: from-env, arch: x86_64, transport: local}\n")
    p = _list(tmp_path, KMATRIX_HOSTS=str(inv))
    assert p.returncode == 0, p.stderr
    assert "host from-env (x86_64)" in p.stdout
    assert "embedded QEMU lab" not in p.stderr


def test_without_an_inventory_the_lab_is_announced(tmp_path: Path) -> None:
    p = _list(tmp_path)
    assert p.returncode == 0, p.stderr
    [line] = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert line.startswith("kmatrix: no ./hosts.yaml; using the embedded QEMU lab inventory")
    assert "host lab-x86_64-bullseye (x86_64, lab)" in p.stdout


def test_local_hosts_yaml_wins_silently(tmp_path: Path) -> None:
    (tmp_path / "hosts.yaml").write_text("hosts:\n  - {name: here, arch: riscv, transport: local}\n")
    p = _list(tmp_path)
    assert p.returncode == 0 and "host here (riscv64)" in p.stdout and not p.stderr.strip()


def test_repeated_k_selects_the_union(tmp_path: Path) -> None:
    inv = tmp_path / "mine.yaml"
    inv.write_text("hosts:\n  - {name: here, arch: x86_64, transport: local}\n")
    e = dict(os.environ, PYTHONPATH=str(ROOT))
    p = subprocess.run([sys.executable, "-m", "kmatrix", "run", "--hosts", str(inv), "--list",
                        "-k", "dynptr/from_mem", "-k", "isa/*"], cwd=tmp_path, env=e,
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 0, p.stderr
    cases = sorted(ln.split()[1] for ln in p.stdout.splitlines() if ln.startswith("case "))
    assert cases == ["dynptr/from_mem", "isa/atomics", "isa/cpuv4"], cases
