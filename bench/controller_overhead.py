"""(a) Controller overhead on the loopback sshd: wall / agent-measured case time, round trips.

    .venv/bin/python bench/controller_overhead.py            # catalogue x1, x4, x16
    .venv/bin/python bench/controller_overhead.py --smoke    # tiny: 2 cases, x1 and x2

A real OpenSSH sshd on 127.0.0.1 (tests/sshd.py) is the target; each point is
one `runners/run` (the README command) with a warm build and BTF cache, so no
compile or image build is in the figures. The catalogue is replicated N times
(identical copies ``<name>_rNN``) to show how the cost grows with the number of
cases. Printed per point:

* ratio = wall of `runners/run` / sum of the case durations the agent measured
  (target: <= 1.3 on the real catalogue, x1);
* fixed cost per run = wall - case time at x1 (target: <= 1.0 s);
* SSH round trips of the host (exec calls, counted by the transport; target:
  the same for every N, and 1 on a warm run: the one exec whose launcher prints
  the facts and then runs the agent);
* where the rest goes: the runner's phase timings (connect, facts = the
  launcher's first line, build, cases = bundle sent + agent run), the agent's
  time outside the checks (start-up, per-case bookkeeping, its own clean-up),
  the session teardown, and the controller process itself;
* per case outside the check: the growth of wall and of the agent's non-check
  time per extra case (x1 -> largest N).

Exit 0 when every target is met, 1 when one is missed, 2 when it cannot measure.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

RATIO_TARGET = 1.3
FIXED_TARGET = 1.0  # seconds: wall - case time, one host, warm caches
WARM_ROUND_TRIPS = 1
# "preflight" is the launcher's facts (the first line of the one exec)
PHASES = ("connect", "preflight", "build", "cases")


def measure(hosts: Path, cases_dir: Path, cache: Path, out: Path, run_id: str,
            pattern: Optional[str], via_runners: bool) -> dict[str, Any]:
    extra = ["--cases-dir", str(cases_dir), "-q"] + (["-k", pattern] if pattern else [])
    wall, rc, err = C.run_kmatrix(hosts, out, run_id, cache, *extra, via_runners=via_runners)
    run_dir = out / run_id
    if not (run_dir / "results.json").exists():
        return {"error": f"exit {rc}, no results.json: {err.strip()[-600:]}"}
    h = C.read_results(run_dir)["hosts"][0]
    case_sum = C.case_time(h)
    t = h.get("timings") or {}
    phases = {k: float(t.get(k, 0.0)) for k in PHASES}
    total = float(t.get("total", 0.0))
    return {
        "rc": rc, "error": h.get("error"), "cases": len(h.get("cases", [])),
        "states": sorted({c["state"] for c in h.get("cases", [])}),
        "wall": round(wall, 3), "host_total": total, "case_sum": round(case_sum, 4),
        "ratio": round(wall / case_sum, 2) if case_sum > 0 else None,
        "round_trips": int(h.get("round_trips", 0)), "phases": phases,
        # cases phase minus the checks: bundle transfer, agent start-up, per-case
        # bookkeeping and the agent's own clean-up (it runs before the exec ends)
        "agent_other": round(phases["cases"] - case_sum, 3),
        "teardown": round(total - sum(phases.values()), 3),  # session close, results
        "process": round(wall - total, 3),  # interpreter, imports, reports, bootstrap
    }


def plot(rows: list[dict[str, Any]], path: Path) -> Optional[str]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed: no plot"
    ok = [r for r in rows if r.get("cases")]
    fig, ax = plt.subplots(figsize=(6.5, 3.8), dpi=110)
    ax.plot([r["cases"] for r in ok], [r["round_trips"] for r in ok], "o-",
            label="SSH round trips per host (exec calls)")
    ax.set_xscale("log")
    ax.set_ylim(0, max(3, max(r["round_trips"] for r in ok) * 2))
    ax.set_xlabel("cases run on the host")
    ax.set_ylabel("round trips")
    ax.set_title("kmatrix: round trips per host vs number of cases (loopback sshd)", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8, loc="lower right")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return None


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--smoke", action="store_true", help="tiny quick version (CI): no ratio verdict")
    ap.add_argument("--copies", default="1,4,16", help="catalogue replication factors")
    ap.add_argument("-k", dest="pattern", default=None, help="only cases matching (as kmatrix -k)")
    ap.add_argument("--kmatrix", action="store_true",
                    help="call .venv/bin/kmatrix instead of runners/run (skips the bootstrap)")
    ap.add_argument("--plot", type=Path, default=None, help="write the round-trip plot here")
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    a = ap.parse_args(argv)

    v = C.Verdict("(a) controller overhead")
    from sshd import sshd_available, start_sshd

    if os.geteuid() != 0:
        v.cannot("loopback run", "needs root (sshd for the current user, BPF loads)")
        return v.finish()
    missing = [x for x in ("clang", "bpftool") if not shutil.which(x, path="/usr/sbin:/usr/bin")]
    if not sshd_available() or missing:
        v.cannot("loopback run", f"missing: {' '.join(missing + ([] if sshd_available() else ['sshd']))}")
        return v.finish()
    copies = [1, 2] if a.smoke else [int(x) for x in a.copies.split(",")]
    pattern = a.pattern or ("dynptr/" if a.smoke else None)
    print(f"load average before: {C.loadavg()}  ({os.cpu_count()} cores)")
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="kmatrix-bench-a.") as tmp:
        work = Path(tmp)
        info = start_sshd(work / "sshd")
        try:
            hosts = C.write_hosts(work / "hosts.yaml", [C.sshd_host("loop", info)])
            cache = work / "cache"
            cat1 = C.replicate_catalog(C.CASES, work / "cases-x1", 1)
            # Warm-up (not measured): fills the BTF and object caches, as in warm CI.
            warm = measure(hosts, cat1, cache, work / "out", "warm", pattern, not a.kmatrix)
            if warm.get("error") or warm.get("rc") not in (0, 1):
                v.cannot("loopback run", f"warm-up run failed: {warm}")
                return v.finish()
            for n in copies:
                cat = cat1 if n == 1 else C.replicate_catalog(C.CASES,
                                                               work / f"cases-x{n}", n)
                r = measure(hosts, cat, cache, work / "out", f"x{n}", pattern, not a.kmatrix)
                r["copies"] = n
                rows.append(r)
                if r.get("cases"):
                    print(f"x{n:<3d} {r['cases']:4d} cases  wall {r['wall']:.2f}s  case time "
                          f"{r['case_sum']:.3f}s  ratio {r['ratio']}  round trips "
                          f"{r['round_trips']}", flush=True)
                else:
                    print(f"x{n}: {r.get('error')}", flush=True)
        finally:
            info.stop()
    print(f"load average after: {C.loadavg()}")

    good = [r for r in rows if r.get("cases")]
    print("\n" + C.table(
        ["copies", "cases", "wall", "case time", "wall/case time", "round trips", "connect",
         "facts", "build", "cases phase", "agent (not checks)", "teardown", "process"],
        [[f"x{r['copies']}", r["cases"], C.fmt_s(r["wall"]), C.fmt_s(r["case_sum"]),
          r["ratio"], r["round_trips"], *(C.fmt_s(r["phases"][k]) for k in PHASES),
          C.fmt_s(r["agent_other"]), C.fmt_s(r["teardown"]), C.fmt_s(r["process"])]
         for r in good]))
    if len(good) >= 2 and good[-1]["case_sum"] > good[0]["case_sum"]:
        lo, hi = good[0], good[-1]
        marginal = (hi["wall"] - lo["wall"]) / (hi["case_sum"] - lo["case_sum"])
        per_case = (hi["wall"] - lo["wall"]) / (hi["cases"] - lo["cases"])
        fixed = lo["wall"] - lo["case_sum"]
        # what an extra case costs outside its check: wall, and inside the agent's run
        outside = ((hi["wall"] - hi["case_sum"]) - (lo["wall"] - lo["case_sum"])) / (
            hi["cases"] - lo["cases"])
        agent_outside = (hi["agent_other"] - lo["agent_other"]) / (hi["cases"] - lo["cases"])
        print(f"\nmarginal wall per second of case time (x{lo['copies']} -> x{hi['copies']}): "
              f"{marginal:.2f}; wall per extra case {per_case * 1000:.0f} ms; fixed cost per "
              f"run {fixed:.2f}s")
        print(f"per extra case outside its check: {outside * 1000:.1f} ms of wall, of which "
              f"{agent_outside * 1000:.1f} ms in the agent (requirement check, kmsg/taint "
              f"reads, result line)")
    if a.json:
        a.json.write_text(json.dumps({"rows": rows, "cores": os.cpu_count()}, indent=2))
    if a.plot and good:
        print(plot(good, a.plot) or f"plot: {a.plot}")

    for r in rows:
        if not r.get("cases") or r.get("error"):
            v.check(f"x{r['copies']} run completes", False, str(r.get("error")))
    rts = sorted({r["round_trips"] for r in good})
    v.check("round trips per host constant as cases grow", len(rts) == 1,
            ", ".join(f"{r['cases']} cases: {r['round_trips']}" for r in good))
    if good:
        v.check(f"{WARM_ROUND_TRIPS} round trip per host on a warm run", rts == [WARM_ROUND_TRIPS],
                ", ".join(str(x) for x in rts))
    base = next((r for r in good if r["copies"] == 1), None)
    if not a.smoke and base is not None:
        ok = base["ratio"] is not None and base["ratio"] <= RATIO_TARGET
        v.check(f"wall / case time <= {RATIO_TARGET} (real catalogue, {base['cases']} cases)", ok,
                f"{base['wall']:.2f}s / {base['case_sum']:.3f}s = {base['ratio']}")
        fixed = base["wall"] - base["case_sum"]
        v.check(f"fixed cost per run <= {FIXED_TARGET:.1f}s (wall - case time, "
                f"{base['cases']} cases)", fixed <= FIXED_TARGET,
                f"{base['wall']:.2f}s - {base['case_sum']:.3f}s = {fixed:.2f}s")
    return v.finish()


if __name__ == "__main__":
    sys.exit(main())
