"""socket cases for real on this kernel, through the agent: values when they pass."""

from __future__ import annotations

import pytest
from agent_support import NEEDS_BPF, run_family, true_verdict

FAMILY = "socket"
CASES = ["socket/reuseport_select", "socket/sk_lookup", "socket/sk_msg_redirect",
         "socket/sk_skb_redirect"]

pytestmark = NEEDS_BPF  # root for BPF and the cases' network namespaces


@pytest.fixture(scope="module")
def family_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    return run_family(tmp_path_factory.mktemp(FAMILY), FAMILY)


def test_all_ran(family_run: dict) -> None:
    assert sorted(family_run["res"]) == CASES


def test_sk_lookup_steered_three_ports(family_run: dict) -> None:
    r = family_run["res"]["socket/sk_lookup"]
    if true_verdict(r):
        d = r["details"]
        assert d["local ports of the accepted connections"] == [7001, 7002, 7003]
        assert d["steered"] == 3 and d["connect to a port outside"] == "ECONNREFUSED"


@pytest.mark.parametrize("cid, what, data", [
    ("socket/sk_msg_redirect", "data on the redirect target", "kmatrix sk_msg redirect"),
    ("socket/sk_skb_redirect", "data at the redirect target's peer", "kmatrix sk_skb redirect"),
])
def test_sockmap_redirects(family_run: dict, cid: str, what: str, data: str) -> None:
    r = family_run["res"][cid]
    if true_verdict(r):
        d = r["details"]
        assert d[what] == data and d["verdict"] == 1  # SK_PASS
        assert d.get("data at the sender's own peer", d.get("data left on the receiving "
                                                              "socket")) == ""


def test_reuseport_select_spread_by_payload(family_run: dict) -> None:
    r = family_run["res"]["socket/reuseport_select"]
    if true_verdict(r):
        d = r["details"]
        assert d["datagrams per socket (by sequence number)"] == {"0": [1, 5], "1": [2, 3],
                                                                  "2": [0, 4]}
        assert d["selected"] == 6 and d["select_rc"] == 0
