"""(e) Agent start-up: time from the agent's exec to its first case event, per lab arch.

    .venv/bin/python bench/agent_startup.py            # loopback sshd + one lab guest per arch
    .venv/bin/python bench/agent_startup.py --no-lab   # loopback sshd only
    .venv/bin/python bench/agent_startup.py --smoke    # loopback sshd, 2 cases

Each host runs the real runner in this process with its transport wrapped in
``kmatrix.transport.sim.RecordingTransport`` (``transport: record``), which
stamps every line the agent prints with the time since the agent's exec. The
start-up is the stamp of the first ``start`` event: SSH exec, interpreter
start, zipapp import, libbpf binding and the agent's own set-up. The ``hello``
stamp splits it: before it the interpreter, the imports and the libbpf load;
from it to ``probes`` the BTF walk and the capability probes. The lab hosts
need their images cached (see bench/lab_warm.py); riscv64 under TCG is the slow
one. Target: a first case event on every lab arch (the issue sets no number: the
figures are the result). Exit 0 met, 1 missed, 2 cannot measure.
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


def startup_row(name: str, arch: str, trace: Any, res_host: Any) -> dict[str, Any]:
    hello = next((t for t, line in trace.lines if '"hello"' in line), None)
    # hello: interpreter start, imports and the libbpf load are done; probes: the BTF
    # walk (the probes need bpf_fentry_test1's id) and the capability probes too.
    probes = next((t for t, line in trace.lines if '"event": "probes"' in line), None)
    return {"host": name, "arch": arch, "kernel": res_host.kernel,
            "python": (res_host.facts or {}).get("python"),
            "first_line": round(trace.lines[0][0], 3) if trace.lines else None,
            "hello": round(hello, 3) if hello is not None else None,
            "probes": round(probes, 3) if probes is not None else None,
            "first_case_event": (round(trace.first_case_event, 3)
                                 if trace.first_case_event is not None else None),
            "preflight": res_host.timings.get("preflight"),
            "boot": res_host.timings.get("boot"), "error": res_host.error}


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
    from sshd import sshd_available, start_sshd

    from kmatrix.transport.sim import recording

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
            print(f"{h.name}: first case event {rows[-1]['first_case_event']}s", flush=True)
    print(f"load average after: {C.loadavg()}")
    print("\n" + C.table(
        ["host", "arch", "kernel", "python", "agent: first line", "hello", "probes",
         "first case event", "preflight (1 exec)", "boot"],
        [[r["host"], r["arch"], r.get("kernel", ""), r.get("python", ""),
          C.fmt_s(r.get("first_line")), C.fmt_s(r.get("hello")), C.fmt_s(r.get("probes")),
          C.fmt_s(r.get("first_case_event")), C.fmt_s(r.get("preflight")),
          C.fmt_s(r.get("boot"))] for r in rows]))
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
