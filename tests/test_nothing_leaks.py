"""Nothing leaves the controller that a case did not own (issue 22): files shipped
to the target are regular files inside the case's directory, and compiler
diagnostics quote only the case's sources and kmatrix's headers.

Over a real sshd on loopback: a refusal must come before anything connects."""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest
from sshd import SshdInfo, start_sshd
from test_faults import _argv, _by_case, _cases_dir, _hosts, _results

pytestmark = [pytest.mark.sshd,
              pytest.mark.skipif(os.geteuid() != 0, reason="needs root for sshd")]

SECRET = "kmx-secret-line-3f9a\n"

DATA_CASE = '''"""Test-only: reads its data file."""
CASE = {"description": "ships a data file", "build": False, "files": ["data/blob.txt"]}


def run(t):
    import os

    with open(os.path.join(t.case_files(), "data", "blob.txt")) as f:
        t.detail("data", f.read())
'''


@pytest.fixture
def sshd(tmp_path: Path):
    info = start_sshd(tmp_path / "sshd")
    yield info
    info.stop()


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    p = tmp_path / "controller-secret"
    p.write_text(SECRET)
    p.chmod(0o600)
    return p


def _refused(tmp_path: Path, sshd: SshdInfo, cases: Path, case: str, name: str) -> None:
    proc = subprocess.run(_argv(tmp_path, _hosts(tmp_path, sshd), cases),
                          capture_output=True, text=True, timeout=120)
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert len(lines) == 1, proc.stderr
    assert f"case {case}" in lines[0] and name in lines[0], lines[0]
    assert "Traceback" not in proc.stderr and SECRET.strip() not in proc.stderr
    # Refused before anything connects: no session reached sshd, no bundle was made.
    assert "Accepted" not in sshd.log(), sshd.log()
    assert not list((tmp_path / "out").rglob("agent.pyz"))


def test_a_files_entry_linking_out_of_the_case_dir_is_refused(tmp_path: Path, sshd: SshdInfo,
                                                              secret: Path) -> None:
    cases = _cases_dir(tmp_path, {"dynptr/leak.py": DATA_CASE}, real=())
    (cases / "dynptr" / "data").mkdir()
    (cases / "dynptr" / "data" / "blob.txt").symlink_to(secret)
    _refused(tmp_path, sshd, cases, "dynptr/leak", "data/blob.txt")


def test_a_dotdot_through_a_symlinked_dir_is_refused(tmp_path: Path, sshd: SshdInfo,
                                                     secret: Path) -> None:
    # `data` is a symlink to a directory outside: every path part is plain, yet the
    # file resolves elsewhere.
    cases = _cases_dir(tmp_path, {"dynptr/leak.py": DATA_CASE}, real=())
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "blob.txt").symlink_to(secret)
    (cases / "dynptr" / "data").symlink_to(outside)
    _refused(tmp_path, sshd, cases, "dynptr/leak", "data/blob.txt")


def test_a_check_or_source_linking_out_is_refused(tmp_path: Path, sshd: SshdInfo,
                                                  secret: Path) -> None:
    cases = _cases_dir(tmp_path, {}, real=())
    (cases / "dynptr").mkdir(parents=True)
    (cases / "dynptr" / "evil.py").symlink_to(secret)
    _refused(tmp_path, sshd, cases, "dynptr/evil", "evil.py")
    (cases / "dynptr" / "evil.py").unlink()
    (cases / "dynptr" / "evil.py").write_text(
        'CASE = {"description": "x"}\n\ndef run(t):\n    pass\n')
    (cases / "dynptr" / "evil.bpf.c").symlink_to(secret)
    _refused(tmp_path, sshd, cases, "dynptr/evil", "evil.bpf.c")


def test_a_fifo_check_is_refused_not_read(tmp_path: Path, sshd: SshdInfo) -> None:
    cases = _cases_dir(tmp_path, {}, real=())
    (cases / "dynptr").mkdir(parents=True)
    os.mkfifo(cases / "dynptr" / "fifo.py")
    _refused(tmp_path, sshd, cases, "dynptr/fifo", "not a regular file")


def test_a_file_inside_ships_and_the_bundle_is_private(tmp_path: Path, sshd: SshdInfo) -> None:
    cases = _cases_dir(tmp_path, {"dynptr/leak.py": DATA_CASE,
                                  "dynptr/data/real.txt": "inside\n"}, real=())
    # A symlink that stays inside the case's directory is fine.
    (cases / "dynptr" / "data" / "blob.txt").symlink_to("real.txt")
    proc = subprocess.run(_argv(tmp_path, _hosts(tmp_path, sshd), cases),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    case = _by_case(_results(tmp_path))["dynptr/leak"]
    assert case["state"] == "pass" and case["details"]["data"] == "inside\n", case
    (pyz,) = (tmp_path / "out").rglob("agent.pyz")
    assert stat.S_IMODE(pyz.stat().st_mode) & 0o077 == 0, oct(pyz.stat().st_mode)


PLAIN_CHECK = '''"""Test-only: never runs (its object does not compile)."""
CASE = {"description": "does not compile"}


def run(t):
    t.load()
'''


def _compile_leak_run(tmp_path: Path, sshd: SshdInfo, cases: Path) -> dict:
    proc = subprocess.run(_argv(tmp_path, _hosts(tmp_path, sshd), cases),
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    out = tmp_path / "out" / "f"
    for f in [out / "results.json", *out.rglob("junit.xml")]:
        assert "kmx-secret-line" not in f.read_text(), f
    assert "kmx-secret-line" not in proc.stdout + proc.stderr
    return _by_case(_results(tmp_path))


def test_compile_errors_in_an_included_controller_file_are_not_quoted(
        tmp_path: Path, sshd: SshdInfo, secret: Path) -> None:
    src = ("int own_error = ;\n"
           f'#include "{secret}"\n')
    cases = _cases_dir(tmp_path, {"dynptr/inc.py": PLAIN_CHECK, "dynptr/inc.bpf.c": src},
                       real=())
    case = _compile_leak_run(tmp_path, sshd, cases)["dynptr/inc"]
    assert case["state"] == "fail", case
    # The case's own error stays, with its line; the secret's lines are counted, not shown.
    assert "inc.bpf.c:1:" in case["output"] and "expected expression" in case["output"]
    assert "cut]" in case["output"], case["output"]


def test_a_header_symlinked_out_of_the_case_dir_is_not_quoted(
        tmp_path: Path, sshd: SshdInfo, secret: Path) -> None:
    cases = _cases_dir(tmp_path, {"dynptr/hdr.py": PLAIN_CHECK,
                                  "dynptr/hdr.bpf.c": '#include "evil.h"\n'}, real=())
    (cases / "dynptr" / "evil.h").symlink_to(secret)
    case = _compile_leak_run(tmp_path, sshd, cases)["dynptr/hdr"]
    assert case["state"] == "fail" and "cut]" in case["output"], case
