"""JUnit output: valid against the Jenkins xunit schema, and readable by junitparser."""

from __future__ import annotations

from pathlib import Path

import pytest
from junitparser import Error, Failure, JUnitXml, Skipped
from lxml import etree

from kmatrix.expectations import Expectation, VersionRange, apply
from kmatrix.report.junit import write_junit
from kmatrix.results import CaseResult, HostResult, RunResult

pytestmark = pytest.mark.fast

XSD = Path(__file__).resolve().parent / "data" / "junit-10.xsd"


def _xfail_exp() -> Expectation:
    return Expectation(
        case="trampoline/*", arch=("aarch64",), kernel=VersionRange.parse("<6.4"), env=("lab",),
        state="xfail", reason="arm64 < 6.4 has no ftrace direct calls, attach gives -524",
        link="https://github.com/kernel-patches/vmtest/blob/master/ci/vmtest/configs/DENYLIST.aarch64",
        suite="lab-debian", file="suites/lab-debian.yaml", line=19,
    )


def sample_run() -> RunResult:
    """A run with every verdict, two arches, a host-level error and nasty text."""
    exp = _xfail_exp()
    x86 = HostResult(
        name="box-x86", arch="x86_64", kernel="6.1.0-27-amd64",
        os_release="Debian GNU/Linux 12 (bookworm)", env_tags=["ftrace-blocked"],
        facts={"libbpf": "1.1.2", "clang": "14.0.6"},
        properties={"kernel.release": "6.1.0-27-amd64", "compiler": "clang 14.0.6",
                    "libbpf": "1.1.2"},
        complete=True,
        cases=[
            apply(CaseResult("kfunc/task_acquire", "kfunc", "pass", duration=0.12,
                             details={"hits": 3})),
            apply(CaseResult("dynptr/from_mem", "dynptr", "fail", duration=0.00001,
                             reason="program did not fire (hits=0)",
                             verifier_log="0: R1=ctx\n1: (b7) r0 = 0\x1b[0m\x00\nprocessed 2 insns",
                             dmesg=["[  1.0] bpf: something <odd> & \"quoted\""],
                             output="Traceback: ...")),
            apply(CaseResult("trampoline/fentry_fexit", "trampoline", "skip",
                             reason="ftrace is not usable: available_filter_functions: EPERM",
                             reason_class="environment-blocks")),
            apply(CaseResult("xdp_frags/frags_test_run", "xdp_frags", "error",
                             reason="agent lost: connection reset")),
            apply(CaseResult("perf/cpu_clock", "perf", "pass", duration=1.5),
                  attempts=2, passed_on_rerun=True),
        ],
    )
    x86.cases[-1].reason = "first attempt: no samples in 1s"
    arm = HostResult(
        name="lab-arm64", arch="aarch64", kernel="6.1.0-27-arm64",
        os_release="Debian GNU/Linux 12 (bookworm)", env_tags=["lab", "tcg"],
        complete=False,
        cases=[
            apply(CaseResult("trampoline/fentry_fexit", "trampoline", "fail",
                             reason="attach failed: -524"), exp),
            apply(CaseResult("perf/arm_spe", "perf", "skip", reason="no arm_spe PMU",
                             reason_class="hardware-missing")),
            apply(CaseResult("dynptr/ringbuf", "dynptr", "pass", duration=0.3),
                  _xfail_exp()),  # xpass
        ],
    )
    dead = HostResult(name="rv-board", arch="riscv64", error="ssh: host key mismatch for rv-board")
    return RunResult(run_id="20250101T000000Z-ab12", suite="lab-debian",
                     started="2025-01-01T00:00:00Z", finished="2025-01-01T00:10:00Z",
                     incomplete=True, hosts=[x86, arm, dead])


@pytest.fixture
def written(tmp_path: Path) -> tuple[RunResult, list[Path]]:
    run = sample_run()
    return run, write_junit(run, tmp_path)


def test_every_verdict_present() -> None:
    verdicts = {c.verdict for h in sample_run().hosts for c in h.cases}
    assert verdicts == {"pass", "fail", "xfail", "xpass", "skip", "error", "flaky"}


def test_one_file_per_arch(written: tuple[RunResult, list[Path]], tmp_path: Path) -> None:
    _, paths = written
    assert sorted(paths) == sorted(tmp_path / a / "junit.xml"
                                   for a in ("x86_64", "aarch64", "riscv64"))
    for p in paths:
        assert p.read_bytes().startswith(b"<?xml")


def test_validates_against_jenkins_xsd(written: tuple[RunResult, list[Path]]) -> None:
    schema = etree.XMLSchema(etree.parse(str(XSD)))
    for p in written[1]:
        doc = etree.parse(str(p))
        assert schema.validate(doc), f"{p}: {schema.error_log}"


def test_xsd_is_vendored_with_licence() -> None:
    head = XSD.read_text()[:1200]
    assert "The MIT License (MIT)" in head and "Gregory Boissinot" in head


def _cases(path: Path) -> dict[tuple[str, str], object]:
    xml = JUnitXml.fromfile(str(path))
    out = {}
    for suite in xml:
        for case in suite:
            out[(case.classname, case.name)] = case
    return out


def _props(suite: object) -> dict[str, str]:
    """Suite properties without their `<host>/` qualifier."""
    out = {}
    for p in suite.properties():  # type: ignore[attr-defined]
        host, _, key = p.name.partition("/")
        assert host == suite.name, p.name  # type: ignore[attr-defined]
        out[key] = p.value
    return out


def test_roundtrip_x86(written: tuple[RunResult, list[Path]], tmp_path: Path) -> None:
    xml = JUnitXml.fromfile(str(tmp_path / "x86_64" / "junit.xml"))
    suites = list(xml)
    assert len(suites) == 1
    s = suites[0]
    assert s.name == "box-x86" and s.hostname == "box-x86"
    props = _props(s)
    assert props["kernel.release"] == "6.1.0-27-amd64"
    assert props["os.release"] == "Debian GNU/Linux 12 (bookworm)"
    assert props["arch"] == "x86_64"
    assert props["compiler"] == "clang 14.0.6 (BPF target)"
    assert props["libbpf"] == "1.1.2"
    assert props["env.tags"] == "ftrace-blocked"
    assert "run.id" not in props and s._elem.get("id") == "20250101T000000Z-ab12"
    assert props["incomplete"] == "true"  # the run was interrupted
    assert props["flaky"] == "perf/cpu_clock"
    assert (s.tests, s.failures, s.errors, s.skipped) == (5, 1, 1, 1)

    cases = {f"{c.classname.rsplit('.', 1)[-1]}/{c.name}": c for c in s}
    ok = cases["kfunc/task_acquire"]
    assert ok.is_passed and (ok.classname, ok.name) == ("kmatrix.x86_64.box-x86.kfunc",
                                                         "task_acquire")
    assert abs(ok.time - 0.12) < 1e-6

    fail = cases["dynptr/from_mem"]
    (f,) = fail.result
    assert isinstance(f, Failure)
    assert f.message == "program did not fire (hits=0)"
    assert "processed 2 insns" in f.text and "<odd> &" in f.text and "Traceback" in f.text
    assert "\x1b" not in f.text and "\x00" not in f.text

    (sk,) = cases["trampoline/fentry_fexit"].result
    assert isinstance(sk, Skipped)
    assert sk.message.startswith("[environment-blocks] ftrace is not usable")
    assert sk.text == sk.message  # GitLab shows the element's text, not message=

    (er,) = cases["xdp_frags/frags_test_run"].result
    assert isinstance(er, Error) and er.message == "agent lost: connection reset"

    flaky = cases["perf/cpu_clock"]
    assert not any(isinstance(r, (Failure, Error, Skipped)) for r in flaky.result)
    assert "FLAKY" in (flaky.system_out or "")


def test_roundtrip_aarch64(written: tuple[RunResult, list[Path]], tmp_path: Path) -> None:
    (s,) = list(JUnitXml.fromfile(str(tmp_path / "aarch64" / "junit.xml")))
    props = _props(s)
    assert props["xpass"] == "dynptr/ringbuf" and props["env.tags"] == "lab,tcg"
    cases = {f"{c.classname.rsplit('.', 1)[-1]}/{c.name}": c for c in s}
    (xf,) = cases["trampoline/fentry_fexit"].result
    assert isinstance(xf, Skipped)
    assert xf.message == (
        "xfail: arm64 < 6.4 has no ftrace direct calls, attach gives -524 "
        "(https://github.com/kernel-patches/vmtest/blob/master/ci/vmtest/configs/DENYLIST.aarch64)"
    )
    assert xf.text.startswith(xf.message + "\n") and "reason: attach failed: -524" in xf.text
    xp = cases["dynptr/ringbuf"]
    assert xp.is_passed and xp.system_out.startswith("XPASS: dynptr/ringbuf passed")
    (hw,) = cases["perf/arm_spe"].result
    assert hw.message.startswith("[hardware-missing] ") and hw.text == hw.message
    assert s.failures == 0 and s.errors == 0  # xfail and xpass are not failures


def test_host_error_case(written: tuple[RunResult, list[Path]], tmp_path: Path) -> None:
    cases = _cases(tmp_path / "riscv64" / "junit.xml")
    assert list(cases) == [("kmatrix.riscv64.rv-board", "host")]
    (er,) = cases[("kmatrix.riscv64.rv-board", "host")].result  # type: ignore[attr-defined]
    assert isinstance(er, Error) and "host key mismatch" in er.message


def test_empty_run_writes_nothing(tmp_path: Path) -> None:
    assert write_junit(RunResult(run_id="x"), tmp_path) == []


def test_any_run_validates(tmp_path_factory: pytest.TempPathFactory) -> None:
    # Random text (control characters, markup, huge numbers) must never break the XML.
    from hypothesis import given, settings
    from hypothesis import strategies as st

    schema = etree.XMLSchema(etree.parse(str(XSD)))
    text = st.text(max_size=30)
    case = st.builds(
        CaseResult, case=st.from_regex(r"[a-z]{1,5}/[a-z]{1,5}", fullmatch=True),
        family=st.from_regex(r"[a-z]{1,5}", fullmatch=True),
        state=st.sampled_from(["pass", "fail", "skip", "error"]), reason=text,
        reason_class=st.none() | st.just("kernel-lacks"),
        duration=st.floats(0, 1e6, allow_nan=False), verifier_log=text,
        dmesg=st.lists(text, max_size=2), output=text,
        verdict=st.sampled_from(["", "pass", "fail", "xfail", "xpass", "skip", "error", "flaky"]),
        expectation=st.none() | st.fixed_dictionaries({"reason": text, "link": text, "suite": text}),
    )
    host = st.builds(HostResult, name=text.filter(bool), arch=st.sampled_from(["x86_64", "riscv64"]),
                     kernel=text, os_release=text, env_tags=st.lists(text, max_size=2),
                     properties=st.dictionaries(text, text, max_size=2),
                     cases=st.lists(case, max_size=4), error=st.none() | text)

    @settings(max_examples=60, deadline=None)
    @given(hosts=st.lists(host, min_size=1, max_size=3), run_id=text)
    def check(hosts: list[HostResult], run_id: str) -> None:
        out = tmp_path_factory.mktemp("j")
        for p in write_junit(RunResult(run_id=run_id, hosts=hosts), out):
            doc = etree.parse(str(p))
            assert schema.validate(doc), schema.error_log
            JUnitXml.fromfile(str(p))
            ids = [(tc.get("classname"), tc.get("name")) for tc in doc.iter("testcase")]
            assert len(ids) == len(set(ids)), ids  # even for hosts or cases listed twice
            names = [pr.get("name") for pr in doc.iter("property")]
            assert len(names) == len(set(names)), names
            assert not any("\n" in pr.get("value") for pr in doc.iter("property"))

    check()
