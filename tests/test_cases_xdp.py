"""xdp_frags cases for real on this kernel, through the agent; plus the netns helper."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest
from agent_support import NEEDS_BPF, passed, run_family

from kmatrix.agent import net

ROOT = Path(__file__).resolve().parent.parent
FAMILY = "xdp_frags"

pytestmark = NEEDS_BPF  # root for BPF and the cases' network namespaces


def _host_links() -> set[str]:
    out = subprocess.run(["ip", "-o", "link", "show"], capture_output=True, text=True,
                         check=True).stdout
    return {ln.split(":")[1].strip().split("@")[0] for ln in out.splitlines() if ":" in ln}


@pytest.fixture(scope="module")
def family_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    links0 = _host_links()
    run = run_family(tmp_path_factory.mktemp(FAMILY), FAMILY, all_built=False)
    return dict(run, links0=links0, links1=_host_links())


def _res(run: dict, cid: str) -> dict:
    r = run["res"][cid]
    return r


def test_all_compiled_and_ran(family_run: dict) -> None:
    assert {k: o.output for k, o in family_run["outcomes"].items() if not o.ok} == {}
    assert sorted(family_run["res"]) == sorted(family_run["ids"])
    assert {"xdp_frags/adjust_tail", "xdp_frags/veth_jumbo", "xdp_frags/frags_unaware_refused",
            "xdp_frags/frags_test_run"} <= set(family_run["ids"])


@pytest.mark.parametrize("cid", ["xdp_frags/adjust_tail", "xdp_frags/veth_jumbo",
                                 "xdp_frags/frags_unaware_refused", "xdp_frags/frags_test_run"])
def test_passes_here(family_run: dict, cid: str) -> None:
    # XDP multi-buffer, or a true skip of this machine's kernel build.
    passed(_res(family_run, cid))


def test_adjust_tail_values(family_run: dict) -> None:
    d = passed(_res(family_run, "xdp_frags/adjust_tail"))
    pkt = d["packet"]
    assert pkt["frags"] >= 2 and pkt["linear"] < pkt["size"]
    rc, length, _data = d["shrink_past_last_frag"]
    assert rc == 0 and pkt["size"] - length > pkt["last_frag"]  # a whole frag went
    assert d["shrink_into_head"][:2] == [0, pkt["linear"] - 10]
    rc, length, _data = d["grow_last_frag"]
    assert rc == 0 and length > pkt["size"]
    assert d["grow_past_tailroom"][:2] == [-22, pkt["size"]]


def test_veth_jumbo_counted_every_byte(family_run: dict) -> None:
    d = passed(_res(family_run, "xdp_frags/veth_jumbo"))
    assert d["xdp_mode"] == "xdp"  # native, not xdpgeneric
    assert d["frames"] == 3 and d["largest"] == 9014 and d["bytes"] == 9014 + 6000 + 300
    assert d["multi_buffer"] >= 1 and d["trailers_ok"] == 3
    assert d["smallest_linear, other_frames"][0] < 9014


def test_refusal_names_errno_and_kernel_message(family_run: dict) -> None:
    d = passed(_res(family_run, "xdp_frags/frags_unaware_refused"))
    assert d["refused_errno"] == "ERANGE"
    assert "Peer MTU is too large" in d["kernel_message"]
    assert d["aware_runs"] >= 1 and d["unaware_runs"] == 0


def test_no_veth_left_in_host_namespace(family_run: dict) -> None:
    # The pairs lived only in the cases' anonymous namespaces.
    assert not {"kmx0", "kmx1"} & family_run["links1"]
    assert family_run["links1"] <= family_run["links0"] | {"kmx0", "kmx1"}


def _ns_inode(path: str = "/proc/thread-self/ns/net") -> int:
    return os.stat(path).st_ino


def _fds_on(inode: int) -> list[str]:
    out = []
    for fd in os.listdir("/proc/self/fd"):
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == f"net:[{inode}]":
                out.append(fd)
        except OSError:
            pass
    return out


def test_netns_helper_is_private_and_released() -> None:
    home = _ns_inode()
    ns = net.NetNs()
    try:
        assert _ns_inode() == home, "the thread must be back home after unshare"
        with ns.inside():
            inner = _ns_inode()
            assert inner != home
            net.ip("link", "add", "kmxt0", "type", "veth", "peer", "name", "kmxt1")
            assert "kmxt0" in net.ip("-o", "link", "show")
        assert _ns_inode() == home
        assert "kmxt0" not in _host_links()
        assert _fds_on(inner)  # held by exactly our fd until close
    finally:
        ns.close()
    assert _fds_on(inner) == []
    assert _ns_inode() == home
    with pytest.raises(RuntimeError):
        with ns.inside():
            pass
