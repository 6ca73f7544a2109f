"""JUnit XML per arch: `<outdir>/<arch>/junit.xml`, one <testsuite> per host.

The output validates against the Jenkins xunit plugin's JUnit schema
(tests/data/junit-10.xsd).

Test ids: classname `kmatrix.<arch>.<host>.<family>`, name `<case>` (the case id
after its family). Several hosts of one arch share a file, and GitLab shows only
classname + name (xunitparser keys on them too), so the host must be in the id;
a pair that still repeats (a duplicated host) gets a " #2" suffix.

JUnit has no xfail/xpass/flaky, so:

- xfail  -> <skipped message="xfail: REASON (LINK)">: known, not a failure
- xpass  -> a passing testcase, system-out "XPASS: ..." and a suite property
- flaky  -> a passing testcase with a Surefire <flakyFailure> and a suite property
- skip   -> <skipped message="[REASON_CLASS] REASON">
- a host-level error -> one <error> testcase, classname `kmatrix.<arch>.<host>`, name "host"

<skipped> carries its reason as text too: GitLab shows the text, not message=.
Suite properties are one line each and named `<host>/<key>` (e.g.
`lab-x86_64-trixie/kernel.release`): xunitparser pools all suites' properties.
The run id is the testsuite's id= attribute.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Optional

from junit_xml import TestCase, TestSuite

from kmatrix.fileutil import atomic_write
from kmatrix.report import excerpt, verdict_of
from kmatrix.results import (
    V_ERROR,
    V_FAIL,
    V_FLAKY,
    V_PASS,
    V_SKIP,
    V_XFAIL,
    V_XPASS,
    CaseResult,
    HostResult,
    RunResult,
)

# Characters XML 1.0 cannot carry at all (verifier logs and dmesg can hold ANSI
# escapes and NULs); they are dropped rather than making the file unparsable.
_ILLEGAL_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_MAX_SECTION = 64 * 1024


def _x(value: Any) -> str:
    return _ILLEGAL_XML.sub("", "" if value is None else str(value))


def _link(c: CaseResult) -> str:
    return str((c.expectation or {}).get("link") or "")


def _exp_reason(c: CaseResult) -> str:
    return str((c.expectation or {}).get("reason") or c.reason or "")


def _case_text(c: CaseResult) -> str:
    """Everything a reader needs to judge a failure, in one block."""
    parts = []
    if c.reason:
        parts.append(f"reason: {c.reason}")
    if c.attempts and c.attempts > 1:
        parts.append(f"attempts: {c.attempts}")
    if c.verifier_log:
        parts.append("--- verifier log ---\n" + excerpt(c.verifier_log, 2000, _MAX_SECTION))
    if c.dmesg:
        parts.append("--- dmesg ---\n" + excerpt("\n".join(c.dmesg), 500, _MAX_SECTION))
    if c.output:
        parts.append("--- output ---\n" + excerpt(c.output, 2000, _MAX_SECTION))
    if c.details:
        parts.append("--- details ---\n" + json.dumps(c.details, sort_keys=True, default=str))
    return _x("\n".join(parts))


def _one_line(value: str) -> str:
    """Properties are shown in one table cell: fold any line breaks."""
    return " ".join(value.split())


def compiler_label(version: str) -> str:
    """`clang --version` output -> "clang 14.0.6 (BPF target)".

    The raw text is multi-line and its "Target:" names the controller's host
    triple (x86_64 even in a riscv64 suite); the objects are built with
    `-target bpf`, so only the version is kept.
    """
    lines = version.strip().splitlines()
    first = lines[0].strip() if lines else ""
    m = re.search(r"\bclang(?: version)? (\d\S*)", first)
    if m:
        return f"clang {m.group(1)} (BPF target)"
    return first


def case_id_parts(case: str, family: str = "") -> tuple[str, str]:
    """"dynptr/from_mem" -> ("dynptr", "from_mem"); the JUnit class and name."""
    fam = family or case.split("/", 1)[0]
    name = case[len(fam) + 1:] if case.startswith(fam + "/") else case
    return fam, name or case


def _testcase(c: CaseResult, arch: str, host: str) -> tuple[TestCase, str]:
    v = verdict_of(c)
    family, name = case_id_parts(c.case, c.family)
    tc = TestCase(
        name=_x(name),
        classname=_x(f"kmatrix.{arch}.{host}.{family}"),
        elapsed_sec=float(c.duration or 0.0),
    )
    if v == V_FAIL:
        tc.add_failure_info(message=_x(c.reason or "failed"), output=_case_text(c),
                            failure_type="regression")
    elif v == V_ERROR:
        tc.add_error_info(message=_x(c.reason or "error"), output=_case_text(c),
                          error_type="error")
    elif v == V_SKIP:
        msg = _x(f"[{c.reason_class or 'unclassified'}] {c.reason}")
        tc.add_skipped_info(message=msg, output=msg)
    elif v == V_XFAIL:
        msg = _x(f"xfail: {_exp_reason(c)} ({_link(c)})")
        tc.add_skipped_info(message=msg, output="\n".join(filter(None, (msg, _case_text(c)))))
    elif v == V_XPASS:
        tc.stdout = _x(
            f"XPASS: {c.case} passed, but suite {(c.expectation or {}).get('suite', '')} "
            f"expects it to fail: {_exp_reason(c)} ({_link(c)}). "
            "The expectation may be stale."
        )
    elif v == V_FLAKY:
        tc.stdout = _x(f"FLAKY: failed, then passed on attempt {c.attempts}: {c.reason}")
    elif v == V_PASS and c.details:
        tc.stdout = _x("details: " + json.dumps(c.details, sort_keys=True, default=str))
    return tc, v


def _properties(run: RunResult, h: HostResult, label: str, xpass: list[str],
                flaky: list[str]) -> dict:
    facts = h.facts or {}
    props: dict[str, str] = {}
    for k, val in (h.properties or {}).items():
        props[_x(k)] = _x(val)
    if props.get("compiler"):
        props["compiler"] = compiler_label(props["compiler"])
    # Names match the runner's host_properties(); fill what it left empty.
    fallback = {
        "kernel.release": h.kernel,
        "os.release": h.os_release,
        "arch": h.arch,
        "compiler": compiler_label(str(facts.get("clang") or "")),
        "libbpf": facts.get("libbpf") or "",
    }
    for k, val in fallback.items():
        if not props.get(k):
            props[k] = _x(val)
    props["env.tags"] = _x(",".join(h.env_tags))
    # No run.id property: it is the testsuite's id= attribute, and as a property it
    # would make a run and the merge of its shards differ.
    props["suite"] = _x(run.suite)
    if run.shard:
        props["shard"] = _x(run.shard)
    props["incomplete"] = "true" if (run.incomplete or not h.complete) else "false"
    if xpass:
        props["xpass"] = _x(",".join(xpass))
    if flaky:
        props["flaky"] = _x(",".join(flaky))
    # Host-qualified: xunitparser pools the properties of every <testsuite> in a
    # file and refuses a name twice, and a file holds every host of its arch.
    return {f"{label}/{_one_line(k)}": _one_line(val) for k, val in props.items()}


def _suite_element(run: RunResult, h: HostResult, label: str) -> ET.Element:
    cases = sorted(h.cases, key=lambda c: c.case)
    built = [_testcase(c, h.arch, label) for c in cases]
    tcs = [tc for tc, _ in built]
    if h.error:
        tc = TestCase(name="host", classname=_x(f"kmatrix.{h.arch}.{label}"))
        tc.add_error_info(message=_x(h.error), output=_x(h.error), error_type="host-error")
        tcs.append(tc)
    xpass = [c.case for c, (_, v) in zip(cases, built) if v == V_XPASS]
    flaky = [c.case for c, (_, v) in zip(cases, built) if v == V_FLAKY]
    ts = TestSuite(
        name=label,
        test_cases=tcs,
        hostname=_x(h.name),
        id=_x(run.run_id) or None,
        package=_x(f"kmatrix.{h.arch}"),
        timestamp=_x(run.started) or None,
        properties=_properties(run, h, label, xpass, flaky),
    )
    el = ts.build_xml_doc()
    # junit-xml adds attributes the Jenkins schema does not allow.
    for attr in ("disabled", "assertions"):
        el.attrib.pop(attr, None)
    durations = [float(c.duration or 0.0) for c in cases] + ([0.0] if h.error else [])
    el.set("time", f"{sum(durations):.3f}")
    verdicts = [v for _, v in built] + ([V_ERROR] if h.error else [])
    padded: list[Optional[CaseResult]] = [*cases, None]  # the host-error testcase comes last
    for tc_el, dur, c, v in zip(el.findall("testcase"), durations, padded, verdicts):
        # Fixed-point: the schema's time pattern rejects "1e-05".
        tc_el.set("time", f"{dur:.3f}")
        if c is not None and v == V_FLAKY:
            ff = ET.Element("flakyFailure", {"type": "flaky", "message": _x(c.reason or "flaky")})
            ff.text = _case_text(c)
            tc_el.insert(0, ff)
    return el


def _host_labels(hosts: list[HostResult]) -> list[str]:
    """Each host's name as the file shows it; a name listed twice gets " #2"."""
    labels: list[str] = []
    for h in hosts:
        name = _one_line(_x(h.name))
        label, n = name, 1
        while label in labels:
            n += 1
            label = f"{name} #{n}"
        labels.append(label)
    return labels


def _make_ids_unique(root: ET.Element) -> None:
    """Suffix a repeated (classname, name): readers key on that pair.

    With the host in the classname only a case listed twice in one host (or ids
    that differ only in characters XML cannot carry) can repeat.
    """
    seen: set[tuple[str, str]] = set()
    for tc in root.iter("testcase"):
        cls, name = tc.get("classname", ""), tc.get("name", "")
        unique, n = name, 1
        while (cls, unique) in seen:
            n += 1
            unique = f"{name} #{n}"
        if unique != name:
            tc.set("name", unique)
        seen.add((cls, unique))


def junit_document(run: RunResult, arch: str) -> ET.Element:
    """The <testsuites> element for one arch."""
    root = ET.Element("testsuites", {"name": _x(f"kmatrix {run.run_id} {arch}")})
    tests = failures = errors = 0
    total = 0.0
    hosts = [h for h in run.hosts if h.arch == arch]
    for h, label in zip(hosts, _host_labels(hosts)):
        el = _suite_element(run, h, label)
        root.append(el)
        tests += int(el.get("tests", "0"))
        failures += int(el.get("failures", "0"))
        errors += int(el.get("errors", "0"))
        total += float(el.get("time", "0"))
    root.set("tests", str(tests))
    root.set("failures", str(failures))
    root.set("errors", str(errors))
    root.set("time", f"{total:.3f}")
    _make_ids_unique(root)
    return root


def write_junit(run: RunResult, outdir: Path, arches: Optional[list[str]] = None) -> list[Path]:
    """Write `<outdir>/<arch>/junit.xml` for each arch that has hosts; return the paths."""
    outdir = Path(outdir)
    present: list[str] = []
    for h in run.hosts:
        if h.arch not in present:
            present.append(h.arch)
    written = []
    for arch in arches or present:
        root = junit_document(run, arch)
        ET.indent(root)
        data = ET.tostring(root, encoding="utf-8", xml_declaration=True)
        path = outdir / arch / "junit.xml"
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, data + b"\n")
        written.append(path)
    return written
