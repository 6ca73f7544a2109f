"""JUnit with several hosts of one arch in one file, as the default lab writes it.

Two x86_64 and two aarch64 guests run the same cases: every (classname, name)
must still be unique in its file (GitLab shows only those two; xunitparser keys
on them), the file must validate against the Jenkins schema and be read back by
junitparser and by xunitparser.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import xunitparser
from junitparser import JUnitXml, Skipped
from lxml import etree

from kmatrix.report.junit import case_id_parts, compiler_label, write_junit
from kmatrix.results import CaseResult, HostResult, RunResult

pytestmark = pytest.mark.fast

XSD = Path(__file__).resolve().parent / "data" / "junit-10.xsd"
# What `clang --version` prints on the controller (runner.host_properties keeps it raw).
CLANG = ("Debian clang version 14.0.6\nTarget: x86_64-pc-linux-gnu\nThread model: posix\n"
         "InstalledDir: /usr/bin")


def _host(name: str, arch: str, kernel: str) -> HostResult:
    cases = [
        CaseResult("dynptr/from_mem", "dynptr", "pass", verdict="pass", duration=0.25),
        CaseResult("kfunc/task_acquire", "kfunc", "fail", verdict="fail", duration=0.5,
                   reason="program did not fire (hits=0)"),
        CaseResult("perf/arm_spe", "perf", "skip", verdict="skip", reason="no arm_spe PMU",
                   reason_class="hardware-missing"),
    ]
    return HostResult(name=name, arch=arch, kernel=kernel, complete=True, cases=cases,
                      properties={"kernel.release": kernel, "compiler": CLANG, "libbpf": "1.1.2"})


def lab_run() -> RunResult:
    return RunResult(run_id="lab-1", suite="lab-debian", started="2026-01-01T00:00:00Z", hosts=[
        _host("lab-x86_64-trixie", "x86_64", "6.12.48+deb13-amd64"),
        _host("lab-x86_64-bullseye", "x86_64", "5.10.0-32-amd64"),
        _host("lab-aarch64-bookworm", "aarch64", "6.1.0-27-arm64"),
        _host("lab-aarch64-bullseye", "aarch64", "5.10.0-32-arm64"),
    ])


@pytest.fixture
def x86(tmp_path: Path) -> Path:
    paths = write_junit(lab_run(), tmp_path)
    assert sorted(p.parent.name for p in paths) == ["aarch64", "x86_64"]
    return tmp_path / "x86_64" / "junit.xml"


def test_ids_are_unique_and_name_the_host(x86: Path) -> None:
    ids = [(tc.get("classname"), tc.get("name"))
           for tc in etree.parse(str(x86)).iter("testcase")]
    assert len(ids) == 6 and len(set(ids)) == 6
    assert ("kmatrix.x86_64.lab-x86_64-trixie.dynptr", "from_mem") in ids
    assert ("kmatrix.x86_64.lab-x86_64-bullseye.dynptr", "from_mem") in ids


def test_validates_and_reads_back_with_junitparser(x86: Path) -> None:
    schema = etree.XMLSchema(etree.parse(str(XSD)))
    assert schema.validate(etree.parse(str(x86))), schema.error_log
    suites = {s.name: s for s in JUnitXml.fromfile(str(x86))}
    assert set(suites) == {"lab-x86_64-trixie", "lab-x86_64-bullseye"}
    s = suites["lab-x86_64-bullseye"]
    props = {p.name: p.value for p in s.properties()}
    assert props["lab-x86_64-bullseye/kernel.release"] == "5.10.0-32-amd64"
    assert props["lab-x86_64-bullseye/compiler"] == "clang 14.0.6 (BPF target)"
    assert all("\n" not in v for v in props.values())
    cases = {(c.classname, c.name): c for c in s}
    assert abs(cases[("kmatrix.x86_64.lab-x86_64-bullseye.dynptr", "from_mem")].time - 0.25) < 1e-6
    (sk,) = cases[("kmatrix.x86_64.lab-x86_64-bullseye.perf", "arm_spe")].result
    assert isinstance(sk, Skipped)
    assert sk.message == sk.text == "[hardware-missing] no arm_spe PMU"


def test_xunitparser_reads_two_hosts_of_one_arch(x86: Path) -> None:
    with x86.open() as f:
        ts, tr = xunitparser.parse(f)  # asserts its own totals
    assert tr.testsRun == 6 and len(tr.failures) == 2 and len(tr.skipped) == 2
    tests = {(t.classname, t.methodname): t for t in ts}
    assert len(tests) == 6
    sk = tests[("kmatrix.x86_64.lab-x86_64-trixie.perf", "arm_spe")]
    assert sk.skipped and sk.trace == "[hardware-missing] no arm_spe PMU"
    assert ts.properties["lab-x86_64-trixie/kernel.release"] == "6.12.48+deb13-amd64"


def test_a_host_listed_twice_stays_distinct(tmp_path: Path) -> None:
    run = lab_run()
    run.hosts = [run.hosts[0], _host("lab-x86_64-trixie", "x86_64", "6.12.48+deb13-amd64")]
    (p,) = write_junit(run, tmp_path)
    schema = etree.XMLSchema(etree.parse(str(XSD)))
    assert schema.validate(etree.parse(str(p))), schema.error_log
    with p.open() as f:
        ts, tr = xunitparser.parse(f)
    assert tr.testsRun == 6 and len({(t.classname, t.methodname) for t in ts}) == 6
    assert "kmatrix.x86_64.lab-x86_64-trixie #2.dynptr" in {t.classname for t in ts}


@pytest.mark.parametrize("raw,label", [
    (CLANG, "clang 14.0.6 (BPF target)"),
    ("Ubuntu clang version 18.1.3 (1ubuntu1)\nTarget: x86_64-pc-linux-gnu", "clang 18.1.3 (BPF target)"),
    ("clang 14.0.6", "clang 14.0.6 (BPF target)"),
    ("zig 0.13.0", "zig 0.13.0"),
    ("", ""),
])
def test_compiler_label(raw: str, label: str) -> None:
    assert compiler_label(raw) == label


@pytest.mark.parametrize("case,family,parts", [
    ("dynptr/from_mem", "dynptr", ("dynptr", "from_mem")),
    ("xdp_frags/frags_test_run", "", ("xdp_frags", "frags_test_run")),
    ("odd", "", ("odd", "odd")),
    ("a/b", "other", ("other", "a/b")),
])
def test_case_id_parts(case: str, family: str, parts: tuple[str, str]) -> None:
    assert case_id_parts(case, family) == parts
