"""The case catalogue: bpf_cases/<family>/<name>.bpf.c + <name>.py pairs.

A check's CASE dict is read with ast.literal_eval (never imported: the check is
target code), validated key by key, and every problem is an InputError naming
the file and line of the offending key.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from kmatrix.agent import requires as _requires
from kmatrix.errors import InputError

FAMILIES = ("kfunc", "dynptr", "trampoline", "xdp_frags", "perf", "isa")
COMPILERS = ("clang", "ziglang")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_]*$")

def _rel_path_ok(v: Any) -> bool:
    if not isinstance(v, str) or not v or v.startswith("/") or "\\" in v:
        return False
    return all(part not in ("", ".", "..") for part in v.split("/"))


def _str_or_list(v: Any, pred: Any = None) -> bool:
    items = v if isinstance(v, list) else [v]
    return bool(items) and all(isinstance(x, str) and x and (pred is None or pred(x))
                               for x in items)


def _expect_reject_ok(v: Any) -> bool:
    if not isinstance(v, dict) or not set(v) <= {"prog", "verifier", "errno"}:
        return False
    if "verifier" not in v or not _str_or_list(v["verifier"]):
        return False
    if "prog" in v and not (isinstance(v["prog"], str) and v["prog"]):
        return False
    return "errno" not in v or _str_or_list(v["errno"], lambda x: x.startswith("E"))


# key -> (validator, message when it fails)
_KEYS: dict[str, tuple[Any, str]] = {
    "description": (lambda v: isinstance(v, str) and v.strip() != "", "must be a non-empty string"),
    "requires": (lambda v: isinstance(v, dict), "must be a mapping"),
    "timeout": (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and v > 0,
                "must be a positive number of seconds"),
    "cflags": (lambda v: isinstance(v, list) and all(isinstance(x, str) for x in v),
               "must be a list of strings"),
    "compiler": (lambda v: v in COMPILERS, "must be one of " + ", ".join(COMPILERS)),
    "build": (lambda v: isinstance(v, bool), "must be true or false"),
    "files": (lambda v: isinstance(v, list) and all(_rel_path_ok(x) for x in v),
              "must be a list of relative paths inside the case's directory"),
    "expect_reject": (lambda v: _expect_reject_ok(v),
                      "must be a mapping with \"verifier\" (a substring or list of them) and "
                      "optional \"prog\" (a name) and \"errno\" (a name or list of E* names)"),
}
REQUIRED_KEYS = ("description",)


@dataclass
class Case:
    id: str  # "<family>/<name>"
    family: str
    name: str
    src: Optional[Path]  # the .bpf.c, None when CASE["build"] is False
    check: Path  # the .py check
    meta: dict[str, Any] = field(default_factory=dict)  # the CASE literal

    @property
    def build(self) -> bool:
        return bool(self.meta.get("build", True))

    @property
    def timeout(self) -> float:
        return float(self.meta.get("timeout", 60))


def _case_node(tree: ast.Module) -> Optional[ast.expr]:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
            isinstance(tg, ast.Name) and tg.id == "CASE" for tg in node.targets
        ):
            return node.value
        if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name) \
                and node.target.id == "CASE" and node.value is not None:
            return node.value
    return None


def _key_lines(node: ast.expr) -> dict[Any, int]:
    if not isinstance(node, ast.Dict):
        return {}
    out: dict[Any, int] = {}
    for k in node.keys:
        if isinstance(k, ast.Constant):
            out[k.value] = k.lineno
    return out


def _sub_dict(node: ast.expr, key: str) -> Optional[ast.expr]:
    if isinstance(node, ast.Dict):
        for k, v in zip(node.keys, node.values):
            if isinstance(k, ast.Constant) and k.value == key:
                return v
    return None


def read_case(check: Path) -> dict[str, Any]:
    """Parse and validate the CASE literal of one check; InputError on any problem."""
    f = str(check)
    try:
        text = check.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f, None, "file", f"cannot read: {e}") from None
    try:
        # Checks run on Python 3.7 targets: refuse newer syntax here, not there.
        tree = ast.parse(text, filename=f, feature_version=(3, 7))
    except SyntaxError as e:
        raise InputError(f, e.lineno, "syntax", f"{e.msg} (checks must be valid Python 3.7)") \
            from None
    node = _case_node(tree)
    if node is None:
        raise InputError(f, 1, "CASE", "no top-level `CASE = {...}` literal")
    try:
        meta = ast.literal_eval(node)
    except ValueError as e:
        raise InputError(f, getattr(node, "lineno", None), "CASE",
                         f"must be a plain literal (ast.literal_eval: {e})") from None
    if not isinstance(meta, dict):
        raise InputError(f, node.lineno, "CASE", "must be a dict")
    lines = _key_lines(node)
    for key, value in meta.items():
        line = lines.get(key, node.lineno)
        if key not in _KEYS:
            raise InputError(f, line, str(key),
                             f"unknown CASE key (known: {', '.join(sorted(_KEYS))})")
        ok, msg = _KEYS[key]
        if not ok(value):
            raise InputError(f, line, str(key), msg)
    for key in REQUIRED_KEYS:
        if key not in meta:
            raise InputError(f, node.lineno, key, "missing (every CASE needs one)")
    if "requires" in meta:
        req_node = _sub_dict(node, "requires")
        req_lines = _key_lines(req_node) if req_node is not None else {}
        for key, msg in _requires.validate(meta["requires"]):
            raise InputError(f, req_lines.get(key, lines.get("requires", node.lineno)),
                             f"requires.{key}", msg)
    has_run = any(isinstance(n, ast.FunctionDef) and n.name == "run"
                  and len(n.args.args) == 1 for n in tree.body)
    if not has_run:
        raise InputError(f, None, "run", "no top-level `def run(t):`")
    return meta


def load_catalog(root: Path) -> list[Case]:
    """All cases under `root` (bpf_cases/), sorted by id."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(str(root), None, "bpf_cases", "no such directory")
    cases: list[Case] = []
    for fam_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        if fam_dir.name.startswith((".", "_")):
            continue
        family = fam_dir.name
        if family not in FAMILIES:
            raise InputError(str(fam_dir), None, "family",
                             f"unknown family {family!r} (known: {', '.join(FAMILIES)})")
        checks = {p.name[:-3]: p for p in fam_dir.glob("*.py") if not p.name.startswith("_")}
        sources = {p.name[: -len(".bpf.c")]: p for p in fam_dir.glob("*.bpf.c")}
        for name in sorted(set(sources) - set(checks)):
            raise InputError(str(sources[name]), None, "check",
                             f"no {name}.py check next to this BPF source")
        for name, check in sorted(checks.items()):
            if not _NAME.match(name):
                raise InputError(str(check), None, "name",
                                 "case names are lower-case letters, digits and _")
            meta = read_case(check)
            src = sources.get(name)
            build = meta.get("build", True)
            if build and src is None:
                raise InputError(str(check), None, "build",
                                 f"no {name}.bpf.c next to this check (set \"build\": False "
                                 "for a check without a BPF object)")
            for rel in meta.get("files") or []:
                if not (fam_dir / rel).is_file():
                    raise InputError(str(check), None, "files",
                                     f"{rel} does not exist next to this check")
            cases.append(Case(id=f"{family}/{name}", family=family, name=name,
                              src=src if build else None, check=check, meta=meta))
    return cases
