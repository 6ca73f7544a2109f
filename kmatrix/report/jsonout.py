"""results.json: RunResult.to_dict(), written atomically, read back tolerantly.

Atomic (temp file in the same directory + fsync + rename) because the runner
rewrites it while hosts are still running: a reader, or a crash, never sees half
a file. Reading tolerates missing optional fields (older or hand-made files) and
names the bad spot for anything it cannot use.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import stat
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


MAX_RESULTS_BYTES = 64 << 20  # a real run is a few MB (7 hosts, all cases, failing: ~35 MB)
MAX_DEPTH = 64  # results.json nests 6 levels; details a check recorded, a few more


def _clean(value: Any, file: str) -> Any:
    """A copy of loaded JSON with every string safe to write anywhere (a lone
    surrogate, which UTF-8 cannot encode, becomes its \\udXXX spelling), refusing
    nesting past MAX_DEPTH. Iterative: depth must not cost the interpreter's stack."""
    def fix(s: str) -> str:
        return s.encode("utf-8", "backslashreplace").decode("utf-8") if _SURROGATE.search(s) \
            else s

    root: list[Any] = [None]
    stack: list[tuple[Any, Any, Any, int]] = [(value, root, 0, 0)]
    while stack:
        v, parent, key, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise InputError(file, None, "results", f"nested deeper than {MAX_DEPTH} levels")
        if isinstance(v, str):
            parent[key] = fix(v)
        elif isinstance(v, dict):
            d: dict[str, Any] = {}
            parent[key] = d
            for k, x in v.items():
                k = fix(k)
                d[k] = None
                stack.append((x, d, k, depth + 1))
        elif isinstance(v, list):
            lst: list[Any] = [None] * len(v)
            parent[key] = lst
            stack.extend((x, lst, i, depth + 1) for i, x in enumerate(v))
        else:
            parent[key] = v
    return root[0]


_SURROGATE = re.compile("[\ud800-\udfff]")


def _read_bounded(p: Path) -> bytes:
    """The bytes of a regular file of at most MAX_RESULTS_BYTES. O_NONBLOCK: a FIFO
    must be refused, not waited on."""
    try:
        fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK)
    except FileNotFoundError:
        raise InputError(str(p), None, "file", "no such file") from None
    except OSError as e:
        raise InputError(str(p), None, "file", f"cannot read: {e.strerror or e}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise InputError(str(p), None, "file", "not a regular file")
        if st.st_size > MAX_RESULTS_BYTES:
            raise InputError(str(p), None, "file", f"{st.st_size} bytes, over the "
                             f"{MAX_RESULTS_BYTES >> 20} MiB bound for a results file")
        with os.fdopen(os.dup(fd), "rb") as f:
            data = f.read(MAX_RESULTS_BYTES + 1)
    except OSError as e:
        raise InputError(str(p), None, "file", f"cannot read: {e.strerror or e}") from None
    finally:
        os.close(fd)
    if len(data) > MAX_RESULTS_BYTES:  # it grew while we read
        raise InputError(str(p), None, "file", f"over the {MAX_RESULTS_BYTES >> 20} MiB bound")
    return data


def _validate(data: Any, file: str) -> None:
    """Against the one schema (kmatrix.report.schema): the first problem, as
    FILE: path: message."""
    import jsonschema

    from kmatrix.report.schema import RESULTS

    err = jsonschema.exceptions.best_match(
        jsonschema.Draft202012Validator(RESULTS).iter_errors(data))
    if err is None:
        return
    parts = list(err.absolute_path)
    message = err.message
    if err.validator == "required" and isinstance(err.instance, dict):
        # Name the missing field in the path, as the reader always did.
        missing = [k for k in err.validator_value if k not in err.instance]
        if missing:
            parts.append(missing[0])
            message = "missing"
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts)
    # hosts[0].cases[1].state; top-level fields as results.run_id
    where = where[1:] if where.startswith(".hosts") else "results" + where
    raise InputError(file, None, where, message)


def read_results(path: Path | str) -> RunResult:
    """Read results.json; a bad file is an InputError naming FILE[:LINE] and field."""
    p = Path(path)
    try:
        text = _read_bounded(p).decode("utf-8")
    except UnicodeDecodeError as e:
        raise InputError(str(p), None, "file", f"not UTF-8: {e.reason} at byte {e.start}") \
            from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as e:
        raise InputError(str(p), e.lineno, "json", e.msg) from None
    except RecursionError:
        raise InputError(str(p), None, "json", f"nested deeper than {MAX_DEPTH} levels") \
            from None
    data = _clean(data, str(p))
    _validate(data, str(p))
    try:
        return run_from_dict(data, str(p))
    except (TypeError, ValueError) as e:  # a shape the schema allows but from_dict cannot take
        raise InputError(str(p), None, "results", f"malformed: {e}") from None
