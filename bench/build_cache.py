"""(d) Build: warm rebuild compiles nothing; cold build compiles in parallel; one compile
per distinct (source, BTF) pair.

    .venv/bin/python bench/build_cache.py            # whole catalogue, x2 copies, 2 hosts
    .venv/bin/python bench/build_cache.py --smoke    # dynptr cases only

Drives ``kmatrix.build.Builder`` exactly as the runner does (one Builder per host,
hosts in threads) against this machine's BTF, plus every BTF blob the runner
has already cached from other targets (``--btf-dir``, default
~/.cache/kmatrix/btf: the lab guests' kernels), on a catalogue whose cases are
present twice (identical copies share one object). Compiles are counted and
timed by wrapping ``Builder.compile_case``; a call that did not hit the cache
is a compile (cross-checked with the Builders' own ``compiles`` counters).

1. cold: fresh cache, every BTF, ``--hosts`` hosts per BTF building at once;
2. warm: the same again on the filled cache.

Targets: cold compiles == distinct (source, BTF) pairs; the cold build has
compiles running at the same time; warm compiles == 0.
Exit 0 met, 1 missed, 2 cannot measure.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402


class Counting:
    """Wraps a Builder's compile_case to record (source sha, BTF sha, start, end, compiled)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.calls: list[tuple[str, str, float, float, bool]] = []

    def wrap(self, builder: Any, btf_sha: str) -> None:
        inner = builder.compile_case

        def compile_case(case: Any, *args: Any, **kw: Any) -> Any:
            t0 = time.monotonic()
            out = inner(case, *args, **kw)
            t1 = time.monotonic()
            compiled = case.src is not None and out.ok and not out.cached
            src = hashlib.sha256(case.src.read_bytes()).hexdigest() if case.src else ""
            with self.lock:
                self.calls.append((src, btf_sha, t0, t1, compiled))
            return out

        builder.compile_case = compile_case

    def compiles(self) -> list[tuple[str, str, float, float, bool]]:
        return [c for c in self.calls if c[4]]

    def max_overlap(self) -> int:
        """Most compiles running at one instant."""
        edges = sorted([(c[2], 1) for c in self.compiles()] + [(c[3], -1) for c in self.compiles()],
                       key=lambda e: (e[0], e[1]))
        cur = best = 0
        for _t, d in edges:
            cur += d
            best = max(best, cur)
        return best


def build_all(cases: list[Any], btfs: list[tuple[Path, str, str]], hosts_per_btf: int,
              cache: Path, counter: Counting) -> tuple[float, list[str], int]:
    """Every (BTF, host) builds at once in its own thread, like the runner's hosts."""
    from kmatrix.build import Builder

    errors: list[str] = []
    builders: list[Any] = []

    def one(btf: Path, sha: str, arch: str) -> None:
        b = Builder(cache)
        builders.append(b)
        counter.wrap(b, sha)
        try:
            outs = b.build_host(cases, btf, arch)
        except Exception as e:  # noqa: BLE001 - reported as a finding
            errors.append(f"{btf.name}: {type(e).__name__}: {e}")
            return
        errors.extend(f"{cid} ({arch}): {o.output.strip()[-300:]}"
                      for cid, o in outs.items() if not o.ok)

    threads = [threading.Thread(target=one, args=t) for t in btfs for _ in range(hosts_per_btf)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.monotonic() - t0, errors, sum(b.compiles for b in builders)


def find_btfs(btf_dir: Optional[Path], limit: int) -> list[tuple[Path, str, str]]:
    """(path, sha256, arch): this machine's BTF, then cached target BTFs (arch from the
    runner's results is unknown here, so each blob's arch is guessed from its type names)."""
    out: list[tuple[Path, str, str]] = []
    local = Path("/sys/kernel/btf/vmlinux")
    if local.exists():
        out.append((local, hashlib.sha256(local.read_bytes()).hexdigest(), "x86_64"))
    if btf_dir and btf_dir.is_dir():
        for p in sorted(btf_dir.glob("*.btf")):
            data = p.read_bytes()
            sha = hashlib.sha256(data).hexdigest()
            if any(sha == o[1] for o in out):
                continue
            arch = ("aarch64" if b"user_pt_regs" in data and b"kvm_arm" in data else
                    "riscv64" if b"riscv" in data else "x86_64")
            out.append((p, sha, arch))
    return out[:limit]


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--smoke", action="store_true", help="tiny quick version (CI)")
    ap.add_argument("--copies", type=int, default=2, help="identical copies of each case")
    ap.add_argument("--hosts", type=int, default=2, help="hosts per BTF building at once")
    ap.add_argument("--btf-dir", type=Path, default=Path.home() / ".cache" / "kmatrix" / "btf")
    ap.add_argument("--max-btfs", type=int, default=3)
    a = ap.parse_args(argv)
    v = C.Verdict("(d) build")
    from kmatrix.build import Builder
    from kmatrix.catalog import load_catalog

    if not Path("/sys/kernel/btf/vmlinux").exists():
        v.cannot("build", "this kernel has no /sys/kernel/btf/vmlinux")
        return v.finish()
    if Builder(Path(tempfile.gettempdir())).compiler_version() is None:
        v.cannot("build", "clang is not installed")
        return v.finish()
    btfs = find_btfs(None if a.smoke else a.btf_dir, 1 if a.smoke else a.max_btfs)
    print(f"load average before: {C.loadavg()}  ({os.cpu_count()} cores)")
    with tempfile.TemporaryDirectory(prefix="kmatrix-bench-d.") as tmp:
        work = Path(tmp)
        cat_dir = C.replicate_catalog(C.CASES, work / "cases", a.copies)
        cases = load_catalog(cat_dir)
        if a.smoke:
            cases = [c for c in cases if c.family == "dynptr"]
        # zig-built (cpu v4) cases need the cpuv4 extra; without it they cannot compile.
        usable = [c for c in cases if c.build and c.src is not None
                  and (c.meta.get("compiler", "clang") == "clang"
                       or Builder(work).compiler_version(c.meta["compiler"]) is not None)]
        skipped = sorted({c.id for c in cases if c.build and c not in usable})
        if skipped:
            print(f"not built (compiler missing): {', '.join(skipped)}")
        # One object per (source, flags): a tag-only file yields a case per program,
        # each built with its own -DKMX_PROGRAM.
        sources = {(hashlib.sha256(c.src.read_bytes()).hexdigest(),
                    tuple(c.meta.get("cflags") or ()))
                   for c in usable if c.src is not None}
        pairs = len(sources) * len(btfs)
        print(f"{len(usable)} buildable cases ({len(sources)} distinct sources) x {len(btfs)} BTF "
              f"({', '.join(f'{b[2]}:{b[1][:8]}' for b in btfs)}) x {a.hosts} hosts each")
        cache = work / "cache"
        cold, warm = Counting(), Counting()
        cold_wall, errs, cold_native = build_all(usable, btfs, a.hosts, cache, cold)
        warm_wall, we, warm_native = build_all(usable, btfs, a.hosts, cache, warm)
        errs += we
    print(f"load average after: {C.loadavg()}")
    busy = sum(c[3] - c[2] for c in cold.compiles())
    rows = [["cold", C.fmt_s(cold_wall), len(cold.compiles()), cold_native, pairs,
             cold.max_overlap(), C.fmt_s(busy), f"{busy / cold_wall:.2f}" if cold_wall > 0 else "-"],
            ["warm", C.fmt_s(warm_wall), len(warm.compiles()), warm_native, pairs,
             warm.max_overlap(), "-", "-"]]
    print("\n" + C.table(["build", "wall", "compiles", "Builder.compiles", "distinct (source, BTF)",
                          "max concurrent", "compile time summed", "summed / wall"], rows))
    n_cold = len(cold.compiles())
    dup = n_cold - len({(c[0], c[1]) for c in cold.compiles()})
    if dup > 0:
        print(f"{dup} compile(s) repeated an object that another host or an identical "
              "copy was compiling at the same time")
    for e in errs:
        v.check("every case compiles", False, e)
    v.check("warm rebuild compiles nothing", len(warm.compiles()) == 0 == warm_native,
            f"{len(warm.compiles())} compiles in {warm_wall:.2f}s")
    want_par = min(2, pairs)
    v.check("cold build compiles in parallel", cold.max_overlap() >= want_par,
            f"up to {cold.max_overlap()} compiles at once, summed compile time / wall = "
            f"{busy / cold_wall:.2f}" if cold_wall > 0 else "-")
    v.check("cold compiles == distinct (source, BTF) pairs", n_cold == pairs == cold_native,
            f"{n_cold} compiles ({cold_native} by Builder.compiles) for {pairs} pairs")
    return v.finish()


if __name__ == "__main__":
    sys.exit(main())
