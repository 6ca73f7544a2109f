"""maps cases (LRU hash, LPM trie, per-CPU array, map-in-map) for real on this kernel
through the agent; every kernel kmatrix targets has these map types: all must pass."""

from __future__ import annotations

import os

import pytest
from agent_support import NEEDS_BPF, passed, run_family

pytestmark = NEEDS_BPF


@pytest.fixture(scope="module")
def res(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    return run_family(tmp_path_factory.mktemp("maps"), "maps")["res"]


def test_lru_evicts(res: dict) -> None:
    passed(res["maps/lru_hash"])
    d = res["maps/lru_hash"]["details"]
    assert (d["lru_ok"], d["plain_ok"], d["plain_full_rc"]) == (64, 16, -7)  # -E2BIG
    assert 1 <= d["present"] <= 16 and d["oldest from user space"] is None


def test_lpm_longest_prefix(res: dict) -> None:
    passed(res["maps/lpm_trie"])
    assert res["maps/lpm_trie"]["details"]["matched"] == [1, 2, 3, -1]


def test_percpu_sum(res: dict) -> None:
    passed(res["maps/percpu_array"])
    d = res["maps/percpu_array"]["details"]
    assert d["sum over CPUs"] == d["calls"] == 20 * min(4, len(os.sched_getaffinity(0)))
    assert len(d["per_cpu_hits"]) == d["possible_cpus"]


def test_map_in_map(res: dict) -> None:
    passed(res["maps/map_in_map"])
    d = res["maps/map_in_map"]["details"]
    assert (d["read_a"], d["read_b_via_hash"], d["missing_outer"]) == (1111, 2222, 1)
