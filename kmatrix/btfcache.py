"""The target's kernel BTF, fetched once per content and cached on the controller.

The launcher's facts carry the sha256 of /sys/kernel/btf/vmlinux, so a warm cache
costs no round trip; a cold one costs one exec (`cat`)."""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any, Callable

from kmatrix.errors import KmatrixError


def fetch_btf(transport: Any, host_name: str, facts: dict[str, Any], cache_dir: Path,
              say: Callable[[str], None]) -> Path:
    """The path of the target's vmlinux BTF in `cache_dir`/btf, fetched if not there."""
    sha = (facts.get("btf") or {}).get("sha256") or ""
    cache = cache_dir / "btf"
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"{sha}.btf"
    if sha and path.exists():
        return path
    say("fetching /sys/kernel/btf/vmlinux")
    fd, tmp = tempfile.mkstemp(dir=cache, suffix=".part")
    os.close(fd)
    try:
        res = transport.run(["cat", "/sys/kernel/btf/vmlinux"], timeout=300)
        if res.returncode != 0:
            raise KmatrixError(f"host {host_name}: cannot read the target's BTF: "
                               f"{res.stderr.decode(errors='replace').strip()}")
        Path(tmp).write_bytes(res.stdout)
        got = hashlib.sha256(res.stdout).hexdigest()
        final = cache / f"{got}.btf"
        os.replace(tmp, final)
        return final
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
