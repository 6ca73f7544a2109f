"""results.json: RunResult.to_dict(), written atomically, read back tolerantly.

Atomic (temp file in the same directory + fsync + rename) because the runner
rewrites it while hosts are still running: a reader, or a crash, never sees half
a file. Reading tolerates missing optional fields (older or hand-made files) and
names the bad spot for anything it cannot use.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from pathlib import Path
from typing import Any, Optional

from kmatrix.errors import InputError
from kmatrix.fileutil import atomic_write
from kmatrix.results import CaseResult, HostResult, RunResult

_lock = threading.Lock()  # one writer at a time per process (host threads share a file)


def host_json(h: HostResult) -> str:
    """One host's results, compact, on one line. Compact because the C encoder only
    serves indent=None: a host's facts (its whole kernel config) are most of the
    file, and indenting them cost seconds per write at 1,000 hosts."""
    return json.dumps(h.to_dict(), separators=(", ", ": "), default=str)


def _dump(run: RunResult, host_texts: Optional[list[str]] = None) -> bytes:
    """The run's fields indented, then its hosts, one per line."""
    head = {f.name: getattr(run, f.name) for f in dataclasses.fields(run) if f.name != "hosts"}
    texts = host_texts if host_texts is not None else [host_json(h) for h in run.hosts]
    top = json.dumps(head, indent=2, default=str)
    body = ",\n".join("    " + t for t in texts)
    return (top[:-2] + ',\n  "hosts": [\n' + body + "\n  ]\n}\n").encode()


def write_results(run: RunResult, path: Path | str,
                  host_texts: Optional[list[str]] = None) -> Path:
    """Write `run` as JSON to `path` atomically; return the path. `host_texts`:
    each host's host_json(), when the caller kept those of finished hosts."""
    p = Path(path)
    with _lock:
        data = _dump(run, host_texts)  # serialise under the lock: host threads mutate `run`
        atomic_write(p, data)
    return p


def write_partial(run: RunResult, path: Path | str,
                  host_texts: Optional[list[str]] = None) -> Path:
    """Write an in-flight run: same as write_results, but always marked incomplete."""
    with _lock:
        snap = dataclasses.replace(run, hosts=list(run.hosts), incomplete=True)
        data = _dump(snap, host_texts)
        atomic_write(Path(path), data)
    return Path(path)


def _require(d: Any, key: str, file: str, where: str) -> Any:
    if key not in d or d[key] in (None, ""):
        raise InputError(file, None, f"{where}.{key}", "missing")
    return d[key]


def _list(v: Any) -> list:
    return list(v) if isinstance(v, (list, tuple)) else []


def _dict(v: Any) -> dict:
    return dict(v) if isinstance(v, dict) else {}


def _case(d: Any, file: str, where: str) -> CaseResult:
    if not isinstance(d, dict):
        raise InputError(file, None, where, "expected an object")
    case = str(_require(d, "case", file, where))
    d = dict(d)
    d.setdefault("family", case.split("/", 1)[0])
    if not d.get("family"):
        d["family"] = case.split("/", 1)[0]
    _require(d, "state", file, where)
    # null where a list/dict/str is expected: treat as empty rather than crash later
    for k, conv in (("details", _dict), ("dmesg", _list)):
        if k in d:
            d[k] = conv(d[k])
    for k in ("reason", "verifier_log", "output", "verdict"):
        if k in d and d[k] is None:
            d[k] = ""
    if d.get("duration") is None:
        d["duration"] = 0.0
    if d.get("attempts") is None:
        d["attempts"] = 1
    return CaseResult.from_dict(d)


def _host(d: Any, file: str, where: str) -> HostResult:
    if not isinstance(d, dict):
        raise InputError(file, None, where, "expected an object")
    _require(d, "name", file, where)
    _require(d, "arch", file, where)
    d = dict(d)
    for k, conv in (("env_tags", _list), ("facts", _dict), ("properties", _dict),
                    ("timings", _dict)):
        if k in d:
            d[k] = conv(d[k])
    for k in ("kernel", "os_release"):
        if k in d and d[k] is None:
            d[k] = ""
    cases = d.pop("cases", None) or []
    if not isinstance(cases, list):
        raise InputError(file, None, f"{where}.cases", "expected a list")
    h = HostResult.from_dict({**d, "cases": []})
    h.cases = [_case(c, file, f"{where}.cases[{i}]") for i, c in enumerate(cases)]
    return h


def run_from_dict(d: Any, file: str = "<results>") -> RunResult:
    if not isinstance(d, dict):
        raise InputError(file, None, "results", "expected a JSON object at top level")
    _require(d, "run_id", file, "results")
    d = dict(d)
    hosts = d.pop("hosts", None) or []
    if not isinstance(hosts, list):
        raise InputError(file, None, "results.hosts", "expected a list")
    d["warnings"] = _list(d.get("warnings"))
    d["incomplete"] = bool(d.get("incomplete", False))
    for k in ("suite", "started", "finished", "kmatrix_version"):
        if k in d and d[k] is None:
            d[k] = ""
    r = RunResult.from_dict({**d, "hosts": []})
    r.hosts = [_host(h, file, f"hosts[{i}]") for i, h in enumerate(hosts)]
    return r


def read_results(path: Path | str) -> RunResult:
    """Read results.json; a bad file is an InputError naming FILE[:LINE]."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(str(p), None, "file", "no such file") from None
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(str(p), None, "file", f"cannot read: {e}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(str(p), e.lineno, "json", e.msg) from None
    try:
        return run_from_dict(data, str(p))
    except TypeError as e:  # a field of the wrong shape that from_dict could not take
        raise InputError(str(p), None, "results", f"malformed: {e}") from None
