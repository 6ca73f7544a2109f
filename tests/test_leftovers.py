"""The before/after target inventory comparison (kmatrix.cleanup.leftovers)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kmatrix.cleanup import leftovers


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


def test_without_bpftool_the_check_says_it_is_degraded() -> None:
    from kmatrix.cleanup import unchecked

    full = {"progs": [1], "maps": [], "links": [], "pinned": [], "netns": [], "veths": [],
            "modules": []}
    assert unchecked(full, full) == []
    blind = dict(full, progs=None, maps=None, links=None)
    [msg] = unchecked(blind, blind)
    assert msg.startswith("BPF programs, BPF maps, BPF links (no bpftool")
    assert "dnf install bpftool" in msg
    [msg] = unchecked(full, dict(full, veths=None))
    assert "veth devices" in msg


def test_package_hints_name_dnf_packages_on_openeuler(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from kmatrix.agent import kmod

    osr = tmp_path / "os-release"
    osr.write_text('NAME="openEuler"\nVERSION="22.03 (LTS-SP3)"\nID="openEuler"\nVERSION_ID="22.03"\n')
    assert kmod.rpm_based(str(osr))
    assert kmod.package_hint("headers", "5.10.0-196.oe2203sp3.aarch64", rpm=True) == \
        "install it: dnf install kernel-devel-5.10.0-196.oe2203sp3.aarch64"
    osr.write_text('ID=debian\nVERSION_ID="11"\n')
    assert not kmod.rpm_based(str(osr))
    assert kmod.package_hint("pahole", rpm=False) == "install it: apt install dwarves"


def test_own_ids_come_from_a_line_per_case_and_survive_a_torn_line(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from kmatrix.agent import leftovers as agent_leftovers

    assert agent_leftovers._own_ids(str(tmp_path)) is None  # no case created anything
    (tmp_path / "own_objects.jsonl").write_text(
        '{"progs": [7, 8]}\n{"maps": [3], "links": [9]}\n{"progs": [1')  # killed mid-write
    assert agent_leftovers._own_ids(str(tmp_path)) == {"progs": [7, 8], "maps": [3],
                                                       "links": [9]}


def test_bpftool_detail_is_asked_only_when_an_id_is_new() -> None:
    from kmatrix.agent.leftovers import _nothing_new

    before = {"progs": [1, 2], "maps": [5], "links": []}
    assert _nothing_new(before, {"progs": [2], "maps": [5], "links": []})
    assert not _nothing_new(before, {"progs": [2, 3], "maps": [5], "links": []})
    assert not _nothing_new(before, {"progs": None, "maps": [5], "links": []})  # no bpftool
    assert not _nothing_new(None, {"progs": [], "maps": [], "links": []})  # run by hand


GOLDEN = Path(__file__).parent / "data" / "golden" / "leftovers"


def _golden_detail() -> dict:  # type: ignore[type-arg]
    """bpftool 7.1 `-j -f {prog,map,link} show` on 6.18, right after the dynptr
    cases closed their raw-tracepoint links: the kernel still lists the programs
    and their maps (tasks-trace RCU), held by nobody."""
    from kmatrix.agent.leftovers import parse_detail

    raw = json.loads((GOLDEN / "raw_tp_released.json").read_text())
    return {k: parse_detail(v) for k, v in raw.items()}


def test_golden_released_raw_tracepoints_are_being_freed() -> None:
    from kmatrix.agent.leftovers import being_freed

    got = sorted(list(x) for x in being_freed(_golden_detail()))
    assert got == json.loads((GOLDEN / "raw_tp_released.expected.json").read_text())
    # frags_te.bss: its XDP program is gone, so nothing says who freed it: still
    # waited for (and blamed if it stayed), never exempt.
    assert ["map", "24108"] not in got


@pytest.mark.parametrize("change, kept", [
    ("pinned", {("prog", "50199"), ("map", "24101"), ("map", "24103")}),
    ("linked", {("prog", "50199"), ("map", "24101"), ("map", "24103")}),
    ("xdp", {("prog", "50199"), ("map", "24101"), ("map", "24103")}),
    ("held", {("prog", "50199"), ("map", "24101"), ("map", "24103")}),
    ("shared_map", {("map", "24104")}),
])
def test_what_keeps_an_object_alive_is_never_exempt(change: str, kept: set) -> None:  # type: ignore[type-arg]
    from kmatrix.agent.leftovers import being_freed

    d = _golden_detail()
    prog = d["prog"]["50199"]
    if change == "pinned":
        prog["pinned"] = True  # bpffs keeps it (the faults test's deliberate leak)
    elif change == "linked":
        d["link"]["7"] = {"name": "", "type": "raw_tracepoint", "held_by": [], "pinned": True,
                          "prog_id": 50199}
    elif change == "xdp":
        prog["type"] = "xdp"  # attachable through netlink with no fd or link
    elif change == "held":
        prog["held_by"] = ["python3"]
    elif change == "shared_map":  # the ring buffer also used by a live XDP program
        d["prog"]["60000"] = {"name": "x", "type": "xdp", "held_by": [], "pinned": False,
                              "map_ids": [24104]}
    freed = being_freed(d)
    assert not (kept & freed), kept & freed
    assert ("prog", "50201") in freed or change == "shared_map"


def test_objects_being_freed_are_not_blamed_but_a_pinned_one_is() -> None:
    detail = _golden_detail()
    before = {"progs": [], "maps": [], "links": [], "pinned": [], "netns": [], "veths": [],
              "modules": []}
    after = dict(before, progs=[50199, 50201], maps=[24101, 24103, 24104, 24105],
                 detail=detail, own={"progs": [50199, 50201],
                                     "maps": [24101, 24103, 24104, 24105], "links": []})
    assert leftovers(before, after) == []
    detail["prog"]["50199"]["pinned"] = True
    assert leftovers(before, after) == ["bpf prog 50199 (raw_tracepoint on_sys_enter)",
                                        "bpf map 24101 (array scratch)",
                                        "bpf map 24103 (array from_mem.bss)"]
