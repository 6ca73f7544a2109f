"""What a run left on its target, judged after the agent's own clean-up.

The agent normally cleans up before it exits and sends its inventory in its
"cleanup" event; then nothing here runs on the target. Otherwise one exec stops a
still-running agent, takes the inventory and removes every work directory the
run's launches made. Either way the before/after inventories are compared here:
only objects this run created, and nobody holds, are leftovers.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Callable, Optional

from kmatrix.results import HostResult, as_text, is_number

# Stops the agent (if still running), takes the inventory (inv=1), removes each
# work directory and names any that stayed. Arguments, never a formatted string.
_SWEEP = (
    'pid=$1 py=$2 inv=$3; shift 3; '
    'if [ "$pid" != 0 ] && kill -TERM "$pid" 2>/dev/null; then sleep 1; fi; '
    'if [ "$inv" = 1 ] && [ -e "$1/agent.pyz" ]; then env PYTHONPATH="$1/agent.pyz" '
    '"$py" -m kmatrix_agent.leftovers "$1" "$pid"; fi; '
    'for d in "$@"; do rm -rf -- "$d"; if [ -e "$d" ]; then '
    'echo "KMATRIX_WORKDIR_LEFT $d"; fi; done'
)


@dataclass
class RunTrace:
    """What a host's run did on its target that clean-up must know."""

    workdir: str = ""  # the current launch's work directory
    workdirs: list[str] = field(default_factory=list)  # every one a launch made
    removed: set[str] = field(default_factory=set)  # ... those already removed
    after: Optional[dict[str, Any]] = None  # the agent's own inventory, if it sent one
    agent_ran: bool = False  # a bundle was sent: cases may have left something
    agent_pid: int = 0


def clean_target(transport: Any, python: str, trace: RunTrace, result: HostResult,
                 warn: Callable[[str], None], say: Callable[[str], None]) -> None:
    """Judge (and if need be remove) what the run left; record it in result.facts."""
    facts = result.facts
    workdir = trace.workdir
    # only ever remove what our own launches created
    stale = [w for w in trace.workdirs if w not in trace.removed and "/kmatrix." in w]
    after = trace.after
    left: list[str] = []
    if not trace.agent_ran:
        # No case ran, so there is nothing to inventory: only the launchers'
        # workdirs (an interrupted launcher removes its own on EOF; make sure).
        if stale:
            transport.run(["rm", "-rf", "--", *stale], timeout=60)
        facts["leftovers"] = []
        facts["cleanup"] = {"confirmed": True, "reason": ""}
        return
    if stale or after is None:
        if "/kmatrix." not in workdir:
            return
        dirs = [workdir] + [w for w in stale if w != workdir]
        res = transport.run(["sh", "-c", _SWEEP, "sh", str(trace.agent_pid or 0), python,
                             "1" if after is None else "0", *dirs], timeout=120)
        for line in res.stdout.decode(errors="replace").splitlines():
            if line.startswith("KMATRIX_WORKDIR_LEFT "):
                left.append(f"work directory {line.split(' ', 1)[1]}")
            elif line.startswith("{") and after is None:
                try:
                    after = json.loads(line)
                except ValueError:
                    after = None
    before = (facts or {}).get("inventory") or {}
    if isinstance(after, dict):
        left += leftovers(before, after)
        blind = unchecked(before, after)
    else:
        # No inventory was taken (the work directory and its bundle were gone, e.g.
        # after a reset): that is what to say, not that bpftool or ip is missing.
        blind = ["the target's state after the run (no inventory: the agent's work "
                 "directory was gone, so kmatrix_agent.leftovers could not run)"]
    if blind:
        # A check that could not look must not read as a clean target.
        facts["leftover_check"] = {"degraded": blind}
        warn(f"{result.name}: leftover check degraded, not compared: {'; '.join(blind)}")
    facts["leftovers"] = left
    facts["cleanup"] = {"confirmed": True, "reason": ""}
    if isinstance(after, dict) and is_number(after.get("seconds")):
        facts["cleanup"]["agent_seconds"] = after["seconds"]
    if isinstance(after, dict) and after.get("ignored"):
        # Debug detail: BPF objects other processes created while we ran.
        facts["leftover_check"] = dict(facts.get("leftover_check") or {},
                                       ignored_foreign_objects=after["ignored"])
    if left:
        msg = "left on the target after the run: " + "; ".join(left)
        say(msg)
        result.error = result.error or msg


def leftovers(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """Objects present after the run and not before; BPF objects only if nobody holds
    them and, when the agent recorded its own ids, only those (a shared target's other
    BPF users are not ours to blame; they are counted in after["ignored"])."""
    from kmatrix.agent.leftovers import being_freed

    out: list[str] = []
    detail = after.get("detail") or {}
    own = after.get("own") if isinstance(after.get("own"), dict) else None
    freeing = being_freed(detail)  # released, still listed: the kernel is freeing them
    ignored = 0
    for key, kind in (("progs", "prog"), ("maps", "map"), ("links", "link")):
        old = set(before.get(key) or [])
        new = [i for i in after.get(key) or [] if i not in old]
        if before.get(key) is None:
            continue  # no bpftool at preflight: nothing to compare against
        if own is not None:
            mine = set(own.get(key) or [])
            ignored += sum(1 for i in new if i not in mine)
            new = [i for i in new if i in mine]
        for i in new:
            d = (detail.get(kind) or {}).get(str(i))
            if d is None:
                continue  # gone between the two listings
            if d.get("held_by"):
                continue  # a live process owns it: not ours to blame
            if (kind, str(i)) in freeing:
                continue
            out.append(f"bpf {kind} {i} ({d.get('type')} {d.get('name')})".replace(" )", ")"))
    for p in after.get("processes") or []:
        if isinstance(p, dict):
            out.append(f"process {p.get('pid')} ({as_text(p.get('comm'))[:32]}) of this run, "
                       f"ended by {as_text(p.get('ended_by'))[:20]}")
    for key, label in (("pinned", "pinned object"), ("netns", "network namespace"),
                       ("veths", "veth device"), ("modules", "module")):
        if before.get(key) is None or after.get(key) is None:
            continue
        old = set(before.get(key) or [])
        if key == "pinned":
            old |= BPFFS_PRELOAD
        out += [f"{label} {x}" for x in after.get(key) or [] if x not in old]
    after["ignored"] = ignored
    return out


# Inventory keys and what a missing one means, for the degraded-check notice.
_INVENTORY_SOURCES = {"progs": "BPF programs", "maps": "BPF maps", "links": "BPF links"}


def unchecked(before: dict[str, Any], after: dict[str, Any]) -> list[str]:
    """What the leftover check could not compare, each with the tool that was missing."""
    out: list[str] = []
    bpf = [k for k in ("progs", "maps", "links") if before.get(k) is None or after.get(k) is None]
    if bpf:
        out.append(", ".join(_INVENTORY_SOURCES[k] for k in bpf) + " (no bpftool on the "
                   "target; Debian: bpftool, openEuler: dnf install bpftool)")
    # No /sys/fs/bpf, /run or /proc/modules means nothing of that kind can be left;
    # a missing `ip` command, though, hides veths that may be there.
    if before.get("veths") is None or after.get("veths") is None:
        out.append("veth devices (no ip command on the target; iproute2)")
    return out


# The kernel itself pins these iterators (CONFIG_BPF_PRELOAD) whenever bpffs is
# mounted: a mount during the run (by the user, systemd or another tool) is not a leak.
BPFFS_PRELOAD = frozenset({"/sys/fs/bpf/maps.debug", "/sys/fs/bpf/progs.debug"})
