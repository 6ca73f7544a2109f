"""What a run may leave on a target: BPF objects, pins, netns, veths, modules.

Run inside the bundle (``python3 -m kmatrix_agent.leftovers WORKDIR``) before the
work directory is removed. Prints one JSON object. The controller compares it
with the preflight inventory; a BPF object counts as left behind only when it is
new *and* no process holds it (so other users of the kernel are not blamed).
Stdlib only, Python 3.7.
"""

import json
import os
import subprocess
import sys
import time

try:
    from kmatrix_agent import preflight
except ImportError:  # run from a checkout
    import preflight  # type: ignore


def _bpftool_detail(exe, kind):
    try:
        out = subprocess.run([exe, "-j", kind, "show"], stdout=subprocess.PIPE,
                             stderr=subprocess.DEVNULL, timeout=30).stdout
        items = json.loads(out.decode("utf-8", "replace") or "[]")
    except (OSError, ValueError, subprocess.SubprocessError):
        return None
    detail = {}
    for it in items if isinstance(items, list) else []:
        if isinstance(it, dict) and "id" in it:
            detail[str(it["id"])] = {
                "name": it.get("name") or it.get("prog_name") or "",
                "type": it.get("type", ""),
                "held_by": [p.get("comm", "") for p in it.get("pids", []) if isinstance(p, dict)],
            }
    return detail


def _unheld(detail):
    return sorted((k, i) for k, items in (detail or {}).items() for i, d in (items or {}).items()
                  if not d["held_by"])


def snapshot(workdir=None, settle=5.0):
    """Inventory once the kernel has finished freeing what our processes released.

    BPF programs and maps are freed after an RCU grace period, so objects of a
    process that just exited stay listed for a moment; wait until the set of
    unheld objects stops shrinking (or `settle` seconds pass)."""
    exe = preflight.which("bpftool")
    deadline = time.time() + settle
    detail = None
    while True:
        inv = preflight.inventory()
        prev, detail = detail, ({k: _bpftool_detail(exe, k) for k in ("prog", "map", "link")}
                                if exe else None)
        if detail is None or not _unheld(detail) or time.time() > deadline:
            break
        if prev is not None and _unheld(prev) == _unheld(detail):
            break
        time.sleep(0.5)
    inv["detail"] = detail
    inv["workdir_exists"] = bool(workdir) and os.path.exists(workdir)
    return inv


if __name__ == "__main__":
    sys.stdout.write(json.dumps(snapshot(sys.argv[1] if len(sys.argv) > 1 else None)) + "\n")
