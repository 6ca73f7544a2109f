"""The before/after target inventory comparison (kmatrix.runner.leftovers)."""

from __future__ import annotations

from kmatrix.runner import leftovers


def test_leftovers_ignore_the_kernels_own_bpffs_preload_pins() -> None:
    before = {"pinned": [], "netns": [], "veths": [], "modules": ["veth"]}
    after = {"pinned": ["/sys/fs/bpf/maps.debug", "/sys/fs/bpf/progs.debug",
                        "/sys/fs/bpf/kmatrix_leak"],
             "netns": [], "veths": ["vkm0"], "modules": ["veth"]}
    # bpffs mounted mid-run pins maps.debug/progs.debug by itself; the rest is ours.
    assert leftovers(before, after) == ["pinned object /sys/fs/bpf/kmatrix_leak",
                                        "veth device vkm0"]


def test_leftover_bpf_objects_held_by_a_live_process_are_not_blamed() -> None:
    before = {"progs": [1], "maps": [], "links": []}
    after = {"progs": [1, 7, 8], "maps": [], "links": [],
             "detail": {"prog": {"7": {"type": "xdp", "name": "ours", "held_by": []},
                                 "8": {"type": "kprobe", "name": "theirs",
                                       "held_by": ["systemd(1)"]}}}}
    assert leftovers(before, after) == ["bpf prog 7 (xdp ours)"]


def test_no_comparison_without_a_before_inventory() -> None:
    # No bpftool at preflight: nothing to compare against, so nothing is claimed.
    assert leftovers({"progs": None}, {"progs": [3], "detail": {"prog": {"3": {}}}}) == []
