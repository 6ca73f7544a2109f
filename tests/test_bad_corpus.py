"""The malformed-input corpus under tests/data/bad/: case metadata and command lines.

(hosts.yaml and suite files have their own corpus tests in test_inventory.py and
test_suite.py.) Each case file names its expected line and field in its first
line, `# expect: LINE FIELD` ("-" for no line); each .args file holds the argv
on line 1 and a string the one-line error must contain on line 2; `{CLI}` in
either stands for tests/data/bad/cli/ (e.g. its unreachable_hosts.yaml, a good
inventory whose host refuses connections, so a regressed check fails fast).
Command lines run under a memory and time bound, as in test_hostile_input.py.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from kmatrix.catalog import read_case
from kmatrix.errors import InputError

BAD = Path(__file__).resolve().parent / "data" / "bad"
ROOT = BAD.parents[2]
CASES = sorted((BAD / "cases").glob("*.py"))
CLI = sorted((BAD / "cli").glob("*.args"))
MEMORY_LIMIT = 1536 << 20  # address space: an alias bomb or /dev/zero would need far more


def _bounded() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def test_corpus_is_large_enough() -> None:
    n = sum(1 for p in BAD.rglob("*") if p.is_file())
    assert n >= 30, n
    for kind in ("hosts", "suites", "cases", "cli"):
        assert list((BAD / kind).iterdir()), kind


@pytest.mark.parametrize("path", CASES, ids=[p.stem for p in CASES])
def test_bad_case_metadata(path: Path) -> None:
    head = path.read_text().splitlines()[0]
    assert head.startswith("# expect: "), "first line must say what is expected"
    line, field = head[len("# expect: "):].split()
    with pytest.raises(InputError) as ei:
        read_case(path)
    e = ei.value
    assert e.field == field, str(e)
    assert e.line == (None if line == "-" else int(line)), str(e)
    text = str(e)
    assert "\n" not in text and text.startswith(f"{path}:"), text
    assert not Path("/tmp/kmatrix-pwned-case").exists()


@pytest.mark.parametrize("path", CLI, ids=[p.stem for p in CLI])
def test_bad_command_line(path: Path, tmp_path: Path) -> None:
    argv_line, needle = path.read_text().replace("{CLI}", str(BAD / "cli")).splitlines()[:2]
    proc = subprocess.run([sys.executable, "-m", "kmatrix", *argv_line.split()],
                          capture_output=True, text=True, timeout=60, cwd=str(tmp_path),
                          env=dict(os.environ, PYTHONPATH=str(ROOT),
                                   KMATRIX_CACHE=str(tmp_path / "cache")),  # not the user's
                          preexec_fn=_bounded)
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    err = proc.stderr.strip().splitlines()
    assert "Traceback" not in proc.stderr
    assert len(err) == 1, err  # one line: no usage dump burying the error
    assert proc.stdout == "", proc.stdout
    assert len(err[0]) < 400 and "\x1b" not in err[0], err
    assert needle in err[0], err
