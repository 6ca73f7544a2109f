"""(c) Controller scale: 1 ... 1,000 simulated hosts driven by the real runner.

    .venv/bin/python bench/sim_scale.py            # full sweep + 16 real sshd hosts + plot
    .venv/bin/python bench/sim_scale.py --smoke    # 1 and 3 simulated hosts, 2 real sshd hosts

Each simulated host (``transport: sim``) is a ``bench/simtransport.py`` ``SimTransport``
replaying a trace recorded from a real run over the loopback sshd
(``bench/data/loopback-x86_64.jsonl``; ``--record`` records it again), with injected
latency and jitter per round trip. ``Run``/``HostRun`` are the real, unmodified
code: the one exec per host (the launcher's facts line, the bundle sent down the
same exec's stdin, the agent's lines), facts parsing, the local build (warm
cache), bundling, event handling and partial results writes all run; only the far
end of the wire is simulated. A warm host is 1 round trip.

Every point runs in a fresh subprocess, so ``ru_maxrss`` is that run's peak, and
the process's CPU time divided by the hosts is the controller's serial cost per
host. The runner is the tree's, unpatched.

Targets: total <= slowest host x 1.10 and peak RSS < 1 GiB at 1,000 hosts.
16 real sshd processes on loopback then run concurrently and their measured total
is set against the simulator's prediction for 16 hosts at loopback latency.
Exit 0 met, 1 missed, 2 cannot measure.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402

TRACE = C.DATA / "loopback-x86_64.jsonl"
RATIO_TARGET = 1.10
RSS_TARGET_MIB = 1024.0


# ------------------------------------------------------------------ recording


def record_trace(path: Path, work: Path) -> None:
    """One real run over a loopback sshd, every transport call recorded."""
    from simtransport import recording
    from sshd import start_sshd

    info = start_sshd(work / "rec-sshd")
    try:
        host = C.ssh_host("loop", info, transport="record")
        traces: dict[str, Any] = {}
        cache = work / "rec-cache"
        with recording(traces):
            C.in_process_run([host], work / "rec-warm", cache)  # warms the build cache
            traces.clear()
            res, _wall = C.in_process_run([host], work / "rec", cache)
        if res.hosts[0].error:
            raise SystemExit(f"recording failed: {res.hosts[0].error}")
        path.parent.mkdir(parents=True, exist_ok=True)
        traces["loop"].dump(path)
        print(f"recorded {path} ({len(traces['loop'].lines)} agent lines)")
    finally:
        info.stop()


# ------------------------------------------------------------------ one point (subprocess)


def worker(n: int, latency: float, jitter: float, trace_path: Path,
           work: Path) -> dict[str, Any]:
    from simtransport import SimModel, Trace, simulated

    from kmatrix.inventory import Host

    trace = Trace.load(trace_path)
    ids = {r["case"] for r in trace.results()}
    # The controller builds against *some* BTF: use this machine's, so the trace's
    # (recorded elsewhere, maybe) needs no fetch; it is in the cache as in warm CI.
    cache = work / "cache"
    sha = C.seed_btf_cache(cache)
    facts = json.loads(trace.preflight_stdout.strip().splitlines()[-1])
    if sha:
        facts.setdefault("btf", {})["sha256"] = sha
    trace.preflight_stdout = json.dumps(facts)
    model = SimModel(latency=latency, jitter=jitter)
    # Time the run's final report writing (results.json, JUnit): it runs after the
    # last host ends, so it is part of total - slowest host. Measured, not changed.
    import kmatrix.runner as runner

    finish_s: list[float] = []
    real_finish = runner.Run.finish

    def timed_finish(self: Any) -> Any:
        t0 = time.monotonic()
        try:
            return real_finish(self)
        finally:
            finish_s.append(time.monotonic() - t0)

    runner.Run.finish = timed_finish  # type: ignore[method-assign]

    def hosts(k: int, prefix: str) -> list[Any]:
        return [Host(name=f"{prefix}{i:04d}", arch="x86_64", transport="sim",
                     address=f"10.{i // 250}.{i % 250}.1") for i in range(k)]

    with simulated(trace, model):
        C.in_process_run(hosts(1, "warm"), work / "warm", cache, case_ids=ids)  # warm caches
        ru0 = resource.getrusage(resource.RUSAGE_SELF)
        res, wall = C.in_process_run(hosts(n, "sim"), work / f"run{n}", cache, case_ids=ids)
        ru1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (ru1.ru_utime - ru0.ru_utime) + (ru1.ru_stime - ru0.ru_stime)
    totals = [h.timings.get("total", 0.0) for h in res.hosts]
    errors = [h.error for h in res.hosts if h.error]
    phases: dict[str, float] = {}
    for ph in ("connect", "preflight", "build", "cases"):  # preflight: the launcher's facts
        vals = [h.timings[ph] for h in res.hosts if ph in h.timings]
        if vals:
            phases[ph] = round(statistics.mean(vals), 3)
    return {"n": n, "wall": round(wall, 3),
            "slowest": round(max(totals), 3), "median_host": round(statistics.median(totals), 3),
            "ratio": round(wall / max(totals), 3) if max(totals) > 0 else None,
            "rss_mib": round(C.maxrss_mib(), 1), "errors": len(errors),
            "cpu_s": round(cpu, 2), "cpu_ms_per_host": round(cpu / n * 1000, 1),
            "first_error": errors[0] if errors else None,
            "round_trips": sorted({h.round_trips for h in res.hosts}),
            "cases_per_host": sorted({len(h.cases) for h in res.hosts}),
            "mean_phases": phases, "finish_s": round(finish_s[-1], 2) if finish_s else None,
            "results_json_mib": round((work / f"run{n}" / "results.json").stat().st_size / 2**20, 2)}


def run_point(n: int, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    d = work / f"n{n}"
    d.mkdir(parents=True, exist_ok=True)
    argv = [sys.executable, str(Path(__file__).resolve()), "--worker", str(n),
            "--latency", str(args.latency), "--jitter", str(args.jitter),
            "--trace", str(args.trace), "--work", str(d)]
    t = time.monotonic()
    try:
        p = subprocess.run(argv, capture_output=True, text=True, timeout=args.point_timeout)
    except subprocess.TimeoutExpired:
        return {"n": n, "timeout": args.point_timeout,
                "wall": None, "note": f"did not finish within {args.point_timeout:g}s"}
    if p.returncode != 0:
        return {"n": n, "wall": None,
                "note": f"worker failed: {p.stderr.strip()[-800:]}"}
    row = json.loads(p.stdout.strip().splitlines()[-1])
    row["process_wall"] = round(time.monotonic() - t, 3)
    return row


# ------------------------------------------------------------------ 16 real hosts


def real_hosts(k: int, work: Path, trace_path: Path) -> dict[str, Any]:
    """k real sshd processes on loopback vs. the simulator's prediction for k hosts."""
    from loopback import SshdFleet
    from simtransport import Trace

    ids = {r["case"] for r in Trace.load(trace_path).results()}
    with SshdFleet(work / "fleet", k) as fleet:
        hosts = [C.ssh_host(f"real{i:02d}", info) for i, info in enumerate(fleet.sshds)]
        cache = work / "real-cache"
        C.in_process_run(hosts[:1], work / "real-warm", cache, case_ids=ids)
        one, one_wall = C.in_process_run(hosts[:1], work / "real-one", cache, case_ids=ids)
        res, wall = C.in_process_run(hosts, work / "real-all", cache, case_ids=ids)
    totals = [h.timings.get("total", 0.0) for h in res.hosts]
    errors = [h.error for h in res.hosts if h.error]
    # The simulator's prediction: same trace, loopback latency (~0), k hosts.
    ns = argparse.Namespace(latency=0.0005, jitter=0.0002, trace=trace_path, point_timeout=600)
    sim = run_point(k, ns, work / "sim-real")
    return {"k": k, "measured_wall": round(wall, 3), "measured_slowest": round(max(totals), 3),
            "single_host_wall": round(one_wall, 3), "errors": len(errors),
            "first_error": errors[0] if errors else None,
            "predicted_wall": sim.get("wall"), "predicted_slowest": sim.get("slowest"),
            "cpu_count": os.cpu_count()}


# ------------------------------------------------------------------ plot


def plot(rows: list[dict[str, Any]], path: Path, latency: float, jitter: float) -> Optional[str]:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return "matplotlib is not installed (.venv/bin/pip install matplotlib): no plot"
    fig, (ax, ax2) = plt.subplots(1, 2, figsize=(10, 4.2), dpi=110)
    pts = [r for r in rows if r.get("wall") is not None]
    ns = [r["n"] for r in pts]
    ax.plot(ns, [r["wall"] for r in pts], "o-", label="total wall")
    ax.plot(ns, [r["slowest"] for r in pts], "s--", label="slowest host")
    ax.plot(ns, [r["slowest"] * RATIO_TARGET for r in pts], ":", color="grey",
            label="slowest host + 10 % (target)")
    to = [r for r in rows if r.get("timeout")]
    if to:
        ax.plot([r["n"] for r in to], [r["timeout"] for r in to], "x", color="red",
                markersize=9, label="killed at the time limit")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("simulated hosts")
    ax.set_ylabel("seconds")
    ax.set_title(f"total time vs hosts (sim, RTT {latency * 1000:g} ms "
                 f"± {jitter * 1000:g} ms)", fontsize=9)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    ax2.plot(ns, [r["rss_mib"] for r in pts], "o-", color="tab:purple", label="peak RSS")
    ax2.axhline(RSS_TARGET_MIB, color="grey", linestyle=":", label="1 GiB (target)")
    ax2.set_xscale("log")
    ax2.set_xlabel("simulated hosts")
    ax2.set_ylabel("MiB")
    ax2.set_title("controller peak RSS vs hosts", fontsize=9)
    ax2.grid(True, which="both", alpha=0.3)
    ax2.legend(fontsize=8)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path)
    return None


# ------------------------------------------------------------------ main


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--smoke", action="store_true", help="tiny quick version (CI)")
    ap.add_argument("--hosts", default="1,10,50,100,250,500,1000",
                    help="comma-separated simulated host counts")
    ap.add_argument("--latency", type=float, default=0.02, help="RTT per round trip, seconds")
    ap.add_argument("--jitter", type=float, default=0.005, help="± uniform jitter, seconds")
    ap.add_argument("--point-timeout", type=float, default=600.0,
                    help="kill a point that runs longer (seconds)")
    ap.add_argument("--real", type=int, default=16, help="real sshd hosts to validate with (0: no)")
    ap.add_argument("--trace", type=Path, default=TRACE)
    ap.add_argument("--record", action="store_true", help="record the trace again first")
    ap.add_argument("--plot", type=Path, default=C.ROOT / "docs" / "perf-hosts.png")
    ap.add_argument("--json", type=Path, default=None, help="also write all figures here")
    ap.add_argument("--worker", type=int, default=None, help=argparse.SUPPRESS)
    ap.add_argument("--work", type=Path, default=None, help=argparse.SUPPRESS)
    a = ap.parse_args(argv)

    if a.worker is not None:
        print(json.dumps(worker(a.worker, a.latency, a.jitter, a.trace, a.work)))
        return 0

    v = C.Verdict("(c) controller scale")
    with tempfile.TemporaryDirectory(prefix="kmatrix-bench-scale.") as tmp:
        work = Path(tmp)
        if a.record or not a.trace.exists():
            if os.geteuid() != 0:
                v.cannot("trace", f"{a.trace} is missing and recording needs root (sshd + BPF)")
                return v.finish()
            record_trace(a.trace, work)
        ns = [1, 3] if a.smoke else [int(x) for x in a.hosts.split(",")]
        real_k = min(a.real, 2) if a.smoke else a.real
        rows: list[dict[str, Any]] = []
        stop = False
        for n in ns:
            if stop:
                rows.append({"n": n, "wall": None,
                             "note": "skipped: a smaller point already hit the time limit"})
                continue
            row = run_point(n, a, work)
            rows.append(row)
            print(f"n={n:5d}  " + (
                f"wall {row['wall']:.2f}s  slowest host {row['slowest']:.2f}s  "
                f"ratio {row['ratio']:.2f}  rss {row['rss_mib']:.0f} MiB  "
                f"cpu/host {row['cpu_ms_per_host']:.0f} ms  final write {row['finish_s']}s  "
                f"errors {row['errors']}"
                if row.get("wall") is not None else row.get("note", "")), flush=True)
            if row.get("timeout"):
                stop = True  # a larger point would take longer still
        real = real_hosts(real_k, work, a.trace) if real_k > 0 and os.geteuid() == 0 else None

    print("\n" + C.table(
        ["hosts", "total", "slowest host", "total/slowest", "final write", "peak RSS",
         "CPU/host", "results.json", "round trips/host", "errors"],
        [[r["n"], C.fmt_s(r.get("wall")), C.fmt_s(r.get("slowest")),
          f"{r['ratio']:.2f}" if r.get("ratio") else "-", C.fmt_s(r.get("finish_s")),
          f"{r['rss_mib']:.0f} MiB" if r.get("rss_mib") else "-",
          f"{r['cpu_ms_per_host']:.0f} ms" if r.get("cpu_ms_per_host") else "-",
          f"{r['results_json_mib']} MiB" if r.get("results_json_mib") is not None else "-",
          r.get("round_trips", "-"), r.get("errors", r.get("note", "-"))] for r in rows]))
    for r in rows:
        if r.get("mean_phases"):
            print(f"mean phases per host at n={r['n']}: {r['mean_phases']}")
    if real:
        print(f"\n{real['k']} real sshd hosts on loopback ({real['cpu_count']} cores): measured "
              f"total {real['measured_wall']:.2f}s (slowest host {real['measured_slowest']:.2f}s,"
              f" one host alone {real['single_host_wall']:.2f}s); simulator predicted "
              f"{C.fmt_s(real['predicted_wall'])}; measured/predicted = "
              + (f"{real['measured_wall'] / real['predicted_wall']:.2f}"
                 if real.get("predicted_wall") else "-"))
    if a.json:
        a.json.write_text(json.dumps({"rows": rows, "real": real, "latency": a.latency,
                                      "jitter": a.jitter}, indent=2))
    if not a.smoke:
        err = plot(rows, a.plot, a.latency, a.jitter)
        print(err or f"plot: {a.plot}")

    for r in rows:
        if r.get("errors"):
            v.check(f"n={r['n']}, every host completes", False,
                    f"{r['errors']} host error(s), first: {r.get('first_error')}")
    if real is not None:
        v.check("real sshd hosts complete", real["errors"] == 0,
                f"{real['errors']} of {real['k']} host(s) failed: {real.get('first_error')}"
                if real["errors"] else f"{real['k']} of {real['k']}")
    # Structural: round trips per host stay fixed, and a warm host is one exec.
    rts = {tuple(r["round_trips"]) for r in rows if r.get("round_trips")}
    v.check("round trips per host identical across host counts", len(rts) == 1, str(rts))
    v.check("1 round trip per warm simulated host", rts == {(1,)}, str(rts))
    if a.smoke:
        return v.finish()  # no timing verdicts in smoke
    big = max(rows, key=lambda r: r["n"])
    if big.get("wall") is None:
        v.check(f"total ≈ slowest host + 10 % at {big['n']} hosts", False,
                big.get("note", "not measured"))
    else:
        v.check(f"total ≤ slowest host × {RATIO_TARGET} at {big['n']} hosts",
                big["ratio"] <= RATIO_TARGET,
                f"{big['wall']:.2f}s / {big['slowest']:.2f}s = {big['ratio']:.2f}")
        v.check(f"peak RSS < 1 GiB at {big['n']} hosts",
                big["rss_mib"] < RSS_TARGET_MIB, f"{big['rss_mib']:.0f} MiB")
    if real and real.get("predicted_wall"):
        ratio = real["measured_wall"] / real["predicted_wall"]
        print(f"\nsimulator check: {real['k']} real hosts measured/predicted = {ratio:.2f} "
              "(informational: the real hosts share this machine's cores)")
    return v.finish()


if __name__ == "__main__":
    sys.exit(main())
