"""cgroup cases for real on this kernel, through the agent: values when they pass."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from agent_support import BTF, run_family, true_verdict

FAMILY = "cgroup"
CASES = ["cgroup/connect4", "cgroup/skb_egress", "cgroup/sysctl"]

pytestmark = [
    pytest.mark.bpf,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for BPF and cgroups"),
    pytest.mark.skipif(not BTF.exists(), reason="needs kernel BTF"),
]


def _cgroups() -> set[str]:
    mnt = next((ln.split()[4] for ln in Path("/proc/self/mountinfo").read_text().splitlines()
                if ln.split(" - ")[1].startswith("cgroup2 ")), None)
    return {p.name for p in Path(mnt).iterdir() if p.is_dir()} if mnt else set()


@pytest.fixture(scope="module")
def family_run(tmp_path_factory: pytest.TempPathFactory) -> dict:
    before = _cgroups()
    run = run_family(tmp_path_factory.mktemp(FAMILY), FAMILY)
    return dict(run, new_cgroups=_cgroups() - before)


def test_all_ran(family_run: dict) -> None:
    assert sorted(family_run["res"]) == CASES


def test_connect4_rewrote_the_destination(family_run: dict) -> None:
    r = family_run["res"]["cgroup/connect4"]
    if true_verdict(r):
        d = r["details"]
        assert d["data at the listener on to_port"] == "kmatrix connect4"
        assert (d["hits"], d["rewritten"]) == (1, 1)
        assert d["connect from outside the group"] == "ECONNREFUSED"


def test_sysctl_refused_and_rewrote(family_run: dict) -> None:
    r = family_run["res"]["cgroup/sysctl"]
    if true_verdict(r):
        d = r["details"]
        assert d["write of 1 to ip_forward"] == "EPERM"
        assert d["ip_forward after the refusal"] == "0"
        assert d["ip_default_ttl after the rewrite"] == "77"
        assert (d["refused"], d["rewritten"], d["set_rc"]) == (1, 1, 0)


def test_skb_egress_counted_every_byte(family_run: dict) -> None:
    r = family_run["res"]["cgroup/skb_egress"]
    if true_verdict(r):
        d = r["details"]
        assert d["packets"] == 4 and d["bytes"] == 1 + 64 + 512 + 1400 + 4 * 28
        assert d["packets after a send from outside the group"] == 4


def test_no_cgroup_left(family_run: dict) -> None:
    assert not {c for c in family_run["new_cgroups"] if c.startswith("kmatrix-")}
