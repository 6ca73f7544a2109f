"""Suite files: the shipped ones load, malformed ones give one-line FILE:LINE: FIELD errors."""

from __future__ import annotations

import datetime as dt
import re
import subprocess
import sys
from pathlib import Path

import pytest

from kmatrix.errors import InputError
from kmatrix.suite import Suite, find_suite, load_suite

pytestmark = pytest.mark.fast

ROOT = Path(__file__).resolve().parent.parent
SUITES = ROOT / "suites"
BAD = Path(__file__).resolve().parent / "data" / "bad" / "suites"
BAD_FILES = sorted(BAD.glob("*.yaml"))


def _catalogue_ids() -> list[str]:
    # Case ids as the catalogue sees them (tag-only .bpf.c files give one per program).
    from kmatrix.catalog import load_catalog

    return sorted(c.id for c in load_catalog(ROOT / "bpf_cases"))


KNOWN = _catalogue_ids()


@pytest.mark.parametrize("name", ["bpf-core", "openeuler-22.03-lts", "openeuler-24.03-lts",
                                  "lab-debian"])
def test_shipped_suites_load(name: str) -> None:
    s = load_suite(find_suite(name, SUITES), KNOWN)
    assert s.name == name
    assert s.description
    assert set(s.selected(KNOWN)) == set(KNOWN)
    for e in s.expectations.items:
        assert e.link.startswith("https://") and e.reason


@pytest.mark.parametrize("path", sorted(SUITES.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_suites_match_catalogue(path: Path) -> None:
    ids = _catalogue_ids()
    missing = sorted(set(KNOWN) - set(ids))
    if missing:
        # The catalogue is being written in parallel; once every case the suites
        # were written for exists, this check runs for real.
        pytest.skip(f"bpf_cases/ lacks {', '.join(missing)}")
    load_suite(path, ids)  # every pattern must match a real case


def test_lab_debian_leaves_kernel_gaps_to_the_probes() -> None:
    # -524 attaches on arm64 < 6.4 used to be xfails here; the trampoline probe and
    # the refusal classifier now make them kernel-lacks skips, so no expectation may
    # turn such a cell into a known failure.
    s = load_suite(SUITES / "lab-debian.yaml", KNOWN)
    for cid in ("trampoline/fentry_fexit", "trampoline/many_args_mmap",
                "trampoline/module_fentry"):
        for arch, kernel in (("aarch64", "6.1.0-27-arm64"), ("x86_64", "5.10.0-32-amd64")):
            assert s.expectation_for(cid, arch, kernel, ["lab", "tcg"])[0] is None


def test_defaults_and_selection(tmp_path: Path) -> None:
    p = tmp_path / "mini.yaml"
    p.write_text("name: mini\n")
    s = load_suite(p, KNOWN)
    assert isinstance(s, Suite)
    assert s.cases == ["*"] and s.expectations.items == []
    assert s.selected(KNOWN) == KNOWN
    p.write_text('name: two\ncases: ["perf/*", kfunc/task_acquire]\n')
    s = load_suite(p, KNOWN)
    # Selection keeps the catalogue's order and takes every perf case.
    assert s.selected(KNOWN) == [c for c in KNOWN
                                 if c.startswith("perf/") or c == "kfunc/task_acquire"]
    assert {"perf/cpu_clock", "perf/arm_spe"} <= set(s.selected(KNOWN))
    p.write_text("name: one\ncases: dynptr/ringbuf\n")
    assert load_suite(p, KNOWN).selected(KNOWN) == ["dynptr/ringbuf"]


def test_full_expectation_parsed(tmp_path: Path) -> None:
    p = tmp_path / "full.yaml"
    p.write_text(
        "name: full\n"
        "expectations:\n"
        "  - case: perf/arm_spe\n"
        "    arch: [arm64, x86]\n"
        "    kernel: '>=6.1,<6.4'\n"
        "    env: [lab, tcg]\n"
        "    state: skip\n"
        "    reason_class: hardware-missing\n"
        "    reason: QEMU TCG has no SPE\n"
        "    link: https://example.org/spe\n"
        "    expires: 2030-01-01\n"
    )
    e = load_suite(p, KNOWN).expectations.items[0]
    assert e.arch == ("aarch64", "x86_64")
    assert e.env == ("lab", "tcg")
    assert e.expires == dt.date(2030, 1, 1)
    assert (e.file, e.line, e.suite) == (str(p), 3, "full")
    assert e.to_dict()["source"] == f"{p}:3"
    p.write_text(p.read_text().replace("arch: [arm64, x86]", 'arch: "*"'))
    assert load_suite(p, KNOWN).expectations.items[0].arch is None


def test_find_suite(tmp_path: Path) -> None:
    (tmp_path / "a.yaml").write_text("name: a\n")
    assert find_suite("a", tmp_path) == tmp_path / "a.yaml"
    assert find_suite(str(tmp_path / "a.yaml"), tmp_path / "elsewhere") == tmp_path / "a.yaml"
    with pytest.raises(InputError) as ei:
        find_suite("nope", tmp_path)
    assert "available" in str(ei.value) and " a" in str(ei.value)
    assert "\n" not in str(ei.value)


def test_at_least_eight_bad_files() -> None:
    assert len(BAD_FILES) >= 8


@pytest.mark.parametrize("path", BAD_FILES, ids=lambda p: p.name)
def test_bad_suite_one_line_error(path: Path) -> None:
    m = re.match(r"# expect: (\d+): (\S+):", path.read_text().splitlines()[0])
    assert m, f"{path} lacks its '# expect: LINE: FIELD:' header"
    line, fld = int(m.group(1)), m.group(2)
    with pytest.raises(InputError) as ei:
        load_suite(path, KNOWN)
    msg = str(ei.value)
    assert "\n" not in msg
    assert msg.startswith(f"{path}:{line}: {fld}: "), msg
    assert len(msg) > len(f"{path}:{line}: {fld}: ") + 5  # carries a message


def test_bad_suite_no_traceback_in_a_process() -> None:
    # What the CLI does: catch KmatrixError and print one line. Check that no other
    # exception type escapes for any bad file.
    code = (
        "import sys\n"
        "from kmatrix.suite import load_suite\n"
        "from kmatrix.errors import KmatrixError\n"
        "for f in sys.argv[2:]:\n"
        "    try:\n"
        "        load_suite(f, sys.argv[1].split(','))\n"
        "    except KmatrixError as e:\n"
        "        print(e)\n"
    )
    r = subprocess.run([sys.executable, "-c", code, ",".join(KNOWN), *map(str, BAD_FILES)],
                       capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    assert len(r.stdout.strip().splitlines()) == len(BAD_FILES)
