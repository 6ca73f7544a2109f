"""catalog.py: discovery of the real bpf_cases/ and one-line errors for bad cases."""

from __future__ import annotations

from pathlib import Path

import pytest

from kmatrix.catalog import FAMILIES, load_catalog, read_case
from kmatrix.errors import InputError

ROOT = Path(__file__).resolve().parent.parent

GOOD = '''"""doc"""

CASE = {
    "description": "x",
    "requires": {
        "kfuncs": ["bpf_task_acquire"],
    },
}


def run(t):
    pass
'''


def _case(tmp: Path, text: str, family: str = "kfunc", name: str = "c",
          src: bool = True) -> Path:
    d = tmp / "bpf_cases" / family
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{name}.py").write_text(text)
    if src:
        (d / f"{name}.bpf.c").write_text("/* */\n")
    return d / f"{name}.py"


def _err(tmp: Path) -> InputError:
    with pytest.raises(InputError) as ei:
        load_catalog(tmp / "bpf_cases")
    return ei.value


def test_real_catalogue() -> None:
    cases = load_catalog(ROOT / "bpf_cases")
    ids = [c.id for c in cases]
    assert ids == sorted(ids)
    for want in ("kfunc/task_acquire", "dynptr/from_mem", "dynptr/ringbuf",
                 "trampoline/fentry_fexit", "xdp_frags/frags_test_run", "perf/cpu_clock",
                 "perf/arm_spe"):
        assert want in ids
    by = {c.id: c for c in cases}
    assert by["perf/arm_spe"].src is None and not by["perf/arm_spe"].build
    assert by["kfunc/task_acquire"].src == ROOT / "bpf_cases/kfunc/task_acquire.bpf.c"
    assert by["kfunc/task_acquire"].meta["requires"]["kfuncs"] == ["bpf_task_acquire",
                                                                    "bpf_task_release"]
    assert all(c.family in FAMILIES and c.meta["description"] for c in cases)


def test_good(tmp_path: Path) -> None:
    _case(tmp_path, GOOD)
    [c] = load_catalog(tmp_path / "bpf_cases")
    assert (c.id, c.family, c.name, c.timeout, c.build) == ("kfunc/c", "kfunc", "c", 60.0, True)


@pytest.mark.parametrize("old,new,line,field,msg", [
    ('"description": "x",', '"description": "x", "timeot": 5,', 4, "timeot", "unknown CASE key"),
    ('"description": "x",', '"description": "x", "timeout": -1,', 4, "timeout", "positive"),
    ('"description": "x",', '"description": "x", "compiler": "gcc",', 4, "compiler",
     "clang, ziglang"),
    ('"description": "x",', '"description": "x", "build": "yes",', 4, "build", "true or false"),
    ('"description": "x",', '"description": "x", "cflags": "-O2",', 4, "cflags", "list"),
    ('"description": "x",', '"description": "",', 4, "description", "non-empty"),
    ('"description": "x",\n', "", 3, "description", "missing"),
    ('"kfuncs": ["bpf_task_acquire"],', '"kfuncs": "bpf_task_acquire",', 6, "requires.kfuncs",
     "list"),
    ('"kfuncs": ["bpf_task_acquire"],', '"kfuncs": [], "ftrace": 1,', 6, "requires.ftrace",
     "true or false"),
    ('"kfuncs": ["bpf_task_acquire"],', '"arch": ["arm64"],', 6, "requires.arch",
     "unknown arch arm64"),
    ('"description": "x",', '"description": "x" + "y",', 3, "CASE", "plain literal"),
    ("def run(t):", "def walk(t):", None, "run", "def run(t)"),
    ("    pass", "    if (n := 1):\n        pass", 12, "syntax", "Python 3.7"),
])
def test_bad_case(tmp_path: Path, old: str, new: str, line: int, field: str, msg: str) -> None:
    assert old in GOOD
    path = _case(tmp_path, GOOD.replace(old, new, 1))
    e = _err(tmp_path)
    assert (e.file, e.line, e.field) == (str(path), line, field), str(e)
    assert msg in e.message
    assert str(e).startswith(f"{path}:{line}: {field}: " if line else f"{path}: {field}: ")
    assert "\n" not in str(e)


def test_no_case_literal(tmp_path: Path) -> None:
    path = _case(tmp_path, "def run(t):\n    pass\n")
    e = _err(tmp_path)
    assert (e.file, e.field) == (str(path), "CASE")


def test_source_without_check(tmp_path: Path) -> None:
    d = tmp_path / "bpf_cases" / "dynptr"
    d.mkdir(parents=True)
    (d / "lonely.bpf.c").write_text("")
    e = _err(tmp_path)
    assert e.file == str(d / "lonely.bpf.c") and e.field == "check"


def test_check_without_source_needs_build_false(tmp_path: Path) -> None:
    path = _case(tmp_path, GOOD, src=False)
    e = _err(tmp_path)
    assert (e.file, e.field) == (str(path), "build")
    _case(tmp_path, GOOD.replace('"description": "x",', '"description": "x", "build": False,'),
          src=False)
    [c] = load_catalog(tmp_path / "bpf_cases")
    assert c.src is None and not c.build


def test_unknown_family_and_bad_name(tmp_path: Path) -> None:
    _case(tmp_path, GOOD, family="kfuncs")
    e = _err(tmp_path)
    assert e.field == "family" and "kfuncs" in e.message
    (tmp_path / "bpf_cases" / "kfuncs" / "c.py").unlink()
    (tmp_path / "bpf_cases" / "kfuncs" / "c.bpf.c").unlink()
    (tmp_path / "bpf_cases" / "kfuncs").rmdir()
    _case(tmp_path, GOOD, name="Bad-Name")
    assert _err(tmp_path).field == "name"


def test_read_case_returns_meta(tmp_path: Path) -> None:
    path = _case(tmp_path, GOOD)
    assert read_case(path) == {"description": "x", "requires": {"kfuncs": ["bpf_task_acquire"]}}


def test_missing_root(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        load_catalog(tmp_path / "nope")
