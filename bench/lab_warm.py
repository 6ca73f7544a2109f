"""(b) Warm lab run: every arch from cached images, full catalogue, < 2 min wall on 2 cores.

    .venv/bin/python bench/lab_warm.py                 # first lab host of each arch
    .venv/bin/python bench/lab_warm.py --all-hosts     # every lab host in hosts.yaml
    .venv/bin/python bench/lab_warm.py --smoke         # checks the images, runs nothing

One `runners/run --suite lab-debian` (the README command) over the lab hosts of
hosts.yaml, with the user's cache (~/.cache/kmatrix or $KMATRIX_CACHE), so the
images are the cached ones; the bench refuses to start if an image would have to
be built. Printed: the wall, and per host where the time went (boot, connect,
preflight, build, upload, cases, clean-up), then the agent-measured time per
family. Exit 0 met, 1 missed, 2 cannot measure (no image, no QEMU).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from collections import defaultdict
from pathlib import Path
from typing import Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402
import _lab as L  # noqa: E402

WALL_TARGET = 120.0
PHASES = ("boot", "connect", "preflight", "build", "upload", "cases")


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--smoke", action="store_true", help="check the set-up only (CI)")
    ap.add_argument("--all-hosts", action="store_true", help="every lab host, not one per arch")
    ap.add_argument("--hosts", type=Path, default=L.HOSTS_YAML)
    ap.add_argument("--suite", default="lab-debian")
    ap.add_argument("--cache-dir", type=Path, default=None)
    ap.add_argument("--json", type=Path, default=None, help="also write the figures here")
    a = ap.parse_args(argv)
    v = C.Verdict("(b) warm lab run")
    cache = a.cache_dir or L.default_cache()
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
    print(C.table(["host", "kernel", "cases", *PHASES, "clean-up", "total", "round trips",
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
