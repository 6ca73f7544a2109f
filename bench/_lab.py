"""Lab helpers shared by the (b) and (e) benches: pick lab hosts, check their images."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import _common as C


def lab_hosts(hosts_yaml: Path, one_per_arch: bool, cache_dir: Optional[Path] = None
              ) -> list[Any]:
    """The lab (``qemu:``) hosts of hosts.yaml; with ``one_per_arch``, one host of each
    arch, preferring one whose image is already in ``cache_dir``."""
    from kmatrix.inventory import load_hosts

    hosts = [h for h in load_hosts(hosts_yaml) if h.qemu is not None]
    if not one_per_arch:
        return hosts
    keep: dict[str, Any] = {}
    for h in hosts:
        cached = cache_dir is not None and not missing_images([h], cache_dir)
        if h.arch not in keep or (cached and missing_images([keep[h.arch]], cache_dir)):
            keep[h.arch] = h
    return [h for h in hosts if keep.get(h.arch) is h]


def missing_images(hosts: list[Any], cache_dir: Path) -> list[str]:
    """Hosts whose image is not built yet (a warm run must not build one)."""
    from kmatrix.lab import image

    out = []
    for h in hosts:
        if getattr(h.qemu, "image", None):
            continue  # the user's own image: nothing to build
        name = image.image_name(h.arch, h.qemu)
        if image._load_complete(cache_dir / "images" / name) is None:
            out.append(f"{h.name} ({name})")
    return out


def default_cache() -> Path:
    from kmatrix.cli import _cache_dir

    return _cache_dir()


HOSTS_YAML = C.ROOT / "hosts.yaml"
