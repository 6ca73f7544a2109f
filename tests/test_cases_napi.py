"""napi/threaded for real on this kernel, through the agent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from agent_support import BTF, run_family, true_verdict

pytestmark = [
    pytest.mark.bpf,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for BPF, netns and sysfs"),
    pytest.mark.skipif(not BTF.exists(), reason="needs kernel BTF"),
]


def _napi_threads() -> set[str]:
    out = set()
    for p in Path("/proc").iterdir():
        try:
            comm = (p / "comm").read_text().strip() if p.name.isdigit() else ""
        except OSError:
            continue
        if comm.startswith("napi/kmx"):
            out.add(comm)
    return out


def test_threaded_napi(tmp_path: Path) -> None:
    run = run_family(tmp_path, "napi")
    r = run["res"]["napi/threaded"]
    if true_verdict(r):
        d = r["details"]
        assert d["kthreads"] and all(k.startswith("napi/kmx1-") for k in d["kthreads"])
        assert (d["threaded after writing 1"], d["threaded after writing 0"]) == ("1", "0")
        assert d["frames"] == 8 and d["context switches of the napi kthreads while polling"] > 0
        assert d["napi kthreads left after the NAPI instances went"] is False
    else:
        assert "threaded" in r["reason"]
    assert _napi_threads() == set()
    assert not any(m.split()[1].endswith("/sys") and "files." in m.split()[1]
                   for m in Path("/proc/self/mounts").read_text().splitlines())
