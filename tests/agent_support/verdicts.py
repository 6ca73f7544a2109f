"""One rule for the family tests of cases that run on any kernel: a case passes, or it
skips as kernel-lacks / environment-blocks with a sentence that names why; never a fail."""

from __future__ import annotations

import json
from typing import Iterable

SKIP_CLASSES = ("kernel-lacks", "environment-blocks")


def passed(r: dict, skip_words: Iterable[str] = ()) -> bool:
    """True when `r` passed (the caller then asserts its values); for a skip, assert it
    is a true one: a reason class the case may give and a reason naming one of
    `skip_words` (what the kernel lacks or what blocks it)."""
    shown = json.dumps(r, indent=1)
    assert r["state"] in ("pass", "skip"), shown
    if r["state"] == "pass":
        return True
    words = list(skip_words)
    assert words, "this case may not skip here: " + shown
    assert r["reason_class"] in SKIP_CLASSES, shown
    assert any(w in r["reason"] for w in words), (words, shown)
    return False
