"""Build the agent.pyz zipapp shipped to a target (one upload per host and run).

Layout: __main__.py, kmatrix_agent/ (the agent package), cases/<id>.py,
objs/<id>.bpf.o (build: local) or src/<id>.bpf.c (build: remote), plan.json.
"""

from __future__ import annotations

import json
import os
import zipfile
from contextlib import ExitStack
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional

from kmatrix.catalog import Case

AGENT_DIR = Path(__file__).resolve().parent / "agent"

MAIN = """\
import os
import sys

from kmatrix_agent.main import main

sys.exit(main(sys.argv[1:], archive=os.path.abspath(sys.argv[0])))
"""

_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed timestamps: same inputs, same bytes


def make_plan(cases: Iterable[Case], *, run_id: str, workdir: str, arch: str,
              build: str = "local", outcomes: Optional[Mapping[str, Any]] = None,
              resume_after: Iterable[str] = (), facts: Optional[dict[str, Any]] = None
              ) -> dict[str, Any]:
    """A plan.json dict. `outcomes` maps case id -> BuildOutcome (build: local);
    a failed one becomes the case's `build_error`, which the agent reports as fail."""
    entries = []
    for c in cases:
        e: dict[str, Any] = {"id": c.id, "timeout": c.timeout, "meta": c.meta}
        o = (outcomes or {}).get(c.id)
        if o is not None and not o.ok:
            e["build_error"] = o.output
        entries.append(e)
    plan: dict[str, Any] = {"run_id": run_id, "workdir": workdir, "arch": arch,
                            "cases": entries, "resume_after": list(resume_after),
                            "build": build}
    if facts is not None:
        # Lets the agent skip recomputing what the preflight already found.
        keep = ("uname", "kernel_config", "kernel_config_source", "btf", "pmus",
                "bpf_jit_enable", "ftrace")
        plan["facts"] = {k: facts[k] for k in keep if k in facts}
    return plan


def _add(z: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=_EPOCH)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    z.writestr(info, data)


def make_bundle(cases: Iterable[Case], objects: Mapping[str, Path], plan: dict[str, Any],
                out: Path, sources: Optional[Mapping[str, Path]] = None) -> Path:
    """Write agent.pyz to `out`; fills each plan entry's check/obj/src names."""
    out = Path(out)
    by_id = {c.id: c for c in cases}
    plan = json.loads(json.dumps(plan))  # a copy we may annotate
    if not plan.get("cases"):
        plan["cases"] = [{"id": c.id, "timeout": c.timeout, "meta": c.meta}
                         for c in by_id.values()]
    remote = plan.get("build") == "remote"
    tmp = out.with_name(f".{out.name}.{os.getpid()}")
    # zipapp convention: a shebang line, then the zip written through the same file.
    with ExitStack() as stack:
        fh = stack.enter_context(open(tmp, "wb"))
        fh.write(b"#!/usr/bin/env python3\n")
        z = stack.enter_context(zipfile.ZipFile(fh, "w"))
        _add(z, "__main__.py", MAIN.encode())
        for py in sorted(AGENT_DIR.glob("*.py")):
            _add(z, f"kmatrix_agent/{py.name}", py.read_bytes())
        for entry in plan["cases"]:
            case = by_id.get(entry["id"])
            if case is None:
                raise KeyError(f"plan names case {entry['id']!r} that is not in `cases`")
            entry["check"] = f"cases/{case.id}.py"
            _add(z, entry["check"], case.check.read_bytes())
            # CASE["files"]: extra files next to the check (e.g. a module's source).
            files = {}
            for rel in case.meta.get("files") or []:
                files[rel] = f"files/{case.id}/{rel}"
                _add(z, files[rel], (case.check.parent / rel).read_bytes())
            if files:
                entry["files"] = files
            if not case.build:
                continue
            if remote:
                src = (sources or {}).get(case.id) or case.src
                if src is not None:
                    entry["src"] = f"src/{case.id}.bpf.c"
                    _add(z, entry["src"], Path(src).read_bytes())
            elif case.id in objects:
                entry["obj"] = f"objs/{case.id}.bpf.o"
                _add(z, entry["obj"], Path(objects[case.id]).read_bytes())
        _add(z, "plan.json", json.dumps(plan, indent=1, sort_keys=True).encode())
    tmp.chmod(0o755)
    os.replace(tmp, out)
    return out
