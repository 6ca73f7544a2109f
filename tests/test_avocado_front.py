"""The avocado front-end (kmatrix.avocado_front), with the real `avocado run` and `avocado diff`.

Two `transport: local` hosts, a small copy of the catalogue. Job 1 runs it as is;
then one check is broken on purpose in that copy (it still loads, attaches and
triggers, then fails) and job 2 runs the same generated module. avocado's
results.xml must match the engine's own results.json verdicts, the engine must
have run once per host per job, and `avocado diff JOB1 JOB2` must show the case
going from PASS to FAIL.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from kmatrix.avocado_front import avocado_exe, render_module

ROOT = Path(__file__).resolve().parent.parent
SUBSET = ("dynptr/from_mem", "dynptr/ringbuf", "trampoline/fentry_fexit")
BROKEN = "dynptr/from_mem"
HOSTS = ("local-a", "local-b")
# kmatrix verdict -> avocado status, and how avocado's xunit writes that status.
STATUS = {"pass": "PASS", "xpass": "PASS", "flaky": "PASS", "fail": "FAIL", "error": "ERROR",
          "skip": "CANCEL", "xfail": "CANCEL"}
XUNIT = {"PASS": [], "FAIL": ["failure"], "ERROR": ["error"], "CANCEL": ["skipped"]}


def test_generated_module_is_valid_python_with_one_method_per_case() -> None:
    config = {"hosts": {"a-b": ["kfunc/x", "dynptr/y"], "a_b": ["kfunc/x"]}, "suite": "s"}
    src = render_module(config)
    ns: dict[str, Any] = {}
    # Compile only: executing needs avocado's Test, which the class bodies do not use.
    code = compile(src, "gen.py", "exec")
    assert code.co_filename == "gen.py"
    assert "class Host_a_b(Test):" in src and "class Host_a_b_(Test):" in src
    assert "def test_kfunc__x(self):" in src and "def test_dynptr__y(self):" in src
    assert "run_case(self, CONFIG, 'a-b', 'dynptr/y')" in src
    exec(src.split("class ")[0].replace("from avocado import Test", "")
         .replace("from kmatrix.avocado_front import run_case", ""), ns)
    assert ns["CONFIG"] == config


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="local transport BPF needs root")
needs_avocado = pytest.mark.skipif(not Path(avocado_exe()).exists() and not shutil.which("avocado"),
                                   reason="avocado-framework is not installed (extra: avocado)")


class Jobs:
    ws: Path
    module: Path
    job1: Path
    job2: Path
    rc1: int
    rc2: int
    out1: str
    out2: str


def _avocado(ws: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.run([avocado_exe(), *args], cwd=ws, capture_output=True, text=True,
                          timeout=900, env=env)


def _latest(jobs: Path) -> Path:
    return (jobs / "latest").resolve()


@pytest.fixture(scope="module")
def jobs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Jobs]:
    ws = tmp_path_factory.mktemp("avocado")
    (ws / "hosts.yaml").write_text("hosts:\n" + "".join(
        f"  - name: {h}\n    arch: x86_64\n    transport: local\n" for h in HOSTS))
    cases = ws / "cases"
    for cid in SUBSET:
        fam, name = cid.split("/")
        (cases / fam).mkdir(parents=True, exist_ok=True)
        for src in (ROOT / "bpf_cases" / fam).glob(f"{name}.*"):
            shutil.copy(src, cases / fam / src.name)
    r = Jobs()
    r.ws = ws
    gen = subprocess.run(
        [sys.executable, "-m", "kmatrix.avocado_front", "generate", "--hosts", "hosts.yaml",
         "--cases-dir", "cases", "--cache-dir",
         str(tmp_path_factory.getbasetemp() / "kmatrix-build-cache"), "-o", "kmatrix_tests.py"],
        cwd=ws, capture_output=True, text=True, timeout=120, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert gen.returncode == 0, gen.stdout + gen.stderr
    r.module = ws / "kmatrix_tests.py"
    # Tests of one host wait for its engine run: let the other host's tests start meanwhile.
    common = ("run", "--job-results-dir", str(ws / "jobs"), "--disable-sysinfo",
              "--max-parallel-tasks", "4", str(r.module))
    p = _avocado(ws, *common)
    r.rc1, r.out1, r.job1 = p.returncode, p.stdout + p.stderr, _latest(ws / "jobs")
    print(r.out1)
    check = cases / f"{BROKEN}.py"
    check.write_text(check.read_text() + "\n\n_real_run = run\n\n\ndef run(t):\n    _real_run(t)\n"
                     "    t.fail('deliberately broken by tests/test_avocado_front.py')\n")
    p = _avocado(ws, *common)
    r.rc2, r.out2, r.job2 = p.returncode, p.stdout + p.stderr, _latest(ws / "jobs")
    print(r.out2)
    yield r


def _xunit(job: Path) -> dict[tuple[str, str], list[str]]:
    """(host, case) -> child tags of its <testcase> in avocado's results.xml."""
    out = {}
    for tc in ET.parse(job / "results.xml").getroot().iter("testcase"):
        cls, meth = tc.get("name").split(":", 1)[1].split(".", 1)
        host = {f"Host_{h.replace('-', '_')}": h for h in HOSTS}[cls]
        case = meth[len("test_"):].replace("__", "/", 1)
        out[(host, case)] = [el.tag for el in tc if el.tag in ("failure", "error", "skipped")]
    return out


def _engine(job: Path) -> dict[tuple[str, str], dict[str, Any]]:
    out = {}
    for h in HOSTS:
        (hr,) = json.loads((job / "kmatrix" / "hosts" / h / "results.json").read_text())["hosts"]
        assert hr["error"] is None and hr["complete"], hr["error"]
        out.update({(h, c["case"]): c for c in hr["cases"]})
    return out


def _engine_runs(job: Path) -> dict[str, int]:
    runs = dict.fromkeys(HOSTS, 0)
    for log in (job / "test-results").glob("*/debug.log"):
        for h in HOSTS:
            runs[h] += log.read_text().count(f"kmatrix: running the engine for host {h} ")
    return runs


@needs_root
@needs_avocado
@pytest.mark.bpf
def test_avocado_run_reports_the_engine_verdicts(jobs: Jobs) -> None:
    assert jobs.rc1 == 0, jobs.out1
    engine = _engine(jobs.job1)
    assert set(engine) == {(h, c) for h in HOSTS for c in SUBSET}
    xunit = _xunit(jobs.job1)
    assert set(xunit) == set(engine)
    for key, cr in engine.items():
        assert xunit[key] == XUNIT[STATUS[cr["verdict"]]], (key, cr["verdict"], xunit[key])
    assert _engine_runs(jobs.job1) == dict.fromkeys(HOSTS, 1), "one engine run per host per job"
    # The results.xml is avocado's own and parses with junitparser too.
    junitparser = pytest.importorskip("junitparser")
    suite = junitparser.JUnitXml.fromfile(str(jobs.job1 / "results.xml"))
    assert suite.tests == len(engine)


@needs_root
@needs_avocado
@pytest.mark.bpf
def test_broken_case_fails_the_job_and_avocado_diff_shows_it(jobs: Jobs) -> None:
    assert jobs.job2 != jobs.job1
    assert jobs.rc2 == 1, jobs.out2  # avocado: some test failed
    engine = _engine(jobs.job2)
    for h in HOSTS:
        cr = engine[(h, BROKEN)]
        assert (cr["state"], cr["verdict"]) == ("fail", "fail")
        assert cr["details"], "the real check ran before the deliberate failure"
        assert _xunit(jobs.job2)[(h, BROKEN)] == ["failure"]
    assert "deliberately broken by tests/test_avocado_front.py" in jobs.out2
    p = _avocado(jobs.ws, "diff", "--diff-filter", "results", str(jobs.job1), str(jobs.job2))
    print(p.stdout)
    assert p.returncode == 0, p.stdout + p.stderr
    cls_meth = BROKEN.replace("/", "__")
    for h in HOSTS:
        cls = f"Host_{h.replace('-', '_')}"
        minus = [ln for ln in p.stdout.splitlines()
                 if ln.startswith("-") and f"{cls}.test_{cls_meth}:" in ln]
        plus = [ln for ln in p.stdout.splitlines()
                if ln.startswith("+") and f"{cls}.test_{cls_meth}:" in ln]
        assert minus and minus[0].endswith(": PASS"), p.stdout
        assert plus and plus[0].endswith(": FAIL"), p.stdout
