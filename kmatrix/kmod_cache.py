"""The controller's cache of kernel modules the agent built on a target.

A case that builds a module (`t.build_module(subdir)`) builds it once per module
source and kernel: after a fresh build the agent publishes the .ko (with its .BTF,
debug info stripped) as one `artifact` event line, `store()` keeps it under
CACHE/kmod/<key>.ko, and on later runs `for_bundle()` picks the .ko files whose key
matches what will be shipped to a host, for the bundle's `kmod/<key>.ko` members.
The key is `kmatrix.agent.kmod.module_key`, the same function the agent uses on
the sources it has: sources, `uname -r`, `uname -v`, machine and build recipe.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from pathlib import Path
from typing import Any, Iterable, Mapping, Optional

from kmatrix.agent import kmod
from kmatrix.catalog import Case
from kmatrix.fileutil import atomic_write

SUBDIR = "kmod"
# What makes a directory among CASE["files"] a module's sources.
MODULE_MARKERS = ("Makefile", "Kbuild")


def path_for(cache_dir: Path, key: str) -> Path:
    if not kmod.KEY_RE.match(key):
        raise ValueError(f"bad module key {key!r}")
    return Path(cache_dir) / SUBDIR / f"{key}.ko"


def store(cache_dir: Path, event: Mapping[str, Any]) -> Optional[str]:
    """Keep the .ko of an agent's `artifact` event. None when stored; else a short
    sentence saying why the event was refused (nothing is written then)."""
    kind = event.get("kind")
    if kind != "kmod":
        return f"artifact of unknown kind {str(kind)[:40]!r} ignored"
    key = event.get("key")
    if not isinstance(key, str) or not kmod.KEY_RE.match(key):
        return f"kmod artifact with a bad key {str(key)[:80]!r} ignored"
    sha = event.get("sha256")
    if not isinstance(sha, str) or not kmod.KEY_RE.match(sha):
        return f"kmod artifact {key[:12]}: bad sha256 field, ignored"
    b64 = event.get("data")
    if not isinstance(b64, str) or len(b64) > kmod.MAX_EVENT_LINE:
        return f"kmod artifact {key[:12]}: data missing or over {kmod.MAX_EVENT_LINE} bytes"
    try:
        data = base64.b64decode(b64.encode("ascii"), validate=True)
    except (binascii.Error, ValueError, UnicodeEncodeError):
        return f"kmod artifact {key[:12]}: data is not base64, ignored"
    if hashlib.sha256(data).hexdigest() != sha:
        return f"kmod artifact {key[:12]}: sha256 does not match its data, ignored"
    why = kmod.check_module_image(data, f"kmod artifact {key[:12]}")
    if why is not None:
        return why + ", ignored"
    atomic_write(path_for(cache_dir, key), data, mode=0o600)
    return None


def module_dirs(case: Case) -> list[str]:
    """The directories among a case's CASE["files"] that hold a module's sources."""
    files = [str(f) for f in case.meta.get("files") or []]
    dirs = set()
    for rel in files:
        head, _, name = rel.rpartition("/")
        if head and name in MODULE_MARKERS:
            dirs.add(head)
    return sorted(dirs)


def case_module_keys(case: Case, uname: Mapping[str, Any]) -> dict[str, str]:
    """{module subdir: key} of a case's module sources for a kernel (facts["uname"])."""
    rels = [str(f) for f in case.meta.get("files") or []]
    out = {}
    for subdir in module_dirs(case):
        files = {rel: (case.check.parent / rel).read_bytes() for rel in rels
                 if rel.startswith(subdir + "/")}
        out[subdir] = kmod.module_key(kmod.module_sources(files, subdir),
                                      str(uname.get("release") or ""),
                                      str(uname.get("version") or ""),
                                      str(uname.get("machine") or ""))
    return out


def for_bundle(cache_dir: Path, cases: Iterable[Case], facts: Optional[Mapping[str, Any]]
               ) -> dict[str, Path]:
    """{key: cached .ko} for the module sources these cases ship to a host whose
    preflight facts are `facts` (facts["uname"]: release, version, machine); without
    them, nothing (the agent then builds, as on a first run)."""
    uname = (facts or {}).get("uname") or {}
    if not isinstance(uname, Mapping) or not uname.get("release"):
        return {}
    out: dict[str, Path] = {}
    for case in cases:
        try:
            keys = case_module_keys(case, uname)
        except OSError:
            continue  # a missing source file is the case's own error, reported by the agent
        for key in keys.values():
            path = path_for(cache_dir, key)
            if path.is_file():
                out[key] = path
    return out
