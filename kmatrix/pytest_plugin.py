"""pytest front-end: `pytest --kmatrix-hosts hosts.yaml [--arch riscv]`.

Each (host, case) becomes a pytest item, so `-k`, `--junitxml` and pytest-xdist
work as usual. Items do not run cases themselves: the first item of a host runs
the kmatrix engine (kmatrix.runner.Run, the code behind `runners/run`) once for
that host over every item of it that survived selection, and each item then
reports the verdict the engine recorded. Under xdist, every case of a host is
kept on one worker (scheduling by host), so hosts spread across workers and no
host is connected to twice.

Each host's engine run writes OUTPUT/<run-id>/hosts/<host>/ like a normal run;
at the end of the session they are merged into OUTPUT/<run-id>/results.json and
OUTPUT/<run-id>/<arch>/junit.xml, the same files `runners/run` writes.

pytest's own `--junitxml` is kept valid against the Jenkins JUnit schema: each
item's time is its case's own duration, and the kmatrix facts pytest writes as
testcase <properties> (which that schema rejects) are moved into the testcase's
<system-out>, with the testcase renamed to kmatrix's JUnit id.

Registered through the `pytest11` entry point; nothing here is imported or done
unless `--kmatrix-hosts` is given.
"""

from __future__ import annotations

import os
import threading
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, Optional

import pytest

_STATE = "_kmatrix_state"


def pytest_addoption(parser: pytest.Parser) -> None:
    g = parser.getgroup("kmatrix", "kmatrix: run BPF feature cases as pytest items")
    g.addoption("--kmatrix-hosts", default=None, metavar="HOSTS_YAML",
                help="inventory file: each (host, case) becomes a pytest item")
    g.addoption("--arch", dest="kmatrix_arch", default=None, metavar="ARCH",
                help="kmatrix: only hosts of this arch (aliases: x86/amd64, arm64, riscv)")
    g.addoption("--kmatrix-host", action="append", default=[], metavar="NAME",
                help="kmatrix: only this host (repeatable)")
    g.addoption("--kmatrix-suite", default="bpf-core",
                help="kmatrix: suite name in suites/ or a path to a suite YAML")
    g.addoption("--kmatrix-output", default="results", metavar="DIR",
                help="kmatrix: results directory; the session writes DIR/<run-id>/")
    g.addoption("--kmatrix-run-id", default=None, help="kmatrix: name of the run directory")
    g.addoption("--kmatrix-cases-dir", default=None, help="kmatrix: case catalogue")
    g.addoption("--kmatrix-suites-dir", default=None, help="kmatrix: suite directory")
    g.addoption("--kmatrix-cache-dir", default=None, help="kmatrix: build/image cache")
    g.addoption("--kmatrix-trust-on-first-use", action="store_true", default=False,
                help="kmatrix: accept and record unknown host keys (never a changed one)")


class HostFailed(Exception):
    """The engine could not judge this case: the host itself failed (infrastructure)."""


class CaseFailed(Exception):
    """The engine judged this case a failure; the message is the report."""


class State:
    """Per-process session state: options, and each host's engine result once run."""

    def __init__(self, config: pytest.Config) -> None:
        from kmatrix.cli import _cache_dir, _default_root
        from kmatrix.runner import new_run_id

        opt = config.option
        self.config = config
        self.hosts_path = Path(opt.kmatrix_hosts).resolve()
        self.root = _default_root()
        self.cases_dir = Path(opt.kmatrix_cases_dir) if opt.kmatrix_cases_dir else self.root / "bpf_cases"
        self.suites_dir = (Path(opt.kmatrix_suites_dir) if opt.kmatrix_suites_dir
                           else self.root / "suites")
        self.cache_dir = Path(opt.kmatrix_cache_dir) if opt.kmatrix_cache_dir else _cache_dir()
        winput = getattr(config, "workerinput", None)
        # xdist workers take the controller's run id, so every host lands in one run dir.
        self.run_id = (winput or {}).get("kmatrix_run_id") or opt.kmatrix_run_id or new_run_id()
        self.run_dir = Path(opt.kmatrix_output).resolve() / self.run_id
        self.is_worker = winput is not None
        self.items: list[KmatrixCase] = []
        self.suite: Any = None
        self._lock = threading.Lock()
        self._host_results: dict[str, Any] = {}

    def host_result(self, item: KmatrixCase) -> Any:
        """Run the engine for item's host (once per session), then return its HostResult."""
        name = item.host.name
        with self._lock:
            if name not in self._host_results:
                self._host_results[name] = self._run_host(item.host)
            return self._host_results[name]

    def _run_host(self, host: Any) -> Any:
        from kmatrix.progress import Progress
        from kmatrix.runner import Run, RunOptions, _safe

        # Every item of this host still in the session: -k/-m/deselection already applied.
        cases = [it.case for it in self.items if it.host.name == host.name]
        opts = RunOptions(out_dir=self.run_dir / "hosts" / _safe(host.name),
                          cache_dir=self.cache_dir, run_id=self.run_id,
                          trust_on_first_use=bool(self.config.option.kmatrix_trust_on_first_use))
        # Plain lines into the item's captured output; a live table would fight pytest's own.
        run = Run([host], cases, self.suite, opts, Progress(live=False))
        box: dict[str, Any] = {}

        def target() -> None:
            try:
                box["result"] = run.execute()
            except BaseException as e:  # handed to the main thread below
                box["error"] = e

        t = threading.Thread(target=target, name=f"kmatrix-{host.name}", daemon=True)
        t.start()
        try:
            while t.is_alive():
                t.join(0.5)
        except KeyboardInterrupt:
            # The engine stops its hosts, cleans the targets and writes partial results.
            opts.stop.set()
            t.join()
            raise
        if "error" in box:
            raise box["error"]
        (hr,) = box["result"].hosts
        return hr


def _state(config: pytest.Config) -> Optional[State]:
    return getattr(config, _STATE, None)


def pytest_configure(config: pytest.Config) -> None:
    if not config.getoption("kmatrix_hosts", None):
        return
    config.addinivalue_line("markers", "kmatrix: a kmatrix (host, case) item")
    state = State(config)
    setattr(config, _STATE, state)
    hosts = str(state.hosts_path)
    # With no test paths on the command line, the session is the kmatrix items only.
    if config.args_source != pytest.Config.ArgsSource.ARGS:
        config.args = [hosts]
    elif hosts not in [str(Path(a.split("::")[0]).resolve()) for a in config.args]:
        config.args = [*config.args, hosts]


def pytest_report_header(config: pytest.Config) -> Optional[str]:
    state = _state(config)
    if state is None:
        return None
    return f"kmatrix: hosts {state.hosts_path}, results {state.run_dir}"


def pytest_collect_file(file_path: Path, parent: pytest.Collector) -> Optional[pytest.Collector]:
    state = _state(parent.config)
    if state is not None and file_path.resolve() == state.hosts_path:
        return Inventory.from_parent(parent, path=file_path)
    return None


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    state = _state(config)
    if state is not None:
        state.items = [it for it in items if isinstance(it, KmatrixCase)]


def pytest_deselected(items: list[pytest.Item]) -> None:
    # -k/-m deselect after our modifyitems ran on some setups: keep the list exact.
    if not items:
        return
    state = _state(items[0].config)
    if state is not None:
        gone = {id(it) for it in items}
        state.items = [it for it in state.items if id(it) not in gone]


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """xdist controller → workers: share the run id."""
    state = _state(node.config)
    if state is not None:
        node.workerinput["kmatrix_run_id"] = state.run_id


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """Schedule by host: nodeids are HOSTS_YAML::HOST::CASE, so the scope is the host."""
    if _state(config) is None or getattr(config.option, "dist", "") == "each":
        return None
    from xdist.scheduler import LoadScopeScheduling

    return LoadScopeScheduling(config, log)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    rep = yield
    if not isinstance(item, KmatrixCase):
        return rep
    cr = item.result
    # JUnit's testcase time is the sum of the item's phases. Setup waits for (or
    # runs) the whole host's engine run, which is no single case's time.
    rep.duration = float(cr.duration or 0.0) if (call.when == "call" and cr is not None) else 0.0
    if call.when == "call" and rep.passed and cr is not None and cr.verdict == "xpass":
        # pytest's own XPASS: passed, with the expectation as the xfail reason.
        rep.wasxfail = _expectation_text(cr) or "an expectation says this case fails"
    return rep


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Merge per-host engine results into the files a `runners/run` run writes."""
    state = _state(session.config)
    if state is None or state.is_worker:
        return
    parts = sorted((state.run_dir / "hosts").glob("*/results.json"))
    if not parts:
        return
    from kmatrix.report.jsonout import read_results, write_results
    from kmatrix.report.junit import write_junit
    from kmatrix.report.merge import merge

    merged = merge([read_results(p) for p in parts], run_id=state.run_id)
    write_results(merged, state.run_dir / "results.json")
    write_junit(merged, state.run_dir)


def pytest_unconfigure(config: pytest.Config) -> None:
    # After pytest_sessionfinish, where pytest's junitxml plugin wrote the file.
    state = _state(config)
    xmlpath = getattr(config.option, "xmlpath", None)
    if state is None or state.is_worker or not xmlpath:
        return
    path = Path(os.path.abspath(os.path.expanduser(os.path.expandvars(xmlpath))))
    if path.is_file():
        tidy_junitxml(path, getattr(config.option, "junitprefix", None))


def tidy_junitxml(path: Path, prefix: Optional[str] = None) -> None:
    """Make pytest's --junitxml valid against the Jenkins schema (tests/data/junit-10.xsd).

    pytest writes each item's user_properties as <properties> inside its
    <testcase>; the schema has no such element, so for kmatrix items they become
    "name: value" lines of <system-out> (shown by GitLab and Jenkins). The testcase
    takes kmatrix's JUnit id (classname kmatrix.<arch>.<host>.<family>, name <case>),
    so a case reads the same in both front-ends' JUnit.
    """
    from kmatrix.fileutil import atomic_write

    tree = ET.parse(path)
    changed = [tc for tc in tree.getroot().iter("testcase") if _tidy_testcase(tc, prefix)]
    if changed:
        atomic_write(path, ET.tostring(tree.getroot(), encoding="utf-8", xml_declaration=True))


def _tidy_testcase(tc: ET.Element, prefix: Optional[str]) -> bool:
    from kmatrix.report.junit import case_id_parts

    props_el = tc.find("properties")
    if props_el is None:
        return False
    props = [(p.get("name", ""), p.get("value", "")) for p in props_el.iter("property")]
    facts = dict(props)
    if "kmatrix.case" not in facts:
        return False  # not ours: a plain test in the same session
    tc.remove(props_el)
    family, name = case_id_parts(facts["kmatrix.case"])
    classname = f"kmatrix.{facts.get('kmatrix.arch', '')}.{facts.get('kmatrix.host', '')}.{family}"
    tc.set("classname", f"{prefix}.{classname}" if prefix else classname)
    tc.set("name", name)
    out = tc.find("system-out")
    if out is None:
        out = ET.SubElement(tc, "system-out")
    lines = "\n".join(f"{k}: {v}" for k, v in props)
    out.text = lines + ("\n" + out.text if out.text else "")
    return True


class Inventory(pytest.File):
    """hosts.yaml: one collector per selected host."""

    def collect(self) -> Any:
        from kmatrix.catalog import load_catalog
        from kmatrix.inventory import load_hosts, select_hosts
        from kmatrix.runner import select_cases
        from kmatrix.suite import find_suite, load_suite

        state = _state(self.config)
        assert state is not None
        opt = self.config.option
        cases = load_catalog(state.cases_dir)
        state.suite = load_suite(find_suite(opt.kmatrix_suite, state.suites_dir),
                                 [c.id for c in cases])
        chosen = select_cases(cases, state.suite, None, None)
        hosts = select_hosts(load_hosts(self.path), arch=opt.kmatrix_arch,
                             names=opt.kmatrix_host or None)
        for h in hosts:
            yield HostNode.from_parent(self, name=h.name, host=h, cases=chosen)

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> Any:
        from kmatrix.errors import KmatrixError

        if isinstance(excinfo.value, KmatrixError):
            return str(excinfo.value)  # FILE:LINE: FIELD: MESSAGE, one line
        return super().repr_failure(excinfo, style=style)


class HostNode(pytest.Collector):
    def __init__(self, *, host: Any, cases: list[Any], **kw: Any) -> None:
        super().__init__(**kw)
        self.host = host
        self.cases = cases

    def collect(self) -> Any:
        for c in self.cases:
            yield KmatrixCase.from_parent(self, name=c.id, host=self.host, case=c)


class KmatrixCase(pytest.Item):
    def __init__(self, *, host: Any, case: Any, **kw: Any) -> None:
        super().__init__(**kw)
        self.host = host
        self.case = case
        self.result: Any = None
        self.add_marker("kmatrix")
        # -k can name the host, its arch, the family or the case.
        self.extra_keyword_matches.update({host.name, host.arch, case.family, case.name})

    def setup(self) -> None:
        state = _state(self.config)
        assert state is not None
        # Before the engine runs: tidy_junitxml names the testcase from these even if it fails.
        self.user_properties += [("kmatrix.case", self.case.id), ("kmatrix.host", self.host.name),
                                 ("kmatrix.arch", self.host.arch)]
        hr = state.host_result(self)
        self.result = next((c for c in hr.cases if c.case == self.case.id), None)
        self.user_properties.append(("kmatrix.kernel", hr.kernel))
        if self.result is None:
            raise HostFailed(f"host {self.host.name}: "
                             + (hr.error or "the engine recorded no result for this case"))

    def runtest(self) -> None:
        cr = self.result
        self.user_properties += [("kmatrix.verdict", cr.verdict), ("kmatrix.state", cr.state)]
        if cr.reason_class:
            self.user_properties.append(("kmatrix.reason_class", cr.reason_class))
        if cr.verdict == "skip":
            pytest.skip(f"[{cr.reason_class or 'expectation'}] {cr.reason}")
        if cr.verdict == "xfail":
            pytest.xfail(f"{cr.reason} (expected: {_expectation_text(cr)})")
        if cr.verdict in ("fail", "error"):
            raise CaseFailed(_failure_text(cr))

    def repr_failure(self, excinfo: pytest.ExceptionInfo[BaseException],
                     style: Any = None) -> Any:
        if isinstance(excinfo.value, (CaseFailed, HostFailed)):
            return str(excinfo.value)
        return super().repr_failure(excinfo, style=style)

    def reportinfo(self) -> tuple[Any, Optional[int], str]:
        return self.path, None, f"{self.host.name} ({self.host.arch}): {self.case.id}"


def _expectation_text(cr: Any) -> str:
    exp = cr.expectation or {}
    bits = [str(exp.get(k)) for k in ("reason", "link") if exp.get(k)]
    return " ".join(bits)


def _failure_text(cr: Any) -> str:
    from kmatrix.report import excerpt

    lines = [f"{cr.case}: {cr.verdict.upper()} (state {cr.state}): {cr.reason or 'no reason given'}"]
    for title, text in (("verifier log", cr.verifier_log), ("output", cr.output),
                        ("dmesg", "\n".join(cr.dmesg))):
        if text:
            lines += [f"--- {title} (tail) ---", excerpt(text, 30)]
    if cr.details:
        lines.append(f"details: {cr.details}")
    return "\n".join(lines)
