"""The case catalogue: bpf_cases/<family>/<name>.bpf.c + <name>.py pairs, and
.bpf.c files of tagged rejection programs that need no .py (docs/cases.md).

A check's CASE dict is read with ast.literal_eval (never imported: the check is
target code), validated key by key, and every problem is an InputError naming
the file and line of the offending key. A .bpf.c without a .py is read as text:
each SEC() program in it is a case whose metadata are its tags (__description,
__requires; kmatrix.h), and the agent runs it with TAGGED_CHECK.

Every directory under bpf_cases/ is a family, except include/ (the headers on
every case's include path) and names starting with "." or "_".
"""

from __future__ import annotations

import ast
import math
import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from kmatrix.agent import requires as _requires
from kmatrix.agent import tags as _tags
from kmatrix.errors import InputError

COMPILERS = ("clang", "ziglang")
_NAME = re.compile(r"^[a-z0-9][a-z0-9_]*$")
INCLUDE_DIR = "include"  # bpf_cases/include: kmatrix.h, not a family
# The check that runs a tag-only case: the program must be refused as its tags say.
TAGGED_CHECK = Path(__file__).resolve().parent.parent / "bpf_cases" / INCLUDE_DIR / \
    "tagged_check.py"
MIN_TIMEOUT, MAX_TIMEOUT = 1.0, 24 * 3600.0


def _rel_path_ok(v: Any) -> bool:
    if not isinstance(v, str) or not v or v.startswith("/") or "\\" in v:
        return False
    return all(part not in ("", ".", "..") for part in v.split("/"))


def shipped_file(case_dir: Path, path: Path, case_id: str, field: str = "files") -> Path:
    """`path` resolved, when it is a regular file inside `case_dir` (resolved too):
    files that leave the controller (a check, its source, CASE["files"]) go to the
    target and into agent.pyz, so a symlink to /etc/shadow or to an SSH key must not
    ship. InputError naming the case and the file otherwise. Also refuses a FIFO or
    a device, which would hang the read."""
    base = case_dir.resolve()
    shown = os.path.relpath(path, case_dir)
    try:
        real = path.resolve(strict=True)
        st = os.stat(real)
    except (OSError, RuntimeError) as e:  # RuntimeError: a symlink loop
        raise InputError(str(path), None, field, f"case {case_id}: cannot resolve "
                         f"{shown}: {e}") from None
    if real != base and base not in real.parents:
        raise InputError(str(path), None, field, f"case {case_id}: {shown} leads out of "
                         f"the case's directory {base} (a symlink?): only regular files inside "
                         "it are shipped to the target")
    if not stat.S_ISREG(st.st_mode):
        raise InputError(str(path), None, field, f"case {case_id}: {shown} is not a "
                         "regular file")
    return real


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


def _timeout_ok(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) \
        and MIN_TIMEOUT <= v <= MAX_TIMEOUT


# key -> (validator, message when it fails)
_KEYS: dict[str, tuple[Any, str]] = {
    "description": (lambda v: isinstance(v, str) and v.strip() != "", "must be a non-empty string"),
    "requires": (lambda v: isinstance(v, dict), "must be a mapping"),
    "timeout": (_timeout_ok, f"must be a positive, finite number of seconds from "
                             f"{MIN_TIMEOUT:g} to {MAX_TIMEOUT:g} (24 h)"),
    "cflags": (lambda v: isinstance(v, list) and all(isinstance(x, str) and x for x in v),
               "must be a list of non-empty strings"),
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
    check: Path  # the .py check (TAGGED_CHECK for a tag-only case)
    meta: dict[str, Any] = field(default_factory=dict)  # the CASE literal (or from tags)
    program: Optional[str] = None  # a tag-only case: the program it is about

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


def _key_lines(node: Optional[ast.expr]) -> dict[Any, int]:
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


def _check_shape(f: str, node: ast.expr, field: str = "") -> None:
    """Before literal_eval: every dict key a string given once, no `**`, no NUL in a
    string; a problem names the key it is under ("requires", "cflags", ...)."""
    if isinstance(node, ast.Dict):
        seen: set[str] = set()
        for k, v in zip(node.keys, node.values):
            if k is None:
                raise InputError(f, node.lineno, field or "CASE", "no `**` unpacking here")
            if not (isinstance(k, ast.Constant) and isinstance(k.value, str)):
                raise InputError(f, k.lineno, field or "CASE", "keys must be strings")
            name = f"{field}.{k.value}" if field else k.value
            if k.value in seen:
                raise InputError(f, k.lineno, name, "given twice")
            seen.add(k.value)
            _check_shape(f, v, name)
        return
    for sub in ast.walk(node):
        if isinstance(sub, ast.Constant) and isinstance(sub.value, str) and "\0" in sub.value:
            raise InputError(f, sub.lineno, field or "CASE", "strings must not contain NUL")


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
    except (ValueError, RecursionError, MemoryError) as e:  # NUL bytes, absurd nesting
        raise InputError(f, None, "syntax", f"cannot parse: {type(e).__name__}: {e}") from None
    node = _case_node(tree)
    if node is None:
        raise InputError(f, 1, "CASE", "no top-level `CASE = {...}` literal")
    if not isinstance(node, ast.Dict):
        try:
            ast.literal_eval(node)
        except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError) as e:
            raise InputError(f, getattr(node, "lineno", None), "CASE",
                             f"must be a plain literal (ast.literal_eval: {e})") from None
        raise InputError(f, node.lineno, "CASE", "must be a dict")
    _check_shape(f, node)
    try:
        meta = ast.literal_eval(node)
    except (ValueError, TypeError, SyntaxError, RecursionError, MemoryError) as e:
        raise InputError(f, getattr(node, "lineno", None), "CASE",
                         f"must be a plain literal (ast.literal_eval: {e})") from None
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


# -- tagged programs in a .bpf.c (kmatrix.h) -----------------------------------------------

# Tag names, argument kinds and rules: kmatrix/agent/tags.py, shared with the agent's
# BTF reader. This reader works on the C text because the catalogue needs a tag-only
# case's __description and __requires before (and without) compiling it.
TAGS = tuple(_tags.TAGS)
_PROG_MACRO = re.compile(r"^BPF_[A-Z0-9_]+$")  # BPF_PROG(name, ...), BPF_KPROBE(name, ...)
_TOKEN = re.compile(r'''
    (?P<ws>\s+)
  | (?P<comment>//[^\n]*|/\*.*?\*/)
  | (?P<string>"(?:[^"\\\n]|\\.)*")
  | (?P<char>'(?:[^'\\\n]|\\.)*')
  | (?P<ident>[A-Za-z_]\w*)
  | (?P<number>\d[\w.]*)
  | (?P<punct>.)
''', re.S | re.X)
_ESC = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'", "0": "\0",
        "a": "\a", "b": "\b", "f": "\f", "v": "\v", "?": "?"}


@dataclass
class Tag:
    name: str  # "__msg"
    value: Optional[str]  # the string (string tags) or the identifier (__errno)
    line: int


@dataclass
class Program:
    name: str
    section: str
    line: int
    tags: list[Tag]

    def values(self, tag: str) -> list[str]:
        return [t.value or "" for t in self.tags if t.name == tag]


def _c_string(lit: str) -> str:
    out, i, body = [], 0, lit[1:-1]
    while i < len(body):
        c = body[i]
        if c == "\\" and i + 1 < len(body):
            n = body[i + 1]
            if n == "x":
                m = re.match(r"[0-9a-fA-F]+", body[i + 2:])
                out.append(chr(int(m.group(), 16)) if m else "x")
                i += 2 + (len(m.group()) if m else 0)
                continue
            if n in "01234567":
                m = re.match(r"[0-7]{1,3}", body[i + 1:])
                assert m is not None
                out.append(chr(int(m.group(), 8)))
                i += 1 + len(m.group())
                continue
            out.append(_ESC.get(n, n))
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def _tokens(text: str) -> list[tuple[str, str, int]]:
    """(kind, text, line) of C tokens; comments and preprocessor lines dropped."""
    # Preprocessor lines (with their continuations) become blank lines.
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        if lines[i].lstrip().startswith("#"):
            while lines[i].endswith("\\") and i + 1 < len(lines):
                lines[i] = ""
                i += 1
            lines[i] = ""
        i += 1
    text = "\n".join(lines)
    out, line = [], 1
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup or "punct"
        if kind not in ("ws", "comment"):
            out.append((kind, m.group(), line))
        line += m.group().count("\n")
    return out


def _group(toks: list[tuple[str, str, int]], i: int) -> int:
    """Index just past the parenthesised group that starts at toks[i] == '('."""
    depth = 0
    for j in range(i, len(toks)):
        if toks[j][1] == "(":
            depth += 1
        elif toks[j][1] == ")":
            depth -= 1
            if depth == 0:
                return j + 1
    return len(toks)


def _tag_value(f: str, toks: list[tuple[str, str, int]], name: str, line: int) -> Optional[str]:
    need = _tags.TAGS[name][1]
    inner = toks[1:-1] if toks else []
    if need is None:
        if toks:
            raise InputError(f, line, name, "takes no argument")
        return None
    if need == "string":
        if not inner or any(k != "string" for k, _t, _l in inner):
            raise InputError(f, line, name, f'takes a string literal: {name}("...")')
        return "".join(_c_string(t) for _k, t, _l in inner)
    if len(inner) != 1 or inner[0][0] != "ident":
        example = "EACCES" if name == "__errno" else "verifier"
        raise InputError(f, line, name, f"takes one name: {name}({example})")
    return inner[0][1]


def _header_program(f: str, run: list[tuple[str, str, int]]) -> Optional[Program]:
    """The program a top-level function header declares, or None without SEC()."""
    section, tags, rest = None, [], []
    i, line = 0, run[0][2]
    while i < len(run):
        kind, tok, ln = run[i]
        nxt = run[i + 1][1] if i + 1 < len(run) else ""
        if tok == "SEC" and nxt == "(":
            end = _group(run, i + 1)
            strs = [t for k, t, _l in run[i + 2:end - 1] if k == "string"]
            section = "".join(_c_string(s) for s in strs)
            line = ln
            i = end
        elif kind == "ident" and tok in TAGS:
            end = _group(run, i + 1) if nxt == "(" else i + 1
            tags.append(Tag(tok, _tag_value(f, run[i + 1:end], tok, ln), ln))
            i = end
        elif tok == "__attribute__" and nxt == "(":
            i = _group(run, i + 1)
        else:
            rest.append(run[i])
            i += 1
    if section is None:
        return None
    for j, (_kind, tok, _ln) in enumerate(rest):
        if tok == "(" and j > 0 and rest[j - 1][0] == "ident":
            name = rest[j - 1][1]
            if _PROG_MACRO.match(name) and j + 1 < len(rest) and rest[j + 1][0] == "ident":
                name = rest[j + 1][1]
            return Program(name, section, line, tags)
    return None


def read_programs(src: Path) -> list[Program]:
    """The SEC() programs of a .bpf.c and their kmatrix.h tags, read from the text.

    Only function definitions at file scope count; tags must be written literally
    between SEC() and the function name (a macro wrapping them hides them here,
    though the compiler would still see them)."""
    f = str(src)
    try:
        text = src.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InputError(f, None, "file", f"cannot read: {e}") from None
    progs, run, depth = [], [], 0
    for tok in _tokens(text):
        t = tok[1]
        if depth:
            depth += t == "{"
            depth -= t == "}"
            continue
        if t == "{":
            if run and run[-1][1] == ")":
                p = _header_program(f, run)
                if p is not None:
                    progs.append(p)
            depth, run = 1, []
        elif t == ";":
            run = []
        else:
            run.append(tok)
    return progs


def _check_rejection_tags(f: str, p: Program) -> None:
    for macro, index, msg in _tags.problems([(t.name, t.value) for t in p.tags]):
        if index is None:
            raise InputError(f, p.line, macro, f"program {p.name}: {msg}")
        raise InputError(f, p.tags[index].line, macro, msg)


def _requires_from_tags(f: str, p: Program) -> dict[str, Any]:
    req: dict[str, Any] = {}
    for t in p.tags:
        if t.name != "__requires":
            continue
        key, eq, val = (t.value or "").partition("=")
        key, val = key.strip(), val.strip()
        kind = _requires.KEYS.get(key)
        if kind is None:
            raise InputError(f, t.line, "__requires", f"unknown requirement {key!r} (known: "
                             f"{', '.join(sorted(_requires.KEYS))})")
        if kind == "bool":
            if val not in ("", "true", "false") or (eq and not val):
                raise InputError(f, t.line, "__requires", f"{key} takes true or false")
            value: Any = val != "false"
        elif kind.startswith("list"):
            value = [v.strip() for v in val.split(",")]
        else:
            value = val
        if key in req and not isinstance(value, list):
            raise InputError(f, t.line, "__requires", f"{key} given twice")
        req[key] = req.get(key, []) + value if isinstance(value, list) else value
        for k, msg in _requires.validate({key: req[key]}):
            raise InputError(f, t.line, "__requires", f"{k}: {msg}")
    return req


def tagged_cases(family: str, src: Path) -> list[Case]:
    """The cases of a .bpf.c that has no .py: one per SEC() program, each tagged
    __failure. Program P of F.bpf.c is case <family>/F_P, or <family>/F when P is F."""
    f = str(src)
    stem = src.name[: -len(".bpf.c")]
    shipped_file(src.parent, src, f"{family}/{stem}", "source")
    progs = read_programs(src) if _uses_kmatrix_h(src) else []
    if not progs:
        raise InputError(f, None, "check", f"no {stem}.py next to this BPF source, and no SEC() "
                         "program tagged __failure in it (docs/cases.md)")
    cases = []
    for p in progs:
        names = [t.name for t in p.tags]
        if "__failure" not in names:
            raise InputError(f, p.line, "check", f"program {p.name} is not tagged __failure: "
                             f"a .bpf.c without a .py holds rejection programs only (add "
                             f"{stem}.py to run it)")
        _check_rejection_tags(f, p)
        descs = p.values("__description")
        if len(descs) != 1 or not descs[0].strip():
            raise InputError(f, p.line, "__description", f"program {p.name} needs one "
                             "non-empty __description(\"...\") (it is the case's description)")
        name = stem if p.name == stem else f"{stem}_{p.name}"
        if not _NAME.match(name):
            raise InputError(f, p.line, "name", f"case name {name!r}: lower-case letters, "
                             "digits and _")
        # Its own compile (a flag naming the program): one object per case, as with a
        # remote build, so a case's object and its build outcome are its own.
        meta: dict[str, Any] = {"description": descs[0], "program": p.name,
                                "cflags": [f"-DKMX_PROGRAM={p.name}"]}
        req = _requires_from_tags(f, p)
        if req:
            meta["requires"] = req
        cases.append(Case(id=f"{family}/{name}", family=family, name=name, src=src,
                          check=TAGGED_CHECK, meta=meta, program=p.name))
    return cases


def _uses_kmatrix_h(src: Path) -> bool:
    try:
        return re.search(r'#\s*include\s*"kmatrix\.h"', src.read_text(encoding="utf-8")) \
            is not None
    except (OSError, UnicodeDecodeError):
        return False


def _check_source_tags(src: Path) -> None:
    """A .bpf.c with a .py: its __failure programs must say what to expect, and the
    metadata tags belong to tag-only files (the .py's CASE is the metadata here).
    Only for sources that use kmatrix.h: others may define such names themselves
    (the selftests' bpf_misc.h has __failure, __msg and __description too)."""
    if not _uses_kmatrix_h(src):
        return
    f = str(src)
    for p in read_programs(src):
        _check_rejection_tags(f, p)
        for t in p.tags:
            if t.name in _tags.METADATA:
                raise InputError(f, t.line, t.name, "only for a .bpf.c without a .py; this "
                                 "case's metadata is the CASE of its .py")


def load_catalog(root: Path) -> list[Case]:
    """All cases under `root` (bpf_cases/), sorted by id."""
    root = Path(root)
    if not root.is_dir():
        raise InputError(str(root), None, "bpf_cases", "no such directory")
    cases: list[Case] = []
    seen: dict[str, Path] = {}
    for fam_dir in sorted(p for p in root.iterdir() if p.is_dir()):
        family = fam_dir.name
        if family.startswith((".", "_")) or family == INCLUDE_DIR:
            continue
        if not _NAME.match(family):
            raise InputError(str(fam_dir), None, "family", "family (directory) names are "
                             "lower-case letters, digits and _")
        checks = {p.name[:-3]: p for p in fam_dir.glob("*.py") if not p.name.startswith("_")}
        sources = {p.name[: -len(".bpf.c")]: p for p in fam_dir.glob("*.bpf.c")}
        found: list[Case] = []
        for name in sorted(set(sources) - set(checks)):
            found += tagged_cases(family, sources[name])
        for name, check in sorted(checks.items()):
            if not _NAME.match(name):
                raise InputError(str(check), None, "name",
                                 "case names are lower-case letters, digits and _")
            shipped_file(fam_dir, check, f"{family}/{name}", "check")
            meta = read_case(check)
            src = sources.get(name)
            build = meta.get("build", True)
            if build and src is None:
                raise InputError(str(check), None, "build",
                                 f"no {name}.bpf.c next to this check (set \"build\": False "
                                 "for a check without a BPF object)")
            if build and src is not None:
                shipped_file(fam_dir, src, f"{family}/{name}", "source")
                _check_source_tags(src)
            for rel in meta.get("files") or []:
                if not (fam_dir / rel).is_file():
                    raise InputError(str(check), None, "files",
                                     f"{rel} does not exist next to this check")
                shipped_file(fam_dir, fam_dir / rel, f"{family}/{name}")
            found.append(Case(id=f"{family}/{name}", family=family, name=name,
                              src=src if build else None, check=check, meta=meta))
        for c in found:
            where = c.src if c.program else c.check
            if c.id in seen:
                raise InputError(str(where), None, "name", f"case {c.id} is defined twice "
                                 f"(also by {seen[c.id]})")
            seen[c.id] = where or c.check
        cases += found
    return sorted(cases, key=lambda c: c.id)
