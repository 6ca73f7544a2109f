"""Manual use of the lab: ``python -m kmatrix.lab.cli build|boot ARCH [--suite S]``,
``python -m kmatrix.lab.cli snapshots [--drop] [ARCH]``.

``build`` fills the image cache; ``boot`` builds if needed, boots the guest (from its
saved snapshot unless ``--no-snapshot``), prints how to SSH into it (strict host key
checking, with a known_hosts file written for this guest) and keeps it running until
Ctrl-C. ``snapshots`` lists the saved guest snapshots (of one arch, or all) and
``--drop`` deletes them: the next boot of each image is cold and saves a new one.
"""

from __future__ import annotations

import argparse
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Optional

from kmatrix import archs
from kmatrix.errors import KmatrixError
from kmatrix.inventory import QemuSpec
from kmatrix.lab import image as lab_image
from kmatrix.lab import qemu as lab_qemu
from kmatrix.lab import snapshot as lab_snapshot


def _say(msg: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {msg}", file=sys.stderr, flush=True)


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m kmatrix.lab.cli", description=__doc__)
    ap.add_argument("command", choices=["build", "boot", "snapshots"])
    ap.add_argument("arch", nargs="?", default=None)
    ap.add_argument("--suite", default="", help="Debian suite (default per arch)")
    ap.add_argument("--package", "-p", action="append", default=[],
                    help="extra package; -NAME drops a default (repeatable)")
    ap.add_argument("--mirror", default=None)
    ap.add_argument("--cache-dir", type=Path, default=None,
                    help="image cache (default $KMATRIX_CACHE/images or ~/.cache/kmatrix/images)")
    ap.add_argument("--run-dir", type=Path, default=None, help="where boot keeps serial.log")
    ap.add_argument("--memory", default="2G")
    ap.add_argument("--smp", type=int, default=2)
    ap.add_argument("--no-snapshot", action="store_true",
                    help="boot: cold boot, neither restore nor save a VM snapshot")
    ap.add_argument("--drop", action="store_true", help="snapshots: delete them")
    # intermixed: `snapshots --drop x86_64` (an optional positional after a flag)
    args = ap.parse_intermixed_args(argv)
    arch: Optional[str] = None
    if args.arch is not None:
        try:
            arch = archs.normalize(args.arch)
        except ValueError as e:
            ap.error(str(e))
    if args.command == "snapshots":
        return _snapshots(arch, args.drop, args.cache_dir)
    if arch is None:
        ap.error(f"{args.command} needs an ARCH")
    # Manual boots get a longer SSH wait than a run's default.
    spec = QemuSpec(suite=args.suite, packages=args.package, mirror=args.mirror,
                    memory=args.memory, smp=args.smp, boot_timeout=600.0,
                    snapshot=not args.no_snapshot)
    try:
        t0 = time.monotonic()
        img = lab_image.ensure_image(arch, spec, args.cache_dir, _say)
        _say(f"image ready in {time.monotonic() - t0:.1f}s: {img.directory}")
        if args.command == "build":
            return 0
        run_dir = args.run_dir or Path(tempfile.mkdtemp(prefix=f"kmatrix-lab-{arch}-"))
        with lab_qemu.Guest(arch, spec, img, run_dir) as g:
            t1 = time.monotonic()
            g.start()
            g.wait_ssh()
            _say(f"guest ssh ready in {time.monotonic() - t1:.1f}s: {g.boot_note}")
            kh = run_dir / "known_hosts"
            g.write_known_hosts(kh)
            print(f"ssh -i {img.client_key} -p {g.port} -o UserKnownHostsFile={kh} "
                  f"-o StrictHostKeyChecking=yes root@127.0.0.1")
            print(f"serial log: {g.serial_log}", flush=True)
            signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
            try:
                while g.alive():
                    time.sleep(1)
                _say("guest exited")
                return 1
            except KeyboardInterrupt:
                return 0
    except KmatrixError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


def _snapshots(arch: Optional[str], drop: bool, cache_dir: Optional[Path]) -> int:
    root = lab_snapshot.default_root(cache_dir)
    slots = lab_snapshot.list_slots(root, arch)
    if not slots:
        print(f"no snapshots{' of ' + arch if arch else ''} in {root}")
        return 0
    for s in slots:
        if drop:
            print(f"{s.directory.name}: {lab_snapshot.drop_slot(s.directory)}")
            continue
        when = time.strftime("%Y-%m-%d %H:%M", time.localtime(s.saved_at)) if s.saved_at else "-"
        state = f"{s.size / 1e6:.0f} MB, saved {when}" if s.complete else "no snapshot saved"
        runs = f", {s.runs} run copies" if s.runs else ""
        print(f"{s.directory.name}  {state}{runs}  ({s.qemu})")
    print(f"({root})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
