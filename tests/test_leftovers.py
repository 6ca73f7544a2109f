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


def test_without_bpftool_the_check_says_it_is_degraded() -> None:
    from kmatrix.runner import unchecked

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
