"""Architecture names: user aliases, kernel names, BPF target macros, Debian names."""

from __future__ import annotations

from dataclasses import dataclass

ALIASES = {
    "x86_64": "x86_64",
    "x86": "x86_64",
    "amd64": "x86_64",
    "x64": "x86_64",
    "aarch64": "aarch64",
    "arm64": "aarch64",
    "riscv64": "riscv64",
    "riscv": "riscv64",
}


@dataclass(frozen=True)
class ArchInfo:
    name: str  # canonical, as `uname -m` prints it
    bpf_target: str  # value for -D__TARGET_ARCH_<x> (bpf_tracing.h)
    debian: str  # Debian architecture name
    qemu_binary: str


ARCHES = {
    "x86_64": ArchInfo("x86_64", "x86", "amd64", "qemu-system-x86_64"),
    "aarch64": ArchInfo("aarch64", "arm64", "arm64", "qemu-system-aarch64"),
    "riscv64": ArchInfo("riscv64", "riscv", "riscv64", "qemu-system-riscv64"),
}


def normalize(name: str) -> str:
    """Return the canonical arch name, or raise ValueError naming the accepted ones."""
    key = str(name).strip().lower()
    if key not in ALIASES:
        raise ValueError(
            f"unknown arch {name!r} (accepted: {', '.join(sorted(ALIASES))})"
        )
    return ALIASES[key]


def info(name: str) -> ArchInfo:
    return ARCHES[normalize(name)]
