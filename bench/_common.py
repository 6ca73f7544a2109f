"""Shared helpers for the bench/ scripts (not a bench itself).

Exit codes of every bench: 0 every target judged was met, 1 a target was missed,
2 the bench could not measure (missing tool, host, image...).
KMATRIX_BENCH_CASES=DIR runs another catalogue than bpf_cases/.
"""

from __future__ import annotations

import json
import os
import resource
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

ROOT = Path(__file__).resolve().parent.parent
TESTS = ROOT / "tests"
for _p in (str(ROOT), str(TESTS)):
    if _p not in sys.path:
        sys.path.insert(0, _p)

VENV_PY = ROOT / ".venv" / "bin" / "python"
KMATRIX = ROOT / ".venv" / "bin" / "kmatrix"
RUNNERS_RUN = ROOT / "runners" / "run"
DATA = ROOT / "bench" / "data"
# The catalogue the benches run (a snapshot can be pinned while bpf_cases/ is being edited).
CASES = Path(os.environ.get("KMATRIX_BENCH_CASES") or ROOT / "bpf_cases")

EXIT_MET, EXIT_MISSED, EXIT_UNMEASURED = 0, 1, 2


@dataclass
class Verdict:
    """Collects target checks; prints them and picks the exit code."""

    name: str
    rows: list[tuple[str, bool, str]] = field(default_factory=list)
    unmeasured: list[str] = field(default_factory=list)

    def check(self, target: str, ok: bool, figure: str) -> None:
        self.rows.append((target, ok, figure))

    def cannot(self, target: str, why: str) -> None:
        self.unmeasured.append(f"{target}: {why}")

    def finish(self) -> int:
        print(f"\n== {self.name}: verdict")
        for target, ok, figure in self.rows:
            print(f"  [{'MET ' if ok else 'MISS'}] {target}: {figure}")
        for u in self.unmeasured:
            print(f"  [N/A ] {u}")
        if any(not ok for _t, ok, _f in self.rows):
            return EXIT_MISSED
        if self.unmeasured:
            return EXIT_UNMEASURED
        return EXIT_MET


def maxrss_mib() -> float:
    """Peak resident set of this process in MiB (ru_maxrss is KiB on Linux)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def write_hosts(path: Path, hosts: list[dict[str, Any]]) -> Path:
    """A hosts.yaml from plain dicts (values are simple scalars)."""
    out = ["hosts:"]
    for h in hosts:
        first = True
        for k, v in h.items():
            prefix = "  - " if first else "    "
            first = False
            if isinstance(v, dict):
                out.append(f"{prefix}{k}:")
                out.extend(f"      {kk}: {json.dumps(vv)}" for kk, vv in v.items())
            else:
                out.append(f"{prefix}{k}: {json.dumps(v)}")
    path.write_text("\n".join(out) + "\n")
    return path


def sshd_host(name: str, info: Any) -> dict[str, Any]:
    """A hosts.yaml entry for a tests/sshd.py SshdInfo."""
    return {"name": name, "arch": "x86_64", "address": "127.0.0.1", "port": info.port,
            "user": info.user, "identity_file": str(info.user_key_path),
            "known_hosts": str(info.known_hosts_path)}


def ssh_host(name: str, info: Any, transport: str = "ssh") -> Any:
    """A Host object for a tests/sshd.py SshdInfo (``transport="record"`` to trace it)."""
    from kmatrix.inventory import Host

    return Host(name=name, arch="x86_64", address="127.0.0.1", port=info.port, user=info.user,
                identity_file=str(info.user_key_path), known_hosts=str(info.known_hosts_path),
                transport=transport)


def loadavg() -> str:
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def replicate_catalog(src: Path, dst: Path, copies: int) -> Path:
    """A catalogue with every case present ``copies`` times (``<name>_rNN`` copies).

    Copies keep their content, so they share build-cache objects with the original
    (the cache key is the source's content, not its name).
    """
    if dst.exists():
        shutil.rmtree(dst)
    shutil.copytree(src, dst)
    if copies <= 1:
        return dst
    for fam in sorted(p for p in dst.iterdir() if p.is_dir() and p.name != "include"):
        # A case is a check, a .bpf.c, or both (a tag-only .bpf.c has no check).
        names = {p.stem for p in fam.glob("*.py")} | {p.name[:-6] for p in fam.glob("*.bpf.c")}
        for name in sorted(names):
            for i in range(1, copies):
                for ext in (".py", ".bpf.c"):
                    if (fam / f"{name}{ext}").exists():
                        shutil.copyfile(fam / f"{name}{ext}", fam / f"{name}_r{i:02d}{ext}")
    return dst


def run_kmatrix(hosts: Path, out: Path, run_id: str, cache: Path, *extra: str,
                via_runners: bool = True, timeout: float = 1800) -> tuple[float, int, str]:
    """Run `runners/run` (or the venv's `kmatrix run`); (wall seconds, exit code, stderr)."""
    argv = [str(RUNNERS_RUN) if via_runners else str(KMATRIX)]
    if not via_runners:
        argv.append("run")
    argv += ["--hosts", str(hosts), "--output", str(out), "--run-id", run_id,
             "--cache-dir", str(cache), *extra]
    env = dict(os.environ, KMATRIX_CACHE=str(cache))
    t = time.monotonic()
    p = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=timeout)
    return time.monotonic() - t, p.returncode, p.stderr


def read_results(run_dir: Path) -> dict[str, Any]:
    return json.loads((run_dir / "results.json").read_text())


def case_time(host: dict[str, Any]) -> float:
    """Sum of the case durations the agent measured on the target."""
    return sum(float(c.get("duration") or 0.0) for c in host.get("cases", []))


def fmt_s(x: Optional[float]) -> str:
    return "-" if x is None else f"{x:.3f}s"


def table(headers: list[str], rows: list[list[Any]]) -> str:
    cells = [headers] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in cells]
    lines.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(lines)


def in_process_run(hosts: list[Any], out: Path, cache: Path, *, cases_dir: Optional[Path] = None,
                   pattern: Optional[str] = None, suite: str = "bpf-core",
                   case_ids: Optional[set[str]] = None, max_workers: Optional[int] = None,
                   quiet: bool = True) -> tuple[Any, float]:
    """Drive the real Run/HostRun in this process; (RunResult, wall seconds of execute).

    ``case_ids`` keeps only those cases (a recorded trace knows only its own);
    ``max_workers`` overrides the runner's host thread pool size.
    """
    import io

    from kmatrix.catalog import load_catalog
    from kmatrix.progress import Progress
    from kmatrix.runner import Run, RunOptions, select_cases
    from kmatrix.suite import find_suite, load_suite

    cases = load_catalog(cases_dir or CASES)
    s = load_suite(find_suite(suite, ROOT / "suites"), [c.id for c in cases])
    chosen = select_cases(cases, s, pattern, None)
    if case_ids is not None:
        chosen = [c for c in chosen if c.id in case_ids]
    opts = RunOptions(out_dir=out, cache_dir=cache, run_id=out.name)
    progress = Progress(stream=io.StringIO(), quiet=True) if quiet else Progress()
    run = Run(hosts, chosen, s, opts, progress)
    if max_workers is not None:
        run.max_workers = max_workers
    t = time.monotonic()
    result = run.execute()
    return result, time.monotonic() - t


def local_btf_sha() -> Optional[str]:
    import hashlib

    try:
        return hashlib.sha256(Path("/sys/kernel/btf/vmlinux").read_bytes()).hexdigest()
    except OSError:
        return None


def seed_btf_cache(cache: Path) -> Optional[str]:
    """Put this machine's BTF in the runner's BTF cache (what a warm CI cache holds)."""
    import hashlib

    try:
        blob = Path("/sys/kernel/btf/vmlinux").read_bytes()
    except OSError:
        return None
    sha = hashlib.sha256(blob).hexdigest()
    d = cache / "btf"
    d.mkdir(parents=True, exist_ok=True)
    if not (d / f"{sha}.btf").exists():
        (d / f"{sha}.btf").write_bytes(blob)
    return sha
