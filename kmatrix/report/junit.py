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

import io
import json
import re
from pathlib import Path
from typing import Any, Optional

from junitparser import Error, Failure, Skipped
from junitparser.xunit2 import FlakyFailure, JUnitXml, TestCase, TestSuite

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


def _unique(seen: set[tuple[str, str]], classname: str, name: str) -> str:
    """`name`, or `name #2`, ... when (classname, name) is already in the file:
    readers key on that pair. With the host in the classname only a case listed
    twice in one host (or ids that differ only in characters XML cannot carry)
    can repeat."""
    unique, n = name, 1
    while (classname, unique) in seen:
        n += 1
        unique = f"{name} #{n}"
    seen.add((classname, unique))
    return unique


def _time(seconds: Optional[float]) -> float:
    # Rounded to ms: junitparser writes str(float), and a rounded value never
    # takes the "1e-05" form the schema's time pattern rejects.
    return round(float(seconds or 0.0), 3)


def _testcase(c: CaseResult, arch: str, host: str,
              seen: set[tuple[str, str]]) -> tuple[TestCase, str]:
    v = verdict_of(c)
    family, name = case_id_parts(c.case, c.family)
    classname = _x(f"kmatrix.{arch}.{host}.{family}")
    tc = TestCase(_unique(seen, classname, _x(name)), classname, _time(c.duration))
    if v == V_FAIL:
        tc.result = [_result(Failure, c.reason or "failed", "regression", _case_text(c))]
    elif v == V_ERROR:
        tc.result = [_result(Error, c.reason or "error", "error", _case_text(c))]
    elif v == V_SKIP:
        msg = _x(f"[{c.reason_class or 'unclassified'}] {c.reason}")
        tc.result = [_result(Skipped, msg, "skipped", msg)]
    elif v == V_XFAIL:
        msg = _x(f"xfail: {_exp_reason(c)} ({_link(c)})")
        tc.result = [_result(Skipped, msg, "skipped",
                             "\n".join(filter(None, (msg, _case_text(c)))))]
    elif v == V_XPASS:
        tc.system_out = _x(
            f"XPASS: {c.case} passed, but suite {(c.expectation or {}).get('suite', '')} "
            f"expects it to fail: {_exp_reason(c)} ({_link(c)}). "
            "The expectation may be stale."
        )
    elif v == V_FLAKY:
        # Surefire's <flakyFailure>: passed in the end, so not counted as a failure.
        tc.add_interim_result(_result(FlakyFailure, c.reason or "flaky", "flaky", _case_text(c)))
        tc.system_out = _x(f"FLAKY: failed, then passed on attempt {c.attempts}: {c.reason}")
    elif v == V_PASS and c.details:
        tc.system_out = _x("details: " + json.dumps(c.details, sort_keys=True, default=str))
    return tc, v


def _result(kind: Any, message: str, type_: str, text: str) -> Any:
    r = kind(_x(message), type_)
    r.text = text
    return r


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


def _suite(run: RunResult, h: HostResult, label: str,
           seen: set[tuple[str, str]]) -> TestSuite:
    cases = sorted(h.cases, key=lambda c: c.case)
    built = [_testcase(c, h.arch, label, seen) for c in cases]
    tcs = [tc for tc, _ in built]
    if h.error:
        classname = _x(f"kmatrix.{h.arch}.{label}")
        tc = TestCase(_unique(seen, classname, "host"), classname, 0.0)
        tc.result = [_result(Error, h.error, "host-error", _x(h.error))]
        tcs.append(tc)
    xpass = [c.case for c, (_, v) in zip(cases, built) if v == V_XPASS]
    flaky = [c.case for c, (_, v) in zip(cases, built) if v == V_FLAKY]
    ts = TestSuite(label)
    ts.hostname = _x(h.name)
    ts.id = _x(run.run_id) or None
    ts.package = _x(f"kmatrix.{h.arch}")
    ts.timestamp = _x(run.started) or None
    # Properties first: junitparser appends children in call order.
    for k, val in _properties(run, h, label, xpass, flaky).items():
        ts.add_property(k, val)
    ts.add_testcases(tcs)  # counts tests/failures/errors/skipped and sums the time
    return ts


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


def junit_document(run: RunResult, arch: str) -> JUnitXml:
    """The <testsuites> document for one arch; junitparser keeps the totals."""
    doc = JUnitXml(_x(f"kmatrix {run.run_id} {arch}"))
    seen: set[tuple[str, str]] = set()
    hosts = [h for h in run.hosts if h.arch == arch]
    for h, label in zip(hosts, _host_labels(hosts)):
        # append, not add_testsuite: the labels are unique, and add_testsuite's search
        # for a suite to merge into made 1,000 hosts cost 3.6 s (quadratic).
        doc.append(_suite(run, h, label, seen))
    doc.update_statistics()
    return doc


def write_junit(run: RunResult, outdir: Path, arches: Optional[list[str]] = None) -> list[Path]:
    """Write `<outdir>/<arch>/junit.xml` for each arch that has hosts; return the paths."""
    outdir = Path(outdir)
    present: list[str] = []
    for h in run.hosts:
        if h.arch not in present:
            present.append(h.arch)
    written = []
    for arch in arches or present:
        buf = io.BytesIO()
        # Not pretty=True: that goes through minidom, which (before Python 3.13)
        # writes a newline inside an attribute unescaped, so a reader would see a space.
        junit_document(run, arch).write(buf)
        path = outdir / arch / "junit.xml"
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, buf.getvalue() + b"\n")
        written.append(path)
    return written
