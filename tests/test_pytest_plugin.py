"""The pytest front-end (kmatrix.pytest_plugin), driven by real `pytest` subprocesses.

The inventory has two `transport: local` hosts, so the engine really builds, loads,
attaches and triggers the BPF programs on this kernel for each of them. The case
catalogue is a small copy of bpf_cases/ plus one check broken on purpose, and the
suite holds an xfail that matches (XFAIL) and one that does not (XPASS), so every
verdict mapping is exercised. Outcomes are compared with the engine's own
results.json from the same session, never with hard-coded verdicts.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
from junitparser import JUnitXml
from lxml import etree

from kmatrix.pytest_plugin import tidy_junitxml

ROOT = Path(__file__).resolve().parent.parent
XSD = ROOT / "tests" / "data" / "junit-10.xsd"
COPY = ("dynptr/from_mem", "dynptr/ringbuf", "kfunc/task_acquire", "trampoline/fentry_fexit")
BROKEN = "dynptr/from_mem_broken"
XPASS = "kfunc/task_acquire"
BREAK = '''

_kmatrix_real_run = run


def run(t):
    _kmatrix_real_run(t)
    t.fail("deliberately broken by tests/test_pytest_plugin.py")
'''

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="local transport BPF needs root")


def _workspace(tmp: Path, expectations: bool = True) -> Path:
    ws = tmp
    (ws / "hosts.yaml").write_text(
        "hosts:\n"
        "  - name: local-a\n    arch: x86_64\n    transport: local\n"
        "  - name: local-b\n    arch: x86_64\n    transport: local\n"
        "  - name: far-riscv\n    arch: riscv64\n    address: 192.0.2.1\n")
    cases = ws / "cases"
    for cid in COPY:
        fam, name = cid.split("/")
        (cases / fam).mkdir(parents=True, exist_ok=True)
        for src in (ROOT / "bpf_cases" / fam).glob(f"{name}.*"):
            shutil.copy(src, cases / fam / src.name)
    shutil.copy(ROOT / "bpf_cases/dynptr/from_mem.bpf.c", cases / f"{BROKEN}.bpf.c")
    (cases / f"{BROKEN}.py").write_text((ROOT / "bpf_cases/dynptr/from_mem.py").read_text() + BREAK)
    suites = ws / "suites"
    suites.mkdir(exist_ok=True)
    exps = ""
    if expectations:
        exps = "".join(
            f"  - case: {cid}\n    state: xfail\n    reason: {why}\n"
            f"    link: https://example.invalid/kmatrix/{cid}\n"
            for cid, why in ((BROKEN, "broken on purpose"), (XPASS, "stale on purpose")))
    (suites / "t.yaml").write_text(f"name: t\ncases: ['*']\nexpectations:\n{exps or '  []'}\n")
    return ws


def _pytest(ws: Path, *args: str, cache: Path) -> subprocess.CompletedProcess[str]:
    argv = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:randomly",
            "--kmatrix-hosts", "hosts.yaml", "--kmatrix-cases-dir", "cases",
            "--kmatrix-suites-dir", "suites", "--kmatrix-suite", "t",
            "--kmatrix-cache-dir", str(cache), "--kmatrix-output", "out", *args]
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    env.pop("PYTEST_ADDOPTS", None)
    env.pop("PYTEST_XDIST_WORKER", None)
    return subprocess.run(argv, cwd=ws, capture_output=True, text=True, timeout=600, env=env)


@pytest.fixture(scope="module")
def kcache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Content-addressed build cache, shared by this session's kmatrix tests: compile once.
    return tmp_path_factory.getbasetemp() / "kmatrix-build-cache"


def _junit(path: Path) -> dict[tuple[str, str], dict[str, Any]]:
    """pytest's JUnit, by (host, case id); the kmatrix facts are `name: value` lines of system-out."""
    out = {}
    for tc in ET.parse(path).getroot().iter("testcase"):
        kids = [el.tag for el in tc if el.tag in ("failure", "error", "skipped")]
        assert tc.find("properties") is None  # the Jenkins schema has no testcase properties
        lines = (tc.findtext("system-out") or "").splitlines()
        props = dict(ln.split(": ", 1) for ln in lines if ln.startswith("kmatrix."))
        skipped = tc.find("skipped")
        _, arch, host, family = tc.get("classname").split(".")
        assert (arch, host) == (props["kmatrix.arch"], props["kmatrix.host"])
        assert f"{family}/{tc.get('name')}" == props["kmatrix.case"]
        out[(host, props["kmatrix.case"])] = {
            "kids": kids, "props": props, "time": float(tc.get("time")),
            "skip_type": skipped.get("type") if skipped is not None else None}
    return out


def _assert_valid_junit(path: Path) -> None:
    schema = etree.XMLSchema(etree.parse(str(XSD)))
    assert schema.validate(etree.parse(str(path))), schema.error_log
    ids = [(c.classname, c.name) for s in JUnitXml.fromfile(str(path)) for c in s]
    assert len(ids) == len(set(ids)), ids


# What a kmatrix verdict must look like in pytest's JUnit.
JUNIT_OF = {"pass": [], "flaky": [], "xpass": [], "fail": ["failure"], "error": ["failure"],
            "skip": ["skipped"], "xfail": ["skipped"]}


@needs_root
@pytest.mark.bpf
def test_xdist_spreads_hosts_and_reports_engine_verdicts(tmp_path: Path, kcache: Path) -> None:
    ws = _workspace(tmp_path)
    proc = _pytest(ws, "-n", "2", "-v", "-rxXs", "--junitxml", "junit.xml", "--arch", "x86",
                   cache=kcache)
    print(proc.stdout[-6000:], proc.stderr[-3000:])
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "scheduling tests via LoadScopeScheduling" in proc.stdout
    n_cases = len(COPY) + 1
    assert f"2 workers [{2 * n_cases} items]" in proc.stdout  # --arch x86 dropped far-riscv

    # Every item of a host ran on one worker, and the two hosts on different workers.
    workers: dict[str, set[str]] = {}
    for m in re.finditer(r"\[(gw\d+)\] \[\s*\d+%\] \w+ hosts\.yaml::([\w-]+)::", proc.stdout):
        workers.setdefault(m.group(2), set()).add(m.group(1))
    assert set(workers) == {"local-a", "local-b"}
    assert all(len(w) == 1 for w in workers.values()), workers
    assert workers["local-a"] != workers["local-b"], workers

    # The engine ran once per host, over all of that host's items, into one run dir.
    (run_dir,) = (ws / "out").iterdir()
    per_host = {p.parent.name: json.loads(p.read_text())
                for p in (run_dir / "hosts").glob("*/results.json")}
    assert set(per_host) == {"local-a", "local-b"}
    verdicts = {}
    for name, data in per_host.items():
        (h,) = data["hosts"]
        assert h["error"] is None and h["complete"], h["error"]
        assert len(h["cases"]) == n_cases
        verdicts.update({(name, c["case"]): c for c in h["cases"]})
    merged = json.loads((run_dir / "results.json").read_text())
    assert sorted(h["name"] for h in merged["hosts"]) == ["local-a", "local-b"]
    assert (run_dir / "x86_64" / "junit.xml").exists()

    # By construction: the broken check fails under an xfail, the stale xfail passes.
    for host in ("local-a", "local-b"):
        assert verdicts[(host, BROKEN)]["verdict"] == "xfail"
        assert verdicts[(host, BROKEN)]["details"], "the real check ran before failing"
        assert verdicts[(host, XPASS)]["verdict"] == "xpass"

    # pytest's JUnit agrees with the engine, item by item, and is valid for Jenkins.
    _assert_valid_junit(ws / "junit.xml")
    junit = _junit(ws / "junit.xml")
    assert set(junit) == set(verdicts)
    for key, cr in verdicts.items():
        j = junit[key]
        assert j["kids"] == JUNIT_OF[cr["verdict"]], (key, cr["verdict"], j)
        assert j["props"]["kmatrix.verdict"] == cr["verdict"]
        assert j["props"]["kmatrix.host"] == key[0]
        # Each item's own case time, not its host's whole engine run on the first item.
        assert abs(j["time"] - cr["duration"]) < 0.0015, (key, j["time"], cr["duration"])
        if cr["verdict"] == "xfail":
            assert j["skip_type"] == "pytest.xfail"
    assert proc.stdout.count("XPASS") >= 2 and proc.stdout.count("XFAIL") >= 2


@needs_root
@pytest.mark.bpf
def test_k_selects_and_a_regression_fails_the_session(tmp_path: Path, kcache: Path) -> None:
    ws = _workspace(tmp_path, expectations=False)
    proc = _pytest(ws, "-k", "local-a and broken", cache=kcache)
    print(proc.stdout[-4000:])
    assert proc.returncode == 1, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "1 failed" in proc.stdout and "deselected" in proc.stdout
    assert f"{BROKEN}: FAIL (state fail): deliberately broken by tests/test_pytest_plugin.py" \
        in proc.stdout
    # -k reached the engine: it ran only the selected case, only on the selected host.
    (run_dir,) = (ws / "out").iterdir()
    assert [p.name for p in (run_dir / "hosts").iterdir()] == ["local-a"]
    (h,) = json.loads((run_dir / "hosts" / "local-a" / "results.json").read_text())["hosts"]
    assert [c["case"] for c in h["cases"]] == [BROKEN]


def test_tidy_junitxml_keeps_plain_tests_and_validates(tmp_path: Path) -> None:
    """What pytest writes for a kmatrix item (properties inside the testcase) -> schema-valid."""
    path = tmp_path / "junit.xml"
    path.write_text(
        '<?xml version="1.0" encoding="utf-8"?><testsuites name="pytest tests">'
        '<testsuite name="pytest" errors="0" failures="0" skipped="1" tests="3" time="9.0">'
        '<testcase classname="hosts.yaml.lab-a" name="dynptr/from_mem" time="0.250">'
        '<properties><property name="kmatrix.case" value="dynptr/from_mem"/>'
        '<property name="kmatrix.host" value="lab-a"/><property name="kmatrix.arch" value="x86_64"/>'
        '<property name="kmatrix.kernel" value="6.18.0"/><property name="kmatrix.verdict" value="skip"/>'
        '</properties><skipped type="pytest.skip" message="[kernel-lacks] no">x</skipped>'
        '<system-out>captured</system-out></testcase>'
        '<testcase classname="hosts.yaml.lab-b" name="dynptr/from_mem" time="0.100">'
        '<properties><property name="kmatrix.case" value="dynptr/from_mem"/>'
        '<property name="kmatrix.host" value="lab-b"/><property name="kmatrix.arch" value="x86_64"/>'
        '</properties></testcase>'
        '<testcase classname="test_plain" name="test_ok" time="0.001"/>'
        '</testsuite></testsuites>')
    tidy_junitxml(path, prefix="ci")
    _assert_valid_junit(path)
    cases = {(c.classname, c.name): c for s in JUnitXml.fromfile(str(path)) for c in s}
    assert set(cases) == {("ci.kmatrix.x86_64.lab-a.dynptr", "from_mem"),
                          ("ci.kmatrix.x86_64.lab-b.dynptr", "from_mem"), ("test_plain", "test_ok")}
    out = cases[("ci.kmatrix.x86_64.lab-a.dynptr", "from_mem")].system_out
    assert out.splitlines()[-1] == "captured" and "kmatrix.kernel: 6.18.0" in out
    assert cases[("ci.kmatrix.x86_64.lab-a.dynptr", "from_mem")].time == 0.25


def test_collect_only_arch_riscv(tmp_path: Path) -> None:
    """`--arch riscv` keeps the riscv64 host only; collecting connects to nothing."""
    ws = _workspace(tmp_path)
    proc = _pytest(ws, "--collect-only", "-q", "--arch", "riscv", cache=tmp_path / "c")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    ids = [ln for ln in proc.stdout.splitlines() if ln.startswith("hosts.yaml::")]
    assert ids == sorted(f"hosts.yaml::far-riscv::{c}" for c in (*COPY, BROKEN))
    assert not (ws / "out").exists()


def test_bad_inventory_is_one_line(tmp_path: Path) -> None:
    ws = _workspace(tmp_path)
    (ws / "hosts.yaml").write_text("hosts:\n  - name: x\n    arch: sparc\n")
    proc = _pytest(ws, "--collect-only", "-q", cache=tmp_path / "c")
    assert proc.returncode != 0
    assert re.search(r"hosts\.yaml:3: arch: .*sparc", proc.stdout), proc.stdout


def test_plugin_is_inert_without_hosts(tmp_path: Path) -> None:
    """Loaded in every session of this venv, it must change nothing unless asked."""
    (tmp_path / "test_plain.py").write_text("def test_ok():\n    assert 1 + 1 == 2\n")
    proc = subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q"],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "1 passed" in proc.stdout and "kmatrix" not in proc.stdout
