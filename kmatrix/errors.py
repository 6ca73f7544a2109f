"""Error types shared by the controller.

InputError renders as one line ``FILE:LINE: FIELD: MESSAGE`` so a user can jump
straight to the bad spot; the CLI prints it without a traceback. Messages quote
values from the input, so rendering is where they are made safe: control
characters are escaped and long parts are cut in the middle (``one_line``).
"""

from __future__ import annotations

import re
from typing import Optional

# Exit codes, documented in `runners/run --help` and the README.
EXIT_OK = 0  # every case matched its expectation
EXIT_FAIL = 1  # at least one regression (unexpected fail)
EXIT_INFRA = 2  # usage error, bad input or infrastructure error
EXIT_INTERRUPTED = 130  # Ctrl-C / SIGTERM: partial results written, marked incomplete


# A rendered InputError is at most about MAX_LINE characters: enough for every real
# message (the longest, an unknown key with the allowed list, is under 300), while a
# hostile value (a 34 MB alias expansion, a 4 KiB path) still leaves one short line.
MAX_LINE = 360
MAX_FILE = 160
MAX_FIELD = 80
MIN_MESSAGE = 160  # the message keeps this much even after a long file name

_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")  # C0, DEL, C1
_NAMED = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def printable(text: object, keep: str = "") -> str:
    """``text`` with control characters (ESC, NUL, other C0 and C1) written as
    ``\\x1b``, ``\\n``..., so text that came from a target or an input file cannot
    move the cursor, retitle or clear the terminal. Characters in ``keep`` (e.g.
    "\\n\\t" for an intended multi-line block) pass through."""
    s = str(text)
    if not _CONTROL.search(s):
        return s
    return _CONTROL.sub(lambda m: m.group() if m.group() in keep
                        else _NAMED.get(m.group(), f"\\x{ord(m.group()):02x}"), s)


def clip(text: str, limit: int) -> str:
    """At most about ``limit`` characters: the middle is cut, so both the start of a
    value and the explanation after it survive."""
    if len(text) <= limit:
        return text
    head = limit * 2 // 3
    tail = limit - head
    return f"{text[:head]}...[{len(text) - head - tail} chars cut]...{text[-tail:]}"


def one_line(text: object, limit: int) -> str:
    """One terminal-safe line of at most about ``limit`` characters."""
    return clip(printable(text), limit)


class KmatrixError(Exception):
    """Base class for errors that are reported to the user as one line."""


class InputError(KmatrixError):
    def __init__(self, file: str, line: Optional[int], field: str, message: str) -> None:
        self.file = str(file)
        self.line = line
        self.field = field
        self.message = message
        super().__init__(str(self))

    def __str__(self) -> str:
        # The attributes keep the raw text; only the rendering is bounded.
        file = one_line(self.file, MAX_FILE)
        where = f"{file}:{self.line}" if self.line is not None else file
        head = f"{where}: {one_line(self.field, MAX_FIELD)}: "
        return head + one_line(self.message, max(MIN_MESSAGE, MAX_LINE - len(head)))


class TransportError(KmatrixError):
    """The target could not be reached, or the connection dropped."""


class HostKeyError(TransportError):
    """The target's host key is unknown or does not match known_hosts."""


class BuildError(KmatrixError):
    """A build step failed for a whole host (not a single case)."""


class LabError(KmatrixError):
    """A QEMU lab guest could not be built or booted."""
