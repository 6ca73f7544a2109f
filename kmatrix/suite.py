"""Suites: which cases to run and what to expect of them (suites/*.yaml).

```yaml
name: lab-debian
description: Debian kernels in the QEMU lab
cases: ["kfunc/*", "trampoline/*"]      # globs over case ids; default: all
expectations:
  - case: trampoline/fentry_fexit
    arch: aarch64                       # alias, list, or "*"
    kernel: ">=6.1,<6.4"                # or "*"
    env: [lab]                          # all tags must be on the host; optional
    state: xfail                        # or skip (= do not run)
    reason: arm64 had no ftrace direct calls before 6.4, fentry attach gives -ENOTSUPP
    link: https://...
    expires: 2026-06-30                 # optional ISO date
```

Every problem is an InputError(file, line, field, message).
"""

from __future__ import annotations

import datetime as _dt
import fnmatch
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional, Sequence

from kmatrix import archs, yamlpos
from kmatrix.errors import InputError
from kmatrix.expectations import (  # noqa: F401  (apply, exit_code: re-exported for the runner)
    EXPECTATION_STATES,
    SKIP_EXP,
    Expectation,
    ExpectationSet,
    VersionRange,
    apply,
    exit_code,
)
from kmatrix.results import CASE_REASON_CLASSES

__all__ = ["Suite", "load_suite", "find_suite", "apply", "exit_code", "Expectation"]

TOP_KEYS = ("name", "description", "cases", "expectations")
EXP_KEYS = ("case", "arch", "kernel", "env", "os", "release", "state", "reason", "link",
            "expires", "reason_class")
EXP_REQUIRED = ("case", "state", "reason", "link")


@dataclass
class Suite:
    name: str
    description: str = ""
    cases: list[str] = field(default_factory=lambda: ["*"])  # globs
    expectations: ExpectationSet = field(default_factory=ExpectationSet)
    path: str = ""

    def selected(self, case_ids: Sequence[str]) -> list[str]:
        """The case ids this suite runs, in the order given."""
        return [c for c in case_ids if any(fnmatch.fnmatchcase(c, p) for p in self.cases)]

    def expectation_for(
        self,
        case_id: str,
        arch: str,
        kernel_release: str,
        env_tags: Sequence[str] = (),
        today: Optional[_dt.date] = None,
    ) -> tuple[Optional[Expectation], list[str]]:
        """(first matching unexpired expectation or None, warnings).

        An expired match is not applied (a later one may still match); it yields a
        warning string, returned here for the caller's warnings channel
        (RunResult.warn).
        """
        found: list[str] = []
        exp = self.expectations.find(
            case_id, archs.normalize(arch), kernel_release, env_tags, today, found
        )
        return exp, found

    def expectation(
        self,
        case_id: str,
        arch: str,
        kernel_release: str,
        env_tags: Sequence[str] = (),
        today: Optional[_dt.date] = None,
    ) -> Optional[Expectation]:
        """Like expectation_for() without the warnings."""
        return self.expectation_for(case_id, arch, kernel_release, env_tags, today)[0]

    def expired(self, today: Optional[_dt.date] = None) -> list[str]:
        """Warnings for every expired expectation, whether or not a case hits it."""
        return [e.expired_warning() for e in self.expectations.items if e.expired(today)]


def _line(node: Any, key: Any, default: int) -> int:
    if isinstance(node, (yamlpos.PosDict, yamlpos.PosList)):
        return node.line_of(key)
    return default


def _sentence(value: Any, file: str, line: int, fld: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise InputError(file, line, fld, "must be a non-empty sentence")
    return value.strip()


def _patterns(
    value: Any, file: str, line: int, fld: str, known: Sequence[str]
) -> list[str]:
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise InputError(file, line, fld, "expected a case-id pattern or a non-empty list of them")
    out = []
    for i, pat in enumerate(items):
        ln = _line(items, i, line)
        if not isinstance(pat, str) or not pat.strip():
            raise InputError(file, ln, fld, f"expected a case-id pattern, got {pat!r}")
        pat = pat.strip()
        if not any(fnmatch.fnmatchcase(c, pat) for c in known):
            sample = ", ".join(sorted(known)[:8]) + (", ..." if len(known) > 8 else "")
            raise InputError(
                file, ln, fld, f"{pat!r} matches no known case (known: {sample or 'none'})"
            )
        out.append(pat)
    return out


def _arch(value: Any, file: str, line: int) -> Optional[tuple[str, ...]]:
    if value is None or value == "*":
        return None
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not items:
        raise InputError(file, line, "arch", 'expected an arch, a list of arches, or "*"')
    out: list[str] = []
    for i, a in enumerate(items):
        ln = _line(items, i, line)
        if a == "*":
            return None
        if not isinstance(a, str):
            raise InputError(file, ln, "arch", f"expected an arch name, got {a!r}")
        try:
            canon = archs.normalize(a)
        except ValueError as e:
            raise InputError(file, ln, "arch", str(e)) from None
        if canon not in out:
            out.append(canon)
    return tuple(out)


def _env(value: Any, file: str, line: int) -> tuple[str, ...]:
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list):
        raise InputError(file, line, "env", "expected a list of environment tags")
    for i, t in enumerate(items):
        if not isinstance(t, str) or not t.strip() or " " in t.strip():
            raise InputError(file, _line(items, i, line), "env", f"bad environment tag {t!r}")
    return tuple(t.strip() for t in items)


def _strings(value: Any, file: str, line: int, fld: str) -> tuple[str, ...]:
    """A string or a list of non-empty strings (os releases, uname -r globs)."""
    if value is None:
        return ()
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(x, str) and x.strip() for x in items):
        raise InputError(file, line, fld, "expected a string or a list of strings")
    return tuple(x.strip() for x in items)


def _date(value: Any, file: str, line: int) -> Optional[_dt.date]:
    if value is None:
        return None
    # PyYAML already turns an unquoted 2025-06-30 into a date; a datetime is a
    # date subclass, but a time of day makes no sense for an expiry.
    if isinstance(value, _dt.datetime):
        raise InputError(file, line, "expires", "expected a date YYYY-MM-DD, not a timestamp")
    if isinstance(value, _dt.date):
        return value
    if isinstance(value, str):
        try:
            return _dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise InputError(file, line, "expires", f"expected an ISO date YYYY-MM-DD, got {value!r}")


def _link(value: Any, file: str, line: int) -> str:
    if not isinstance(value, str) or not value.strip().startswith(("https://", "http://")):
        raise InputError(file, line, "link", f"expected an http(s) URL, got {value!r}")
    link = value.strip()
    if any(ch.isspace() for ch in link) or len(link) <= len("https://"):
        raise InputError(file, line, "link", f"expected an http(s) URL, got {value!r}")
    return link


def _expectation(
    d: Any, file: str, line: int, suite_name: str, known: Sequence[str]
) -> Expectation:
    if not isinstance(d, dict):
        raise InputError(file, line, "expectations", "each expectation must be a mapping")
    for k in d:
        if k not in EXP_KEYS:
            raise InputError(
                file, _line(d, k, line), str(k),
                f"unknown key (allowed: {', '.join(EXP_KEYS)})",
            )
    for k in EXP_REQUIRED:
        if k not in d:
            raise InputError(file, line, k, "required for every expectation")

    case = _patterns(d["case"], file, _line(d, "case", line), "case", known)
    if len(case) != 1:
        raise InputError(file, _line(d, "case", line), "case", "one pattern per expectation")

    state = d["state"]
    if state not in EXPECTATION_STATES:
        raise InputError(
            file, _line(d, "state", line), "state",
            f"expected one of {', '.join(EXPECTATION_STATES)}, got {state!r}",
        )

    try:
        kernel = VersionRange.parse(d.get("kernel", "*"))
    except ValueError as e:
        raise InputError(file, _line(d, "kernel", line), "kernel", str(e)) from None

    reason_class = d.get("reason_class")
    if reason_class is not None:
        ln = _line(d, "reason_class", line)
        if state != SKIP_EXP:
            raise InputError(file, ln, "reason_class", "only applies to state: skip")
        if reason_class not in CASE_REASON_CLASSES:  # n/a is the agent's, by arch
            raise InputError(
                file, ln, "reason_class",
                f"expected one of {', '.join(CASE_REASON_CLASSES)}, got {reason_class!r}",
            )

    return Expectation(
        case=case[0],
        arch=_arch(d.get("arch"), file, _line(d, "arch", line)),
        kernel=kernel,
        env=_env(d.get("env"), file, _line(d, "env", line)),
        os=_strings(d.get("os"), file, _line(d, "os", line), "os"),
        release=_strings(d.get("release"), file, _line(d, "release", line), "release"),
        state=state,
        reason=_sentence(d["reason"], file, _line(d, "reason", line), "reason"),
        link=_link(d["link"], file, _line(d, "link", line)),
        expires=_date(d.get("expires"), file, _line(d, "expires", line)),
        reason_class=reason_class,
        suite=suite_name,
        file=file,
        line=line,
    )


def _bad_scalar_error(path: Path) -> InputError:
    import yaml

    text = path.read_text(encoding="utf-8")
    node = yaml.compose(text, Loader=yaml.SafeLoader)
    stack: list[tuple[Any, str]] = [(node, "yaml")]
    while stack:
        n, key = stack.pop()
        if isinstance(n, yaml.MappingNode):
            stack.extend((v, str(k.value)) for k, v in reversed(n.value))
        elif isinstance(n, yaml.SequenceNode):
            stack.extend((v, key) for v in reversed(n.value))
        elif isinstance(n, yaml.ScalarNode) and n.tag.endswith(":timestamp"):
            try:
                yaml.safe_load(n.value)
            except ValueError as e:
                return InputError(str(path), n.start_mark.line + 1, key,
                                  f"bad date {n.value!r}: {e}")
    return InputError(str(path), None, "yaml", "a value could not be read")


def load_suite(path: Path | str, known_case_ids: Sequence[str]) -> Suite:
    """Read and validate a suite; every problem is an InputError naming FILE:LINE."""
    file = str(path)
    try:
        data = yamlpos.load(path)
    except ValueError:
        # PyYAML turns `2025-02-30` into a date while loading and raises a bare
        # ValueError; find the offending scalar so the user still gets FILE:LINE.
        raise _bad_scalar_error(Path(path)) from None
    if not isinstance(data, dict):
        raise InputError(file, getattr(data, "line", 1), "suite", "expected a mapping at top level")
    for k in data:
        if k not in TOP_KEYS:
            raise InputError(
                file, _line(data, k, 1), str(k), f"unknown key (allowed: {', '.join(TOP_KEYS)})"
            )
    if "name" not in data:
        raise InputError(file, _line(data, None, 1), "name", "required")
    name = data["name"]
    if not isinstance(name, str) or not name.strip() or any(c.isspace() for c in name.strip()):
        raise InputError(file, _line(data, "name", 1), "name", "expected a name without spaces")
    name = name.strip()
    desc = data.get("description", "") or ""
    if not isinstance(desc, str):
        raise InputError(file, _line(data, "description", 1), "description", "expected text")

    cases = ["*"]
    if data.get("cases") is not None:
        cases = _patterns(data["cases"], file, _line(data, "cases", 1), "cases", known_case_ids)

    exps_raw = data.get("expectations") or []
    if not isinstance(exps_raw, list):
        raise InputError(
            file, _line(data, "expectations", 1), "expectations", "expected a list"
        )
    exps = []
    for i, d in enumerate(exps_raw):
        ln = getattr(d, "line", None) or _line(exps_raw, i, 1)
        exps.append(_expectation(d, file, ln, name, known_case_ids))
    return Suite(
        name=name,
        description=desc.strip(),
        cases=cases,
        expectations=ExpectationSet(exps),
        path=file,
    )


def find_suite(name_or_path: str | Path, suites_dir: Path | str) -> Path:
    """A suite file by path, or by name in `suites_dir` (`core` -> suites/core.yaml)."""
    p = Path(name_or_path)
    if p.is_file():
        return p
    sdir = Path(suites_dir)
    s = str(name_or_path)
    if "/" not in s and not s.endswith((".yaml", ".yml")):
        for ext in (".yaml", ".yml"):
            cand = sdir / f"{s}{ext}"
            if cand.is_file():
                return cand
    available = sorted(x.stem for x in sdir.glob("*.y*ml")) if sdir.is_dir() else []
    raise InputError(
        s, None, "suite",
        f"no such suite file or name (available in {sdir}: {', '.join(available) or 'none'})",
    )
