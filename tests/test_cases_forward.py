"""forward cases (tc, tcx, XDP, FIB) for real on this kernel, through the agent."""

from __future__ import annotations

import pytest
from agent_support import NEEDS_BPF, run_family, true_verdict

FAMILY = "forward"
CASES = ["forward/fib_lookup", "forward/tc_redirect", "forward/tc_redirect_peer",
         "forward/tcx_redirect_peer", "forward/xdp_redirect_devmap", "forward/xdp_tx"]

pytestmark = NEEDS_BPF  # root for BPF and the cases' network namespaces


@pytest.fixture(scope="module")
def family_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return run_family(tmp_path_factory.mktemp(FAMILY), FAMILY)


def test_all_ran(family_run: dict) -> None:
    assert sorted(family_run["res"]) == CASES


@pytest.mark.parametrize("cid, kmx2_tx", [("forward/tc_redirect", 4),
                                          ("forward/tc_redirect_peer", 0),
                                          ("forward/tcx_redirect_peer", None)])
def test_tc_redirects_delivered(family_run: dict, cid: str, kmx2_tx: int | None) -> None:
    r = family_run["res"][cid]
    if true_verdict(r):
        d = r["details"]
        assert len(d["frames at kmx3 in the other netns"]) == 4
        assert (d["seen"], d["verdict"]) == (4, 7)  # TC_ACT_REDIRECT
        tx = [v for k, v in d.items() if k.startswith("packets kmx2 transmitted")]
        assert tx == ([] if kmx2_tx is None else [kmx2_tx])
    elif cid == "forward/tcx_redirect_peer":
        assert "tcx_link_attach" in r["reason"]


@pytest.mark.parametrize("cid, counters", [
    ("forward/xdp_tx", {"bounced": 4, "caught": 4, "caught_bytes": 60 + 260 + 460 + 660}),
    ("forward/xdp_redirect_devmap", {"redirected": 4, "verdict": 4, "caught": 4,
                                     "caught_bytes": 60 + 260 + 460 + 660}),
])
def test_xdp_forwarding(family_run: dict, cid: str, counters: dict) -> None:
    r = family_run["res"][cid]
    if true_verdict(r):
        d = r["details"]
        assert {k: d[k] for k in counters} == counters
        assert d["xdp_modes"] == ["xdp", "xdp"]  # native on both veths


def test_fib_lookup_found_route_and_neighbour(family_run: dict) -> None:
    r = family_run["res"]["forward/fib_lookup"]
    if true_verdict(r):
        d = r["details"]
        assert d["rc for 10.88.0.9"] == 0 and d["rc for 10.99.0.9"] == 4
        assert d["smac (kmx0's)"] == "020000000010"
        assert d["dmac (the gateway's neighbour entry)"] == "020000000020"
