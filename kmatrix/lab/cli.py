"""Manual use of the lab: ``python -m kmatrix.lab.cli build|boot|ssh-config ARCH [--suite S]``.

``build`` fills the image cache; ``boot`` builds if needed, boots the guest, prints
how to SSH into it (strict host key checking, with a known_hosts file written for
this guest) and keeps it running until Ctrl-C.
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


def _say(msg: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} {msg}", file=sys.stderr, flush=True)


def main(argv: Optional[list[str]] = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m kmatrix.lab.cli", description=__doc__)
    ap.add_argument("command", choices=["build", "boot"])
    ap.add_argument("arch")
    ap.add_argument("--suite", default="", help="Debian suite (default per arch)")
    ap.add_argument("--package", "-p", action="append", default=[],
                    help="extra package; -NAME drops a default (repeatable)")
    ap.add_argument("--mirror", default=None)
    ap.add_argument("--cache-dir", type=Path, default=None,
                    help="image cache (default $KMATRIX_CACHE/images or ~/.cache/kmatrix/images)")
    ap.add_argument("--run-dir", type=Path, default=None, help="where boot keeps serial.log")
    ap.add_argument("--memory", default="2G")
    ap.add_argument("--smp", type=int, default=2)
    args = ap.parse_args(argv)
    try:
        arch = archs.normalize(args.arch)
    except ValueError as e:
        ap.error(str(e))
    # Manual boots get a longer SSH wait than a run's default.
    spec = QemuSpec(suite=args.suite, packages=args.package, mirror=args.mirror,
                    memory=args.memory, smp=args.smp, boot_timeout=600.0)
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
            _say(f"guest ssh ready in {time.monotonic() - t1:.1f}s")
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


if __name__ == "__main__":
    raise SystemExit(main())
