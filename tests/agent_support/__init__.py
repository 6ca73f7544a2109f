"""Helpers for the agent tests: build a catalogue, bundle it, run the agent."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any, Iterable, Optional

import pytest

from kmatrix.build import Builder
from kmatrix.bundle import make_bundle, make_plan
from kmatrix.catalog import Case, load_catalog

HERE = Path(__file__).resolve().parent
SUPPORT_CASES = HERE / "cases"
BTF = Path("/sys/kernel/btf/vmlinux")


def bundle(cases: list[Case], tmp: Path, cache: Path, *, build: str = "local",
           resume_after: Iterable[str] = (), run_id: str = "test") -> tuple[Path, Path, dict]:
    """Build (for build=local) and bundle `cases`; returns (agent.pyz, workdir, outcomes)."""
    workdir = tmp / "work"
    workdir.mkdir(mode=0o700, exist_ok=True)
    outcomes: dict[str, Any] = {}
    if build == "local":
        outcomes = Builder(cache).build_host(cases, BTF, "x86_64")
    plan = make_plan(cases, run_id=run_id, workdir=str(workdir), arch="x86_64", build=build,
                     outcomes=outcomes, resume_after=resume_after)
    objects = {cid: o.obj_path for cid, o in outcomes.items() if o.ok and o.obj_path}
    pyz = make_bundle(cases, objects, plan, workdir / "agent.pyz")
    return pyz, workdir, outcomes


def run_agent(pyz: Path, *extra: str, python: Optional[str] = None,
              timeout: float = 300) -> tuple[list[dict], str, subprocess.CompletedProcess]:
    py = python or shutil.which("python3") or "python3"
    p = subprocess.run([py, str(pyz), "run", *extra], capture_output=True, text=True,
                       timeout=timeout)
    events = [json.loads(line) for line in p.stdout.splitlines()]
    return events, p.stdout, p


def results(events: list[dict]) -> dict[str, dict]:
    return {e["case"]: e for e in events if e["event"] == "result"}


# Every test that loads BPF on this machine through the agent carries these marks.
NEEDS_BPF = [
    pytest.mark.bpf,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for BPF"),
    pytest.mark.skipif(not BTF.exists(), reason="needs kernel BTF"),
]

# The skips the agent decides with a sentence: each is a true verdict of some kernel.
TRUE_SKIPS = ("kernel-lacks", "environment-blocks", "hardware-missing")


def passed(r: dict) -> dict:
    """A case's details when it passed on this machine's kernel.

    The machines that run the tests change kernel builds (a vendor 6.18.44 refuses
    bpf_dynptr_slice_rdwr in tc programs with EPERM), so a classified skip is a true
    verdict too (true_verdict): the value checks cannot run and the test is skipped
    naming it.
    """
    if not true_verdict(r):
        pytest.skip(f"{r['case']}: {r['reason_class']}: {r['reason']}")
    return r["details"]


def run_family(tmp: Path, family: str, *, timeout: float = 900,
               all_built: bool = True) -> dict[str, Any]:
    """Build, bundle and run every case of a real `family` through the agent.

    Returns {"res": case id -> result event, "outcomes": build outcomes, "ids": [...]}.
    """
    root = tmp / "bpf_cases"
    root.mkdir()
    shutil.copytree(HERE.parent.parent / "bpf_cases" / family, root / family)
    cases = load_catalog(root)
    pyz, _workdir, outcomes = bundle(cases, tmp, tmp / "cache")
    if all_built:
        bad = {k: o.output for k, o in outcomes.items() if not o.ok}
        assert bad == {}, bad
    events, _out, proc = run_agent(pyz, timeout=timeout)
    assert proc.returncode == 0, proc.stderr
    res = results(events)
    assert sorted(res) == sorted(c.id for c in cases)
    return {"res": res, "outcomes": outcomes, "ids": [c.id for c in cases]}


def support_catalog(tmp: Path, names: Iterable[str]) -> list[Case]:
    """Copy the named support cases (family/name) into a fresh catalogue and load it."""
    root = tmp / "bpf_cases"
    for n in names:
        fam, name = n.split("/")
        (root / fam).mkdir(parents=True, exist_ok=True)
        for ext in (".py", ".bpf.c"):
            src = SUPPORT_CASES / fam / (name + ext)
            if src.exists():
                shutil.copy(src, root / fam / src.name)
    return load_catalog(root)


def bpftool_ids(kind: str) -> set[int]:
    out = subprocess.run(["bpftool", "-j", kind, "show"], capture_output=True, text=True,
                         check=True, timeout=60).stdout
    return {int(i["id"]) for i in json.loads(out or "[]")}


def true_verdict(r: dict, skip_words: Optional[Iterable[str]] = None) -> bool:
    """Assert `r` (a result event) is a verdict a varying host kernel may truly give:
    a pass, or a skip of a class the agent decides (TRUE_SKIPS) with a sentence saying
    why, naming one of `skip_words` when given (what the kernel lacks or what blocks
    it). Returns whether it passed (the caller then checks the values); a fail, an
    error or a bare skip fails the test."""
    if r["state"] == "pass":
        return True
    shown = json.dumps(r, indent=1)
    assert r["state"] == "skip", shown
    assert r.get("reason_class") in TRUE_SKIPS and len(r.get("reason") or "") > 20, shown
    if skip_words is not None:
        words = list(skip_words)
        assert any(w in r["reason"] for w in words), (words, shown)
    return False
