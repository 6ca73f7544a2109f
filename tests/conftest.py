"""Shared fixtures. Helpers live in plain modules (tests/sshd.py, ...) imported here."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

# CI machines are small and shared with QEMU guests: time limits per example
# would make property tests flaky without testing anything about kmatrix.
settings.register_profile("kmatrix", deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("kmatrix")

# Tests run with throwaway cache dirs; the bundled libbpf (a Debian .deb, the same
# bytes for every run) is fetched once per machine into the user's cache instead.
os.environ.setdefault("KMATRIX_LIBBPF_CACHE",
                      str(Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
                          / "kmatrix" / "libbpf"))

TESTS = Path(__file__).resolve().parent
ROOT = TESTS.parent
for p in (str(ROOT), str(TESTS)):
    if p not in sys.path:
        sys.path.insert(0, p)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # Everything that is not a lab or sshd test is part of the fast inner loop.
    for item in items:
        if not any(item.get_closest_marker(m) for m in ("lab", "sshd")):
            item.add_marker(pytest.mark.fast)


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return ROOT


@pytest.fixture(scope="session")
def is_root() -> bool:
    return os.geteuid() == 0
