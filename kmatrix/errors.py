"""Error types shared by the controller.

InputError renders as one line ``FILE:LINE: FIELD: MESSAGE`` so a user can jump
straight to the bad spot; the CLI prints it without a traceback.
"""

from __future__ import annotations

from typing import Optional

# Exit codes, documented in `runners/run --help` and the README.
EXIT_OK = 0  # every case matched its expectation
EXIT_FAIL = 1  # at least one regression (unexpected fail)
EXIT_INFRA = 2  # usage error, bad input or infrastructure error
EXIT_INTERRUPTED = 130  # Ctrl-C / SIGTERM: partial results written, marked incomplete


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
        where = f"{self.file}:{self.line}" if self.line is not None else self.file
        return f"{where}: {self.field}: {self.message}"


class TransportError(KmatrixError):
    """The target could not be reached, or the connection dropped."""


class HostKeyError(TransportError):
    """The target's host key is unknown or does not match known_hosts."""


class BuildError(KmatrixError):
    """A build step failed for a whole host (not a single case)."""


class LabError(KmatrixError):
    """A QEMU lab guest could not be built or booted."""
