"""(e) Agent start-up: time from the host's one exec to the agent's first case event, per arch.

    .venv/bin/python bench/agent_startup.py            # loopback sshd + one lab guest per arch
    .venv/bin/python bench/agent_startup.py --no-lab   # loopback sshd only
    .venv/bin/python bench/agent_startup.py --smoke    # loopback sshd, 2 cases

Each host runs the real runner in this process with its transport wrapped in
``bench/simtransport.py`` ``RecordingTransport`` (``transport: record``). The host's
one exec (kmatrix/launch.py) first prints the facts: ``facts`` is the time from
the exec to that line (SSH exec, interpreter start, the launcher and the
preflight). The controller then builds and sends the bundle; the agent's lines
are stamped from the end of that send: ``hello`` (zipapp import, libbpf load),
``probes`` (BTF walk, capability probes), the first ``start`` event. The
target-side start-up is facts + first case event (the controller's build in
between is not the target's). Also printed: the agent's own clean-up (last
result -> ``cleanup`` line) and its mean time per case outside the check
(spacing of the result lines minus each case's duration). The lab hosts need
their images cached (see bench/lab_warm.py) and boot from their VM snapshot when
they have one; riscv64 under TCG is the slow one. Target: a first case event on
every lab arch (the issue sets no number: the figures are the result).
Exit 0 met, 1 missed, 2 cannot measure.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import tempfile
from pathlib import Path
from typing import Any, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402
import _lab as L  # noqa: E402


def _r(x: Optional[float]) -> Optional[float]:
    return None if x is None else round(x, 3)


def agent_tail(trace: Any) -> tuple[Optional[float], Optional[float], int]:
    """(agent clean-up: last result -> cleanup line; mean seconds per case outside the
    check: result spacing minus duration; cases)."""
    prev: Optional[float] = None
    last_result: Optional[float] = None
    cleanup: Optional[float] = None
    outside: list[float] = []
    for t, line in trace.lines:
        try:
            ev = json.loads(line)
        except ValueError:
            continue
        kind = ev.get("event") if isinstance(ev, dict) else None
        if kind == "probes":
            prev = t
        elif kind == "result":
            if prev is not None:
                outside.append(t - prev - float(ev.get("duration") or 0.0))
            prev = last_result = t
        elif kind == "cleanup":
            cleanup = t
    tidy = cleanup - last_result if cleanup is not None and last_result is not None else None
    per_case = sum(outside) / len(outside) if outside else None
    return tidy, per_case, len(outside)


def startup_row(name: str, arch: str, trace: Any, res_host: Any) -> dict[str, Any]:
    hello = next((t for t, line in trace.lines if '"hello"' in line), None)
    # hello: the zipapp import and the libbpf load are done (the interpreter was
    # started for the facts); probes: the BTF walk and the capability probes too.
    probes = next((t for t, line in trace.lines if '"event": "probes"' in line), None)
    first = trace.first_case_event
    facts = trace.preflight_elapsed if trace.preflight_stdout else None
    tidy, per_case, n = agent_tail(trace)
    return {"host": name, "arch": arch, "kernel": res_host.kernel,
            "python": (res_host.facts or {}).get("python"),
            "facts": _r(facts), "hello": _r(hello), "probes": _r(probes),
            "first_case_event": _r(first),
            "target_startup": _r(facts + first if facts is not None and first is not None
                                 else None),
            "agent_cleanup": _r(tidy), "per_case_outside": _r(per_case), "cases": n,
            "round_trips": res_host.round_trips,
            "boot": res_host.timings.get("boot"),
            "boot_kind": res_host.properties.get("lab.boot"), "error": res_host.error}


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--smoke", action="store_true", help="tiny quick version (CI)")
    ap.add_argument("--no-lab", action="store_true", help="loopback sshd only")
    ap.add_argument("--hosts", type=Path, default=L.HOSTS_YAML)
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    ap.add_argument("-k", dest="lab_pattern", default=None,
                    help="only lab cases matching (as kmatrix -k): the start-up does not depend "
                         "on the rest of the catalogue, and the full one takes minutes per guest")
    a = ap.parse_args(argv)
    v = C.Verdict("(e) agent start-up")
    from simtransport import recording
    from sshd import sshd_available, start_sshd

    rows: list[dict[str, Any]] = []
    cache = L.default_cache()
    lab = [] if (a.smoke or a.no_lab) else L.lab_hosts(a.hosts, True, cache)
    missing = L.missing_images(lab, cache)
    if missing:
        v.cannot("lab arches", "image not built yet for " + ", ".join(missing))
        lab = [h for h in lab if not any(m.startswith(h.name + " ") for m in missing)]
    print(f"load average before: {C.loadavg()}  ({os.cpu_count()} cores)", flush=True)
    with tempfile.TemporaryDirectory(prefix="kmatrix-bench-e.") as tmp:
        work = Path(tmp)
        traces: dict[str, Any] = {}
        if os.geteuid() == 0 and sshd_available():
            info = start_sshd(work / "sshd")
            try:
                host = C.ssh_host("loopback", info, transport="record")
                pattern = "dynptr/" if a.smoke else None
                with recording(traces):
                    C.in_process_run([host], work / "warm", work / "cache", pattern=pattern)
                    res, _w = C.in_process_run([host], work / "loop", work / "cache",
                                               pattern=pattern)
                rows.append(startup_row("loopback sshd", "x86_64", traces["loopback"],
                                        res.hosts[0]))
            finally:
                info.stop()
        else:
            v.cannot("loopback sshd", "needs root and /usr/sbin/sshd")
        for h in lab:
            # One guest at a time: a TCG guest wants both cores, and the figure is per arch.
            rec = dataclasses.replace(h, transport="record")
            with recording(traces):
                res, _w = C.in_process_run([rec], work / f"lab-{h.name}", cache,
                                           suite="lab-debian", pattern=a.lab_pattern)
            tr = traces.get(h.name)
            if tr is None:
                rows.append({"host": h.name, "arch": h.arch, "error": res.hosts[0].error})
                continue
            rows.append(startup_row(h.name, h.arch, tr, res.hosts[0]))
            print(f"{h.name}: facts {rows[-1]['facts']}s, first case event "
                  f"{rows[-1]['first_case_event']}s after the bundle", flush=True)
    print(f"load average after: {C.loadavg()}")
    print("\n" + C.table(
        ["host", "arch", "kernel", "python", "exec->facts", "bundle->hello", "->probes",
         "->first case event", "target start-up", "agent clean-up", "per case outside check",
         "round trips", "boot"],
        [[r["host"], r["arch"], r.get("kernel", ""), r.get("python", ""),
          C.fmt_s(r.get("facts")), C.fmt_s(r.get("hello")), C.fmt_s(r.get("probes")),
          C.fmt_s(r.get("first_case_event")), C.fmt_s(r.get("target_startup")),
          C.fmt_s(r.get("agent_cleanup")),
          C.fmt_s(r.get("per_case_outside")) + (f" ({r['cases']})" if r.get("cases") else ""),
          r.get("round_trips", "-"),
          C.fmt_s(r.get("boot")) + (f" ({r['boot_kind']})" if r.get("boot_kind") else "")]
         for r in rows]))
    if a.json:
        a.json.write_text(json.dumps(rows, indent=2))
    for r in rows:
        v.check(f"{r['host']} ({r['arch']}) reaches a first case event",
                r.get("first_case_event") is not None and not r.get("error"),
                f"{C.fmt_s(r.get('first_case_event'))}" + (f"; {r['error']}" if r.get("error")
                                                           else ""))
    return v.finish()


if __name__ == "__main__":
    sys.exit(main())
