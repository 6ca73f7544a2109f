"""The embedded QEMU lab: Debian guests of any arch, booted under TCG, reached over
real SSH with strictly checked host keys.

- ``image.ensure_image(arch, spec, cache_dir, progress) -> Image`` builds or reuses a
  cached image (mmdebstrap rootfs + Debian kernel + tiny initramfs), or wraps a
  user-supplied one (``spec.image``).
- ``qemu.Guest(arch, spec, image, run_dir)`` boots it on a free loopback port
  (``ports``), waits for sshd, and always stops it.
- ``files/`` holds the guest PID-1 script and the initramfs init, shipped as data.

Manual use: ``python -m kmatrix.lab.cli build|boot ARCH [--suite S]``.
"""
