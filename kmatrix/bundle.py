"""Build the agent.pyz zipapp shipped to a target (one upload per host and run).

Layout: __main__.py, kmatrix_agent/ (the agent package), cases/<id>.py,
objs/<id>.bpf.o (build: local) or src/<id>.bpf.c plus include/*.h, the shared
headers such as kmatrix.h (build: remote), plan.json, lib/libbpf.so.1 when
the agent brings its own libbpf (kmatrix/libbpf_bundle.py), and kmod/<key>.ko,
kernel modules built on the target by an earlier run (kmatrix/kmod_cache.py).
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import threading
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional

from kmatrix.build import shared_include_dirs
from kmatrix.catalog import TAGGED_CHECK, Case, shipped_file
from kmatrix.libbpf_bundle import BUNDLE_MEMBER, BundledLib

AGENT_DIR = Path(__file__).resolve().parent / "agent"


def agent_source(*names: str) -> bytes:
    """Agent modules free of package imports, concatenated into one script for
    ``python3 -`` or the launcher (preflight.py, launch.py, btf.py, probes.py).
    reasons.py comes first: those modules use its names when not in the package."""
    return b"\n".join((AGENT_DIR / n).read_bytes() for n in ("reasons.py", *names))

MAIN = """\
import os
import sys

from kmatrix_agent.main import main

sys.exit(main(sys.argv[1:], archive=os.path.abspath(sys.argv[0])))
"""

_EPOCH = (1980, 1, 1, 0, 0, 0)  # fixed timestamps: same inputs, same bytes


def plan_entry(c: Case) -> dict[str, Any]:
    """A plan entry: the effective timeout travels as entry["timeout"] only (not
    also as meta["timeout"]), so the agent has one value to obey."""
    meta = {k: v for k, v in c.meta.items() if k != "timeout"}
    return {"id": c.id, "timeout": c.timeout, "meta": meta}


def make_plan(cases: Iterable[Case], *, run_id: str, workdir: str, arch: str,
              build: str = "local", outcomes: Optional[Mapping[str, Any]] = None,
              resume_after: Iterable[str] = (), facts: Optional[dict[str, Any]] = None,
              kmods: Optional[Mapping[str, Path]] = None) -> dict[str, Any]:
    """A plan.json dict. `outcomes` maps case id -> BuildOutcome (build: local);
    a failed one becomes the case's `build_error`, which the agent reports as fail.
    `kmods` (kmatrix.kmod_cache.for_bundle: module key -> cached .ko) become
    plan["kmods"] = {key: bundle member}, the modules the agent need not build."""
    entries = []
    for c in cases:
        e = plan_entry(c)
        o = (outcomes or {}).get(c.id)
        if o is not None and not o.ok:
            e["build_error"] = o.output
        entries.append(e)
    plan: dict[str, Any] = {"run_id": run_id, "workdir": workdir, "arch": arch,
                            "cases": entries, "resume_after": list(resume_after),
                            "build": build, "kmods": kmod_members(kmods)}
    if facts is not None:
        # Lets the agent skip recomputing what the preflight already found.
        from kmatrix.agent.preflight import AGENT_FACTS

        plan["facts"] = {k: facts[k] for k in AGENT_FACTS if k in facts}
    return plan


def kmod_members(kmods: Optional[Mapping[str, Path]]) -> dict[str, str]:
    """{module key: bundle member name} of the cached modules a bundle carries."""
    return {key: f"kmod/{key}.ko" for key in sorted(kmods or {})}


def _add(z: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, date_time=_EPOCH)
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    z.writestr(info, data)


def _member_id(path: Path) -> tuple[str, int, int, int]:
    st = path.stat()
    return (str(path), st.st_ino, st.st_size, st.st_mtime_ns)


# Every host of a run ships the same agent, checks and (per kernel) objects; only
# plan.json differs. The shebang + shared members are deflated once per distinct
# member set and kept here; each host's bundle appends its plan.json to a copy.
_BASES: OrderedDict[tuple[Any, ...], bytes] = OrderedDict()
_BASES_MAX = 16
_BASES_LOCK = threading.Lock()


def _base(members: list[tuple[str, Path]]) -> bytes:
    key = tuple((name, _member_id(path)) for name, path in members)
    with _BASES_LOCK:
        if key in _BASES:
            _BASES.move_to_end(key)
            return _BASES[key]
    buf = io.BytesIO()
    # zipapp convention: a shebang line, then the zip written through the same
    # stream (offsets count from the file's start, so appending stays valid).
    buf.write(b"#!/usr/bin/env python3\n")
    with zipfile.ZipFile(buf, "w") as z:
        _add(z, "__main__.py", MAIN.encode())
        for name, path in members:
            _add(z, name, path.read_bytes())
    data = buf.getvalue()
    with _BASES_LOCK:
        _BASES[key] = data
        while len(_BASES) > _BASES_MAX:
            _BASES.popitem(last=False)
    return data


def _libbpf_members(plan: dict[str, Any], lib: Optional[BundledLib]) -> list[tuple[str, Path]]:
    """Set plan["libbpf"]; the bundled file is a member like any other (cached in _base)."""
    if lib is None:
        if (plan.get("libbpf") or {}).get("mode", "system") != "system":
            raise ValueError("plan asks for a bundled libbpf but make_bundle got none")
        plan["libbpf"] = {"mode": "system"}
        return []
    plan["libbpf"] = lib.plan_entry()
    return [(BUNDLE_MEMBER, Path(lib.path))]


def make_bundle(cases: Iterable[Case], objects: Mapping[str, Path], plan: dict[str, Any],
                out: Path, sources: Optional[Mapping[str, Path]] = None,
                libbpf: Optional[BundledLib] = None,
                kmods: Optional[Mapping[str, Path]] = None) -> Path:
    """Write agent.pyz to `out`; fills each plan entry's check/obj/src names.

    `kmods` (module key -> cached .ko, kmatrix.kmod_cache.for_bundle) ship as
    kmod/<key>.ko and plan["kmods"] names them.

    With `libbpf` (kmatrix.libbpf_bundle.fetch_libbpf) the file ships as
    lib/libbpf.so.1 and plan["libbpf"] says so; without it the agent uses the
    target's own libbpf (plan["libbpf"] = {"mode": "system"})."""
    out = Path(out)
    by_id = {c.id: c for c in cases}
    plan = json.loads(json.dumps(plan))  # a copy we may annotate
    if not plan.get("cases"):
        plan["cases"] = [plan_entry(c) for c in by_id.values()]
    remote = plan.get("build") == "remote"
    members = [(f"kmatrix_agent/{py.name}", py) for py in sorted(AGENT_DIR.glob("*.py"))]
    for entry in plan["cases"]:
        case = by_id.get(entry["id"])
        if case is None:
            raise KeyError(f"plan names case {entry['id']!r} that is not in `cases`")
        entry["check"] = f"cases/{case.id}.py"
        # The catalogue checked these; checked again here, as they are read, so a
        # symlink swapped in since cannot ship a file from elsewhere.
        home = case.check.parent if case.check != TAGGED_CHECK else None
        members.append((entry["check"], case.check if home is None else
                        shipped_file(home, case.check, case.id, "check")))
        # CASE["files"]: extra files next to the check (e.g. a module's source).
        files = {}
        for rel in case.meta.get("files") or []:
            files[rel] = f"files/{case.id}/{rel}"
            members.append((files[rel], shipped_file(case.check.parent, case.check.parent / rel,
                                                     case.id)))
        if files:
            entry["files"] = files
        if not case.build:
            continue
        if remote:
            src = (sources or {}).get(case.id) or case.src
            if src is not None:
                entry["src"] = f"src/{case.id}.bpf.c"
                members.append((entry["src"], shipped_file(Path(src).parent, Path(src),
                                                           case.id, "source")))
        elif case.id in objects:
            entry["obj"] = f"objs/{case.id}.bpf.o"
            members.append((entry["obj"], Path(objects[case.id])))
    if remote:
        headers: dict[str, Path] = {}
        for entry in plan["cases"]:
            case = by_id[entry["id"]]
            if case.build:
                for d in shared_include_dirs(case):
                    for h in sorted(d.glob("*.h")):
                        headers.setdefault(h.name, shipped_file(d, h, case.id, "header"))
        members += [(f"include/{name}", path) for name, path in sorted(headers.items())]
    members += _libbpf_members(plan, libbpf)
    plan["kmods"] = kmod_members(kmods)
    members += [(plan["kmods"][key], Path(path)) for key, path in sorted((kmods or {}).items())]
    buf = io.BytesIO(_base(members))
    buf.seek(0, io.SEEK_END)
    with zipfile.ZipFile(buf, "a") as z:
        # Compact: indent would take the pure-Python encoder, once per host.
        _add(z, "plan.json", json.dumps(plan, sort_keys=True, separators=(",", ":")).encode())
    fd, tmp = tempfile.mkstemp(dir=out.parent, prefix=f".{out.name}.")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(buf.getvalue())
        # Private: it holds every shipped file; the target runs it with `python3 FILE`.
        os.chmod(tmp, 0o600)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return out
