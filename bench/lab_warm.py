"""(b) Warm lab run: lab guests from cached images (and saved VM snapshots).

    .venv/bin/python bench/lab_warm.py --arch riscv    # `runners/run --arch riscv`, twice
    .venv/bin/python bench/lab_warm.py --arch x86_64 --host lab-x86_64-trixie -k kfunc/module_kfunc
    .venv/bin/python bench/lab_warm.py                 # first lab host of each arch, together
    .venv/bin/python bench/lab_warm.py --all-hosts     # every lab host in hosts.yaml
    .venv/bin/python bench/lab_warm.py --smoke         # checks the images, runs nothing

``--arch A``: the README command, `runners/run --arch A` (suite bpf-core), run
from an empty directory (no hosts.yaml there, so the embedded lab is used) with
the user's cache, ``--runs`` times (default 2: the first warms the BTF, object
and module caches and takes the guest's VM snapshot); the last run is judged.
Targets: wall / (sum of the agent-measured case durations) <= 1.5, and the guest
ready for SSH (the runner's ``boot`` phase) <= 5 s after launch. Printed per
host: boot (snapshot or cold), connect, facts (the launcher's first line),
build, the agent stream minus the case time (bundle transfer, agent start-up,
per-case bookkeeping, the agent's clean-up), teardown, and the controller
process (wall minus the host's total).

Without ``--arch``: one `runners/run --suite lab-debian` over one lab host per arch
of hosts.yaml at once; target: < 2 min wall on 2 cores.

Either way the bench refuses to start if an image would have to be built.
Exit 0 met, 1 missed, 2 cannot measure (no image, no QEMU).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402
import _lab as L  # noqa: E402

WALL_TARGET = 120.0
RATIO_TARGET = 1.5  # --arch: wall / sum of case durations
BOOT_TARGET = 5.0  # --arch: launch -> guest ready for SSH, seconds
# "preflight" is the launcher's facts: the first line of the host's one exec
PHASES = ("boot", "connect", "preflight", "build", "cases")
ARCH_ALIASES = {"x86": "x86_64", "amd64": "x86_64", "arm64": "aarch64", "riscv": "riscv64"}


def run_arch(arch: str, out: Path, run_id: str, extra: list[str]) -> tuple[float, int, str]:
    """`runners/run --arch ARCH` from an empty directory (the embedded lab inventory)."""
    cwd = out / "cwd"
    cwd.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if k != "KMATRIX_HOSTS"}
    argv = [str(C.RUNNERS_RUN), "--arch", arch, "--output", str(out), "--run-id", run_id,
            "-q", *extra]
    t = time.monotonic()
    p = subprocess.run(argv, capture_output=True, text=True, env=env, cwd=str(cwd),
                       timeout=3600)
    return time.monotonic() - t, p.returncode, p.stderr


def arch_rows(res: dict, wall: float) -> list[dict]:
    rows = []
    for h in res["hosts"]:
        t = h.get("timings") or {}
        case_sum = C.case_time(h)
        cases_phase = float(t.get("cases", 0.0))
        known = sum(float(t.get(k, 0.0)) for k in PHASES)
        mods = sorted({f"{c['case']}: {c['details']['module_cache']}"
                       for c in h.get("cases", [])
                       if (c.get("details") or {}).get("module_cache")})
        rows.append({
            "host": h["name"], "arch": h.get("arch"), "kernel": h.get("kernel", ""),
            "boot_kind": (h.get("properties") or {}).get("lab.boot", "-"),
            "n_cases": len(h.get("cases", [])), "case_sum": round(case_sum, 3),
            **{k: t.get(k) for k in PHASES}, "total": t.get("total"),
            "agent_not_checks": round(cases_phase - case_sum, 3),
            "teardown": round(float(t.get("total", 0.0)) - known, 3),
            "process": round(wall - float(t.get("total", 0.0)), 3),
            "round_trips": h.get("round_trips"), "error": h.get("error"),
            "module_cache": mods,
            "slowest": sorted(((float(c.get("duration") or 0.0), c["case"], c["state"])
                               for c in h.get("cases", [])), reverse=True)[:5]})
    return rows


def main_arch(a: argparse.Namespace, v: C.Verdict, cache: Path) -> int:
    arch = ARCH_ALIASES.get(a.arch, a.arch)
    hosts = [h for h in L.lab_hosts(L.HOSTS_YAML, False) if h.arch == arch
             and (not a.host or h.name in a.host)]
    if not hosts:
        v.cannot("lab", f"the embedded lab has no {arch} host" + (f" named {a.host}"
                                                                   if a.host else ""))
        return v.finish()
    missing = L.missing_images(hosts, cache)
    if missing:
        v.cannot("warm lab run", "image not built yet for " + ", ".join(missing))
        return v.finish()
    extra = [x for n in a.host or [] for x in ("--host", n)]
    extra += [x for k in a.pattern or [] for x in ("-k", k)]
    if a.suite != "bpf-core":
        extra += ["--suite", a.suite]
    print(f"`runners/run --arch {a.arch} {' '.join(extra)}` x{a.runs}; hosts: "
          f"{', '.join(h.name for h in hosts)}; cache {cache}", flush=True)
    runs = []
    with tempfile.TemporaryDirectory(prefix="kmatrix-bench-b.") as tmp:
        out = Path(tmp)
        for i in range(1, a.runs + 1):
            before = C.loadavg()
            wall, rc, err = run_arch(a.arch, out, f"run{i}", extra)
            after = C.loadavg()
            if not (out / f"run{i}" / "results.json").exists():
                v.cannot("warm lab run", f"run {i}: exit {rc}, no results.json: "
                         f"{err.strip()[-800:]}")
                return v.finish()
            res = C.read_results(out / f"run{i}")
            rows = arch_rows(res, wall)
            case_sum = sum(r["case_sum"] for r in rows)
            runs.append({"run": i, "wall": round(wall, 3), "rc": rc, "load_before": before,
                         "load_after": after, "case_sum": round(case_sum, 3),
                         "ratio": round(wall / case_sum, 3) if case_sum > 0 else None,
                         "hosts": rows})
            print(f"run {i}: wall {wall:.1f}s (exit {rc}), case time {case_sum:.1f}s, "
                  f"ratio {runs[-1]['ratio']}; load {before} -> {after}", flush=True)
    last = runs[-1]
    print("\nlast run, per host:\n")
    print(C.table(["host", "boot", "how", "connect", "facts", "build", "cases phase",
                   "case time", "agent not checks", "teardown", "process", "round trips",
                   "cases"],
                  [[r["host"], C.fmt_s(r["boot"]), r["boot_kind"], C.fmt_s(r["connect"]),
                    C.fmt_s(r["preflight"]), C.fmt_s(r["build"]), C.fmt_s(r["cases"]),
                    C.fmt_s(r["case_sum"]), C.fmt_s(r["agent_not_checks"]),
                    C.fmt_s(r["teardown"]), C.fmt_s(r["process"]), r["round_trips"],
                    r["n_cases"]] for r in last["hosts"]]))
    for r in last["hosts"]:
        print(f"\n{r['host']}: slowest cases " + ", ".join(
            f"{cid} {d:.2f}s ({st})" for d, cid, st in r["slowest"]))
        if r["module_cache"]:
            print(f"{r['host']}: module cache " + "; ".join(r["module_cache"]))
    if a.json:
        a.json.write_text(json.dumps({"arch": arch, "extra": extra, "runs": runs}, indent=2))
    for r in last["hosts"]:
        if r.get("error"):
            v.check(f"{r['host']} completes", False, r["error"][:200])
    v.check(f"wall / case time <= {RATIO_TARGET} (run {last['run']})",
            last["ratio"] is not None and last["ratio"] <= RATIO_TARGET,
            f"{last['wall']:.1f}s / {last['case_sum']:.1f}s = {last['ratio']}")
    if a.case_target is not None:
        durs = [(d, r["host"], cid, st) for r in last["hosts"] for d, cid, st in r["slowest"]]
        v.check(f"each case <= {a.case_target:g}s (run {last['run']})",
                bool(durs) and all(d <= a.case_target for d, *_x in durs),
                ", ".join(f"{cid} on {h}: {d:.2f}s ({st})" for d, h, cid, st in durs[:3])
                + "".join(f"; {m}" for r in last["hosts"] for m in r["module_cache"]))
    boots = [(r["host"], float(r["boot"] or 0.0), r["boot_kind"]) for r in last["hosts"]]
    v.check(f"guest ready for SSH <= {BOOT_TARGET:.0f}s after launch",
            all(b <= BOOT_TARGET for _h, b, _k in boots),
            ", ".join(f"{h} {b:.1f}s ({k})" for h, b, k in boots))
    return v.finish()


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--smoke", action="store_true", help="check the set-up only (CI)")
    ap.add_argument("--all-hosts", action="store_true", help="every lab host, not one per arch")
    ap.add_argument("--hosts", type=Path, default=L.HOSTS_YAML)
    ap.add_argument("--suite", default=None,
                    help="default: bpf-core with --arch (as runners/run), else lab-debian")
    ap.add_argument("--cache-dir", type=Path, default=None)
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    ap.add_argument("--arch", default=None,
                    help="`runners/run --arch ARCH` from an empty directory (embedded lab)")
    ap.add_argument("--host", action="append", default=None, help="with --arch: only this host")
    ap.add_argument("-k", dest="pattern", action="append", default=None,
                    help="with --arch: only cases matching (as kmatrix -k)")
    ap.add_argument("--runs", type=int, default=2, help="with --arch: runs; the last is judged")
    ap.add_argument("--case-target", type=float, default=None, metavar="S",
                    help="with --arch: also judge every case's duration <= S seconds "
                         "(e.g. 20 for kfunc/module_kfunc on x86_64 trixie)")
    a = ap.parse_args(argv)
    v = C.Verdict("(b) warm lab run")
    cache = a.cache_dir or L.default_cache()
    if a.arch and not a.smoke:
        a.suite = a.suite or "bpf-core"  # what `runners/run --arch` runs
        return main_arch(a, v, cache)
    a.suite = a.suite or "lab-debian"
    hosts = L.lab_hosts(a.hosts, not a.all_hosts, cache)
    if not hosts:
        v.cannot("lab", f"{a.hosts} has no qemu: hosts")
        return v.finish()
    arches = sorted({h.arch for h in hosts})
    print(f"hosts: {', '.join(f'{h.name} ({h.arch})' for h in hosts)}; cache {cache}")
    missing = L.missing_images(hosts, cache)
    if missing:
        v.cannot("warm lab run", "image not built yet for " + ", ".join(missing)
                 + " (build them with one `runners/run`, then rerun this bench)")
        return v.finish()
    if a.smoke:
        v.check("every lab image is cached", True, ", ".join(arches))
        return v.finish()
    print(f"load average before: {C.loadavg()}  ({os.cpu_count()} cores)", flush=True)
    with tempfile.TemporaryDirectory(prefix="kmatrix-bench-b.") as tmp:
        out = Path(tmp)
        extra = ["--suite", a.suite, "-q"] + [x for h in hosts for x in ("--host", h.name)]
        wall, rc, err = C.run_kmatrix(a.hosts, out, "warm", cache, *extra)
        run_dir = out / "warm"
        if not (run_dir / "results.json").exists():
            v.cannot("warm lab run", f"exit {rc}, no results.json: {err.strip()[-800:]}")
            return v.finish()
        res = C.read_results(run_dir)
    print(f"load average after: {C.loadavg()}")
    rows = []
    fam: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for h in res["hosts"]:
        t = h.get("timings") or {}
        known = sum(float(t.get(k, 0.0)) for k in PHASES)
        rows.append([h["name"], h.get("kernel", ""), len(h.get("cases", [])),
                     *(C.fmt_s(t.get(k)) for k in PHASES),
                     C.fmt_s(float(t.get("total", 0.0)) - known), C.fmt_s(t.get("total")),
                     h.get("round_trips"), (h.get("error") or "")[:60]])
        for c in h.get("cases", []):
            fam[c["family"]][h["name"]] += float(c.get("duration") or 0.0)
    print(f"\nwall of runners/run: {wall:.1f}s (exit {rc}) for {len(hosts)} host(s), "
          f"arches {', '.join(arches)}\n")
    print(C.table(["host", "kernel", "cases", *PHASES, "teardown", "total", "round trips",
                   "error"], rows))
    names = [h["name"] for h in res["hosts"]]
    print("\nagent-measured case time per family (seconds):\n")
    print(C.table(["family", *names], [[f, *(f"{fam[f].get(n, 0.0):.2f}" for n in names)]
                                       for f in sorted(fam)]))
    slow = sorted(((float(c.get("duration") or 0.0), h["name"], c["case"], c["state"])
                   for h in res["hosts"] for c in h.get("cases", [])), reverse=True)[:8]
    print("\nslowest cases:\n")
    print(C.table(["seconds", "host", "case", "state"],
                  [[f"{d:.2f}", n, cid, st] for d, n, cid, st in slow]))
    if a.json:
        a.json.write_text(json.dumps({"wall": wall, "rc": rc, "slowest": slow, "hosts": [
            {k: h.get(k) for k in ("name", "arch", "kernel", "timings", "round_trips", "error")}
            for h in res["hosts"]], "families": {f: dict(d) for f, d in fam.items()}}, indent=2))
    for h in res["hosts"]:
        if h.get("error"):
            v.check(f"{h['name']} completes", False, h["error"][:200])
    got = sorted({h["arch"] for h in res["hosts"] if not h.get("error")})
    v.check("all three arches ran", got == sorted(["aarch64", "riscv64", "x86_64"]),
            ", ".join(got) or "none")
    v.check(f"warm lab run < {WALL_TARGET:.0f}s wall", wall < WALL_TARGET,
            f"{wall:.1f}s = {wall / WALL_TARGET:.2f} x target")
    return v.finish()


if __name__ == "__main__":
    sys.exit(main())
