"""Kernel version ranges: the one parser for suites (expectations.py) and a case's
`requires: {kernel: ...}` (requires.py), so "6.18" means the same in both.

A range is a comma-separated conjunction of bounds such as ">=6.1,<6.9"; "*"
matches every kernel. A bare version or "==" / "=" means that series: "6.18"
and "==6.18" match any 6.18.x, "==6.18.3" only 6.18.3. "!=" is its negation.
The ordering bounds compare (major, minor, patch) with missing parts as 0.

Stdlib only, Python 3.7: it ships in the agent bundle and the controller
imports it from here.
"""

import re

_RELEASE = re.compile(r"^\s*(\d+)(?:\.(\d+))?(?:\.(\d+))?")
_BOUND = re.compile(r"^(>=|<=|==|!=|>|<|=)?\s*(\d+(?:\.\d+){0,2})$")
_SERIES_OPS = ("==", "!=")


def parse_release(release):  # type: (object) -> object
    """Numeric (major, minor, patch) of a kernel release, or None if it has none.

    Only the leading numbers count: "6.1.0-27-amd64" -> (6, 1, 0),
    "6.12.48+deb13-arm64" -> (6, 12, 48), "7.2.0-rc1-riscv64" -> (7, 2, 0) (an -rc
    is treated as the release it leads to: it already carries the merge window's
    features).
    """
    m = _RELEASE.match(str(release or ""))
    if not m:
        return None
    return (int(m.group(1)), int(m.group(2) or 0), int(m.group(3) or 0))


class Bound(object):
    """One bound: an operator and the version as written (1 to 3 parts)."""

    __slots__ = ("op", "version")

    def __init__(self, op, version):  # type: (str, tuple) -> None
        self.op = op
        self.version = version

    def ok(self, v):  # type: (tuple) -> bool
        if self.op in _SERIES_OPS:
            # Series semantics: compare only the components written.
            same = tuple(v[:len(self.version)]) == self.version
            return same if self.op == "==" else not same
        padded = self.version + (0,) * (3 - len(self.version))
        if self.op == ">=":
            return v >= padded
        if self.op == ">":
            return v > padded
        if self.op == "<=":
            return v <= padded
        return v < padded

    def __eq__(self, other):  # type: (object) -> bool
        return isinstance(other, Bound) and (self.op, self.version) == (other.op, other.version)

    def __hash__(self):  # type: () -> int
        return hash((self.op, self.version))

    def __repr__(self):  # type: () -> str
        return "Bound(%r, %r)" % (self.op, self.version)


class VersionRange(object):
    """A parsed range; `text` is the range as written, `bounds` empty for "*"."""

    __slots__ = ("text", "bounds")

    def __init__(self, text, bounds=()):  # type: (str, tuple) -> None
        self.text = text
        self.bounds = tuple(bounds)

    @classmethod
    def parse(cls, text):  # type: (object) -> VersionRange
        """Parse a range; raise ValueError with a message fit for a one-line error."""
        if isinstance(text, float):
            # YAML reads `kernel: 6.10` as the float 6.1: refuse rather than guess.
            raise ValueError("quote the version: YAML read %r as a number" % (text,))
        if isinstance(text, int) and not isinstance(text, bool):
            text = str(text)
        if not isinstance(text, str) or not text.strip():
            raise ValueError('expected a version range like ">=6.1,<6.4" or "*"')
        s = text.strip()
        if s == "*":
            return cls("*", ())
        bounds = []
        for part in s.split(","):
            part = part.strip()
            m = _BOUND.match(part)
            if not m:
                raise ValueError('bad version bound %r in %r (expected e.g. ">=6.1,<6.4", '
                                 '"6.6" or "*")' % (part, s))
            op = m.group(1) or "=="
            bounds.append(Bound("==" if op == "=" else op,
                                tuple(int(x) for x in m.group(2).split("."))))
        return cls(s, tuple(bounds))

    def contains(self, release):  # type: (str) -> bool
        if not self.bounds:
            return True
        v = parse_release(release)
        if v is None:
            return False  # an unknown kernel never matches a constrained range
        return all(b.ok(v) for b in self.bounds)

    def __eq__(self, other):  # type: (object) -> bool
        return isinstance(other, VersionRange) and (self.text, self.bounds) == (
            other.text, other.bounds)

    def __hash__(self):  # type: () -> int
        return hash((self.text, self.bounds))

    def __repr__(self):  # type: () -> str
        return "VersionRange(%r)" % (self.text,)
