"""Kernel-health detectors: splats in dmesg and on serial consoles, taint, timeouts.

Pure functions on the controller side; the agent only ships raw material (the
/dev/kmsg lines gained during a case, /proc/sys/kernel/tainted before and
after). Everything here is tested against golden samples in tests/data/golden/.

Matching works on the *message* of a line: syslog priority (``<4>``), raw
/dev/kmsg headers (``4,123,456,-;``), printk timestamps (``[   12.345678]``),
caller ids (``[  T123]``), ``dmesg -T``/``-x``/ISO dates and ``... kernel:``
syslog prefixes are stripped first, and every built-in pattern is anchored at the
start of the message. That anchoring is what keeps ``Spectre V2 : WARNING: ...``
or a BPF program called ``handle_BUG`` from counting as splats. Records whose
prefix says they came from user space (syslog facility other than kern) are
never splats, whatever they say.

Serial consoles mix kernel and user output: once a few lines there carry a
printk timestamp, lines without one are user output, shown in excerpts only.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Optional

from kmatrix import yamlpos
from kmatrix.errors import InputError

KINDS = ("panic", "oops", "bug", "warning", "lockup", "rcu_stall", "hung_task", "ubsan", "kasan")

BEFORE = 5  # excerpt lines kept before a finding's headline
AFTER = 20  # ... and after it, when no end-of-trace marker is near
MAX_AFTER = 60  # an end-of-trace marker this close ends the excerpt instead
FOLD_WINDOW = 25  # a second header of the same splat (BUG: ... -> Oops:) within this many lines
OWNER_WINDOW = 100  # a "Call Trace:" this soon after a finding belongs to it
MAX_LINE = 2000  # longer lines are cut before matching: consoles can hold binary junk
MAX_EXCERPT_LINE = 400

DEFAULT_RULES_FILE = Path(__file__).resolve().parent / "data" / "health.yaml"

# (kind, regex on the message, fatal). Order matters: the first match wins, so
# specific BUG:/KASAN: forms come before the generic ones.
_BUILTIN_DENY: tuple[tuple[str, str, bool], ...] = (
    ("panic", r"^Kernel panic - not syncing", True),
    # soft/hard lockups print "BUG:" too; they are lockups first
    ("lockup", r"^(?:watchdog: )?BUG: soft lockup - CPU#\d+ stuck for", False),
    ("lockup", r"^(?:NMI )?watchdog: Watchdog detected hard LOCKUP on cpu", False),
    ("lockup", r"^BUG: workqueue lockup", False),
    ("kasan", r"^BUG: KASAN: ", False),
    # x86 prints these before a GPF when KASAN decodes the shadow address
    ("kasan", r"^KASAN: (?:null-ptr-deref|maybe wild-memory-access|maybe user-memory-access)", False),
    ("ubsan", r"^UBSAN: ", False),
    # x86 page-fault oops headers; the "Oops:" line that follows folds into them
    ("oops", r"^BUG: (?:kernel NULL pointer dereference|unable to handle )", False),
    ("oops", r"^Unable to handle kernel \w", False),  # arm64, riscv64, arm
    ("oops", r"^Oops\b.*\[#\d+\]", False),  # x86 "Oops: 0002 [#1]", riscv "Oops [#1]"
    ("oops", r"^Internal error: .*\[#\d+\]", False),  # arm64/arm
    ("oops", r"^(?:general protection fault|invalid opcode|stack segment|double fault)\b.*\[#\d+\]", False),
    ("oops", r"^general protection fault, probably for non-canonical address", False),
    ("bug", r"^kernel BUG at \S+:\d+!", False),
    ("bug", r"^BUG: ", False),
    ("rcu_stall", r"^(?:rcu: )?INFO: rcu_\w+ (?:self-)?detected (?:expedited )?stalls?\b", False),
    ("hung_task", r"^INFO: task \S.* blocked for more than \d+ seconds", False),
    # __warn(): "WARNING: CPU: 1 PID: 2 at f.c:3 fn" until 6.18, "WARNING: f.c:3 at
    # fn, CPU#1: comm/2" (or "WARNING: at fn, CPU#1: ...") since 6.19, and
    # "WARNING: at f.c:3 fn()" on 2.6/3.x kernels.
    ("warning", r"^WARNING: (?:CPU: \d+ PID: \d+|at \S+:\d+|(?:\S+:\d+ )?at \S+, CPU#\d+: )", False),
    # lockdep and RCU-lockdep reports
    ("warning", r"^WARNING: (?:possible (?:circular|recursive|irq)|suspicious RCU usage"
                r"|inconsistent lock state|bad unlock balance|held lock freed"
                r"|lock held when returning|nested lock was not taken|bad contention"
                r"|\S+ still has locks held|\S+ is leaving the kernel with locks still held)", False),
    # warn_alloc(): a failed allocation without __GFP_NOWARN, with a stack dump
    ("warning", r"^\S+: page allocation failure: order:\d+", False),
)

# (kind of the finding just reported, kind of a header that follows within
# FOLD_WINDOW lines): the second header belongs to the same splat. x86 prints
# "BUG: kernel NULL pointer dereference" then "Oops: 0002 [#1]"; arm64 "Unable to
# handle ..." then "Internal error: Oops"; BUG() prints "kernel BUG at f.c:1!"
# then its trap's "Oops: invalid opcode" / "Internal error: Oops - BUG"; an x86
# GPF under KASAN adds "KASAN: null-ptr-deref in range ..." after its header.
_FOLDS = frozenset({("oops", "oops"), ("bug", "oops"), ("oops", "kasan")})

# A stack dump nobody announced with a known header is still reported (as a
# warning): something in the kernel thought it worth a backtrace.
_CALL_TRACE = re.compile(r"^Call [Tt]race:")
_CPU_HEADER = re.compile(r"^CPU: \d+ (?:UID: \d+ )?PID: \d+ Comm: ")
_END_MARKER = re.compile(r"^---\[ end (?:trace|Kernel panic)")

_PREFIX = re.compile(
    r"^(?:\s*<(?P<pri>\d{1,3})>)?"  # syslog priority (dmesg -r): facility*8 + level
    r"(?:(?P<kpri>\d+),\d+,\d+,[^;]{0,20};)?"  # raw /dev/kmsg record header
    r"(?:[A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d(?:\.\d+)? \S+ kernel: )?"  # syslog, journalctl
    r"(?:\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:[.,]\d+)?(?:Z|[+-]\d\d:?\d\d)?"
    r" (?:\S+ kernel: )?)?"  # dmesg --time-format=iso, journalctl -o short-iso
    r"(?:(?P<fac>[a-z0-9]+) *:(?:emerg|alert|crit|err|warn|notice|info|debug) *: )?"  # dmesg -x
    r"(?:\s*\[[A-Z][a-z]{2} [A-Z][a-z]{2} [ \d]\d \d\d:\d\d:\d\d \d{4}\])?"  # dmesg -T
    r"(?:\s*\[\s*\d+\.\d+\])?"  # printk time
    r"(?:\s*\[\s*[TC]\d+\])?"  # CONFIG_PRINTK_CALLER
)
_ANSI = re.compile(
    r"\x1b\[[0-9;?<=>]*[ -/]*[@-~]"  # CSI: colours, cursor moves
    r"|\x1b\][^\x07\x1b]{0,200}(?:\x07|\x1b\\)"  # OSC: terminal titles
    r"|\x1b[()][A-Z0-9]|\x1b[=>78cDEHM]"  # charset and other short escapes
    r"|[\x00-\x08\x0b-\x1f\x7f]"  # other control characters, CR included
)
_PRINTK_TIME = re.compile(r"\[\s*\d+\.\d{6}\]")

# /proc/sys/kernel/tainted bits (Documentation/admin-guide/tainted-kernels.rst).
TAINT_FLAGS: dict[int, tuple[str, str]] = {
    0: ("P", "proprietary module was loaded"),
    1: ("F", "module was force loaded"),
    2: ("S", "kernel running on an out of specification system"),
    3: ("R", "module was force unloaded"),
    4: ("M", "processor reported a Machine Check Exception"),
    5: ("B", "bad page referenced or some unexpected page flags"),
    6: ("U", "taint requested by userspace application"),
    7: ("D", "kernel died recently (OOPS or BUG)"),
    8: ("A", "ACPI table overridden by user"),
    9: ("W", "kernel issued warning"),
    10: ("C", "staging driver was loaded"),
    11: ("I", "workaround for bug in platform firmware applied"),
    12: ("O", "externally-built (out-of-tree) module was loaded"),
    13: ("E", "unsigned module was loaded"),
    14: ("L", "soft lockup occurred"),
    15: ("K", "kernel has been live patched"),
    16: ("X", "auxiliary taint, defined for and used by distros"),
    17: ("T", "kernel was built with the struct randomization plugin"),
    18: ("N", "an in-kernel test has been run"),
    19: ("J", "userspace used a mutating debug operation in fwctl"),
}
_LETTER_BIT = {letter: bit for bit, (letter, _) in TAINT_FLAGS.items()}

_TEST_MODULE_REASON = "kmatrix loads its own test module"
DEFAULT_TAINT_ALLOW: dict[str, str] = {"O": _TEST_MODULE_REASON, "E": _TEST_MODULE_REASON}


@dataclass(frozen=True)
class DenyRule:
    kind: str
    regex: re.Pattern[str]
    fatal: bool
    source: str = "built-in"  # FILE:LINE for rules from a YAML file


@dataclass(frozen=True)
class AllowRule:
    regex: re.Pattern[str]
    reason: str
    link: str
    kind: Optional[str] = None  # only findings of this kind
    match: str = "message"  # "message": the headline line; "excerpt": any excerpt line
    source: str = ""


@dataclass
class HealthRules:
    deny: list[DenyRule] = field(default_factory=list)
    allow: list[AllowRule] = field(default_factory=list)
    taint_allow: dict[str, str] = field(default_factory=lambda: dict(DEFAULT_TAINT_ALLOW))
    stack_dumps: bool = True  # report a "Call Trace:" no known header announced


@dataclass
class Finding:
    kind: str  # one of KINDS
    line_no: int  # 1-based line of the headline in the scanned text
    excerpt: str  # surrounding lines as they were (control characters removed)
    fatal: bool  # the kernel is gone (panic)
    message: str = ""  # the headline with timestamps stripped
    excerpt_start: int = 0  # 1-based line of the excerpt's first line
    rule: str = ""  # the deny regex that matched ("" for an unannounced Call Trace)
    allowed: Optional[str] = None  # "reason (link)" when an allow entry covers it

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def summary(self) -> str:
        return f"{self.kind} at line {self.line_no}: {self.message}"


# -- rules ----------------------------------------------------------------------


def builtin_deny() -> list[DenyRule]:
    return [DenyRule(k, re.compile(p), fatal) for k, p, fatal in _BUILTIN_DENY]


@functools.lru_cache(maxsize=1)
def default_rules() -> HealthRules:
    """Built-in deny list plus the allow list shipped in kmatrix/data/health.yaml."""
    if DEFAULT_RULES_FILE.is_file():
        return load_rules(DEFAULT_RULES_FILE)
    return HealthRules(deny=builtin_deny())


def load_rules(path: Path | str | None) -> HealthRules:
    """Rules from a YAML file, on top of the built-in defaults unless `defaults: false`.

    ```yaml
    defaults: true                      # keep the built-in deny list, taint allow-list
                                        # and the report of unannounced stack dumps
    deny:
      - {pattern: '^bpf_testmod: .* failed', kind: bug}
    allow:
      - pattern: '^WARNING: CPU: \\d+ PID: \\d+ at net/core/dev.c'
        kind: warning                   # optional
        match: message                  # or excerpt: any line of the splat
        reason: known noise on 6.6 QEMU guests
        link: https://bugzilla.openeuler.org/...
    taint_allow: {O: kmatrix loads its own test module}
    ```
    """
    if path is None:
        return HealthRules(deny=builtin_deny())
    file = str(path)
    doc = yamlpos.load(path)
    if doc is None:
        raise InputError(file, 1, "file", "empty; expected a mapping with deny/allow lists")
    if not isinstance(doc, dict):
        raise InputError(file, getattr(doc, "line", 1), "file",
                         "expected a mapping with deny/allow lists")
    for key in doc:
        if key not in ("defaults", "deny", "allow", "taint_allow"):
            raise InputError(file, _line(doc, key), str(key),
                             "unknown key (expected defaults, deny, allow, taint_allow)")
    use_defaults = doc.get("defaults", True)
    if not isinstance(use_defaults, bool):
        raise InputError(file, _line(doc, "defaults"), "defaults", "must be true or false")
    rules = HealthRules(deny=builtin_deny() if use_defaults else [],
                        taint_allow=dict(DEFAULT_TAINT_ALLOW) if use_defaults else {},
                        stack_dumps=use_defaults)
    for i, entry in enumerate(_seq(doc, "deny", file)):
        where = f"deny[{i}]"
        _check_keys(entry, where, file, _list_line(doc, "deny", i),
                    required=("pattern", "kind"), optional=("fatal",))
        kind = _kind(entry, where, file)
        fatal = entry.get("fatal", kind == "panic")
        if not isinstance(fatal, bool):
            raise InputError(file, _line(entry, "fatal"), f"{where}.fatal", "must be true or false")
        rules.deny.append(DenyRule(kind, _regex(entry, where, file), fatal,
                                   f"{file}:{_line(entry, 'pattern')}"))
    for i, entry in enumerate(_seq(doc, "allow", file)):
        where = f"allow[{i}]"
        _check_keys(entry, where, file, _list_line(doc, "allow", i),
                    required=("pattern", "reason", "link"), optional=("kind", "match"))
        reason = _text(entry, "reason", where, file)
        link = _text(entry, "link", where, file)
        if not re.match(r"^https?://\S+$", link):
            raise InputError(file, _line(entry, "link"), f"{where}.link",
                             f"must be an http(s) URL, got {link!r}")
        kind = _kind(entry, where, file) if "kind" in entry else None
        if kind == "panic":
            raise InputError(file, _line(entry, "kind"), f"{where}.kind",
                             "a panic is never allowed: the kernel is gone")
        regex = _regex(entry, where, file)
        match = entry.get("match", "message")
        if match not in ("message", "excerpt"):
            raise InputError(file, _line(entry, "match"), f"{where}.match",
                             f"must be 'message' or 'excerpt', got {match!r}")
        rules.allow.append(AllowRule(regex, reason, link, kind, match,
                                     f"{file}:{_line(entry, 'pattern')}"))
    if "taint_allow" in doc:
        ta = doc["taint_allow"]
        if not isinstance(ta, dict):
            raise InputError(file, _line(doc, "taint_allow"), "taint_allow",
                             "must be a mapping of taint letter to reason")
        for letter, reason in ta.items():
            if letter not in _LETTER_BIT:
                raise InputError(file, _line(ta, letter), f"taint_allow.{letter}",
                                 "unknown taint letter (one of "
                                 + "".join(sorted(_LETTER_BIT)) + ")")
            if not isinstance(reason, str) or not reason.strip():
                raise InputError(file, _line(ta, letter), f"taint_allow.{letter}",
                                 "needs a reason (a non-empty string)")
            rules.taint_allow[letter] = reason.strip()
    return rules


def _line(node: Any, key: Any) -> Optional[int]:
    return node.line_of(key) if hasattr(node, "line_of") else getattr(node, "line", None)


def _list_line(doc: Any, key: str, i: int) -> Optional[int]:
    seq = doc.get(key)
    return seq.line_of(i) if hasattr(seq, "line_of") else _line(doc, key)


def _seq(doc: dict[str, Any], key: str, file: str) -> list[Any]:
    val = doc.get(key)
    if val is None:
        return []
    if not isinstance(val, list):
        raise InputError(file, _line(doc, key), key, "must be a list of entries")
    return val


def _check_keys(entry: Any, where: str, file: str, line: Optional[int],
                required: Sequence[str], optional: Sequence[str]) -> None:
    if not isinstance(entry, dict):
        raise InputError(file, line, where, "must be a mapping")
    for key in entry:
        if key not in required and key not in optional:
            raise InputError(file, _line(entry, key), f"{where}.{key}",
                             "unknown key (expected " + ", ".join((*required, *optional)) + ")")
    for key in required:
        if key not in entry:
            raise InputError(file, getattr(entry, "line", line), f"{where}.{key}",
                             "missing (every allow entry needs a reason and a link)"
                             if where.startswith("allow") and key in ("reason", "link")
                             else "missing")


def _text(entry: dict[str, Any], key: str, where: str, file: str) -> str:
    val = entry.get(key)
    if not isinstance(val, str) or not val.strip():
        raise InputError(file, _line(entry, key), f"{where}.{key}", "must be a non-empty string")
    return val.strip()


def _kind(entry: dict[str, Any], where: str, file: str) -> str:
    kind = entry.get("kind")
    if kind not in KINDS:
        raise InputError(file, _line(entry, "kind"), f"{where}.kind",
                         f"unknown kind {kind!r} (one of {', '.join(KINDS)})")
    return str(kind)


def _regex(entry: dict[str, Any], where: str, file: str) -> re.Pattern[str]:
    pat = _text(entry, "pattern", where, file)
    try:
        regex = re.compile(pat)
    except re.error as e:
        raise InputError(file, _line(entry, "pattern"), f"{where}.pattern",
                         f"bad regex: {e}") from None
    if regex.search(""):
        # e.g. '.*' or 'foo|': an allow entry would hide every splat, a deny
        # entry would flag every line
        raise InputError(file, _line(entry, "pattern"), f"{where}.pattern",
                         f"{pat!r} matches an empty line, so it would match everything")
    return regex


# -- scanning -------------------------------------------------------------------


def message(line: str) -> str:
    """A log line without control characters, priority, timestamps and leading blanks."""
    return _split(line)[0]


def _split(line: str) -> tuple[str, bool]:
    """(message, from_user): from_user when the prefix names a non-kernel facility."""
    clean = _ANSI.sub("", line[:MAX_LINE])
    m = _PREFIX.match(clean)
    pri = m.group("pri") or m.group("kpri")
    fac = m.group("fac")
    from_user = (pri is not None and int(pri) >= 8) or (fac is not None and fac != "kern")
    return clean[m.end():].strip(), from_user


def _console_line(line: str) -> str:
    """The kernel part of a serial-console line.

    A carriage return starts the line over (progress bars, shell redraws), and
    printk does not start a new line after a login prompt or a half-written user
    line, so the text from the printk timestamp on is what the kernel said.
    """
    segs = [_ANSI.sub("", x) for x in line[:MAX_LINE].split("\r")]
    segs = [x for x in segs if x.strip()]
    if not segs:
        return ""
    pick = next((x for x in reversed(segs) if _PRINTK_TIME.search(x)), segs[-1])
    m = _PRINTK_TIME.search(pick)
    return pick[m.start():] if m else pick


def scan_lines(lines: Iterable[Any], rules: Optional[HealthRules] = None, *,
               console: bool = False) -> list[Finding]:
    """Every finding in `lines`, allowed ones included (with `allowed` set).

    `console`: the lines come from a serial console (see _console_line), where
    user output without a printk timestamp is ignored once the kernel's lines
    are seen to carry one.
    """
    rules = rules if rules is not None else default_rules()
    raw: list[str] = []
    for item in lines:
        text = item if isinstance(item, str) else str(item)
        # A dmesg item may hold several lines; count each one.
        raw.extend(x.rstrip("\r") for x in text.split("\n"))
    kernel = [_console_line(x) for x in raw] if console else raw
    split = [_split(x) for x in kernel]
    msgs = ["" if user else msg for msg, user in split]
    if console:
        stamped = [bool(_PRINTK_TIME.match(x)) for x in kernel]
        if sum(stamped) >= 3:
            msgs = [m if ok else "" for m, ok in zip(msgs, stamped)]
    # First the headlines: (kind, line index matched, headline index, fatal, rule).
    heads: list[tuple[str, int, int, bool, str]] = []
    for i, msg in enumerate(msgs):
        if not msg:
            continue
        hit = next((r for r in rules.deny if r.regex.search(msg)), None)
        if hit is not None:
            last = heads[-1] if heads else None
            # One splat often prints two headers: report it once (see _FOLDS).
            if (last is not None and (last[0], hit.kind) in _FOLDS and last[4]
                    and last[4] != hit.regex.pattern and i - last[2] <= FOLD_WINDOW):
                continue
            heads.append((hit.kind, i, i, hit.fatal, hit.regex.pattern))
        elif (rules.stack_dumps and _CALL_TRACE.match(msg)
              and not any(0 <= i - h[2] <= OWNER_WINDOW for h in heads)):
            # rule "": nothing folds into an unannounced stack dump
            heads.append(("warning", i, _orphan_head(i, msgs), False, ""))
    # Then the excerpts: each one stops before the next finding's headline.
    findings = []
    for n, (kind, i, h, fatal, rule) in enumerate(heads):
        stop = heads[n + 1][2] if n + 1 < len(heads) else len(raw)
        f = _finding(kind, i, raw, msgs, fatal, rule, head=h, stop=max(stop, i + 1))
        f.allowed = _allowed_by(f, rules)
        findings.append(f)
    return findings


def _finding(kind: str, i: int, raw: list[str], msgs: list[str], fatal: bool,
             rule: str, head: Optional[int] = None, stop: Optional[int] = None) -> Finding:
    h = i if head is None else head  # the headline; i is where matching happened
    stop = len(raw) if stop is None else stop
    start = max(0, h - BEFORE)
    # Context before the headline stops at the previous splat's end marker.
    for j in range(h - 1, start - 1, -1):
        if _END_MARKER.match(msgs[j]):
            start = j + 1
            break
    end = min(stop, i + 1 + AFTER)
    for j in range(i + 1, min(stop, i + 1 + MAX_AFTER)):
        if _END_MARKER.match(msgs[j]):
            end = j + 1
            break
    # Trim blank (or user-output) lines at both ends; keep the headline inside.
    while start < h and not msgs[start]:
        start += 1
    while end > i + 1 and not msgs[end - 1]:
        end -= 1
    excerpt = "\n".join(_display(x) for x in raw[start:end])
    return Finding(kind=kind, line_no=h + 1, excerpt=excerpt, fatal=fatal,
                   message=msgs[h][:MAX_EXCERPT_LINE], excerpt_start=start + 1,
                   rule=rule)


def _display(line: str) -> str:
    """A line as a terminal showed it: a carriage return starts it over."""
    segs = [_ANSI.sub("", x) for x in line[:MAX_LINE].split("\r")]
    return next((x for x in reversed(segs) if x.strip()), "")[:MAX_EXCERPT_LINE]


def _orphan_head(i: int, msgs: list[str]) -> int:
    """Headline of a stack dump at line i: the line before "CPU: N PID: N Comm: ..."
    says what dumped the stack."""
    for j in range(i - 1, max(-1, i - 10), -1):
        if _CPU_HEADER.match(msgs[j]):
            return j - 1 if j > 0 and msgs[j - 1] else j
    return i


def _allowed_by(f: Finding, rules: HealthRules) -> Optional[str]:
    if f.fatal:
        return None  # a dead kernel is never noise
    for a in rules.allow:
        if a.kind is not None and a.kind != f.kind:
            continue
        texts = [f.message] if a.match == "message" else \
            [message(x) for x in f.excerpt.split("\n")]
        if any(a.regex.search(t) for t in texts):
            return f"{a.reason} ({a.link})"
    return None


def scan_dmesg(lines: Sequence[Any], rules: Optional[HealthRules] = None) -> list[Finding]:
    """Splats in the dmesg lines a case gained, minus the allow-listed ones."""
    return [f for f in scan_lines(lines, rules) if f.allowed is None]


def scan_console(text: str, rules: Optional[HealthRules] = None) -> list[Finding]:
    """Splats on a guest's serial console (kernel and user output mixed)."""
    if not isinstance(text, str):
        text = bytes(text).decode("utf-8", "replace")
    return [f for f in scan_lines(text.split("\n"), rules, console=True) if f.allowed is None]


def summarize(findings: Sequence[Finding], limit: int = 3) -> str:
    """One sentence for a case's reason: the first few findings."""
    if not findings:
        return ""
    parts = [f"{f.kind}: {f.message}" for f in findings[:limit]]
    more = len(findings) - limit
    return "; ".join(parts) + (f" (+{more} more)" if more > 0 else "")


# -- taint ----------------------------------------------------------------------


def taint_bits(value: int) -> list[str]:
    """Letters of the set bits of /proc/sys/kernel/tainted, lowest bit first."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"taint mask must be a non-negative integer, got {value!r}")
    out = []
    bit = 0
    while value >> bit:
        if value >> bit & 1:
            out.append(TAINT_FLAGS[bit][0] if bit in TAINT_FLAGS else f"bit{bit}")
        bit += 1
    return out


def describe_taint(letters: Iterable[str]) -> str:
    """'W (kernel issued warning), D (...)' for a reason sentence."""
    out = []
    for letter in letters:
        bit = _LETTER_BIT.get(letter)
        out.append(f"{letter} ({TAINT_FLAGS[bit][1]})" if bit is not None else letter)
    return ", ".join(out)


def new_taint(before: Any, after: Any, allow: Optional[dict[str, str]] = None) -> list[str]:
    """Taint letters set in `after` but not in `before` and not on the allow-list.

    An unreadable mask on either side (None, or anything that is not a
    non-negative integer: the agent's output is data, not trusted) gives [],
    since nothing can be said.
    """
    old, new = _mask(before), _mask(after)
    if old is None or new is None:
        return []
    allow = DEFAULT_TAINT_ALLOW if allow is None else allow
    return [x for x in taint_bits(new & ~old) if x not in allow]


def _mask(value: Any) -> Optional[int]:
    if isinstance(value, bool):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, str) and re.fullmatch(r"[0-9]{1,20}", value.strip()):
        value = int(value.strip())  # the file's own text form
    return value if isinstance(value, int) and 0 <= value < 1 << 64 else None


# -- timeouts -------------------------------------------------------------------


def classify_timeout(alive: bool, console_findings: Optional[Sequence[Finding]],
                     timeout_s: Optional[float] = None) -> tuple[str, str]:
    """(state, reason) for a case that ran past its limit.

    `alive`: the host answered a fresh check afterwards. `console_findings`: what
    scan_console found since the case started, or None when there is no console
    (a real host without serial capture).
    """
    limit = f"its {timeout_s:g} s limit" if timeout_s is not None else "its time limit"
    findings = list(console_findings or [])
    fatal = [f for f in findings if f.fatal]
    if alive and not fatal:
        reason = f"timeout: the case ran past {limit}; the host still answers"
        if findings:
            reason += f"; console: {summarize(findings)}"
        return "fail", reason
    if alive:  # panicked and came back (panic=-1 reboots at once)
        return "error", (f"kernel-dead: the kernel panicked while the case ran and the host "
                         f"rebooted; console: {summarize(fatal + [f for f in findings if not f.fatal])}")
    if findings:
        # The panic is the verdict; what led to it (oops, lockup) comes next.
        ordered = fatal + [f for f in findings if not f.fatal]
        return "error", (f"kernel-dead: the host stopped answering after the case ran past "
                         f"{limit}; console: {summarize(ordered)}")
    why = "nothing on the console explains it" if console_findings is not None \
        else "no console to tell why"
    return "error", (f"kernel-dead: the host stopped answering after the case ran past "
                     f"{limit}; {why}")
