"""dynptr cases, run for real on this host through the agent."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from agent_support import BTF, run_family

pytestmark = [
    pytest.mark.bpf,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for BPF"),
    pytest.mark.skipif(not BTF.exists(), reason="needs kernel BTF"),
]


@pytest.fixture(scope="module")
def dres(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    return run_family(tmp_path_factory.mktemp("dynptr"), "dynptr")["res"]


def _passed(res: dict[str, dict], cid: str) -> dict:
    r = res[cid]
    assert r["state"] == "pass", json.dumps(r, indent=1)
    return r["details"]


def test_from_mem(dres: dict) -> None:
    d = _passed(dres, "dynptr/from_mem")
    assert d["read_back"] == d["buffer"] == "0x1122334455667788"
    assert d["oob_write_rc"] == -7 and d["data_slice"] is True
    assert d["read_back_via_slice"] == "0xa5c3e1f0"
    assert d["map_value"].startswith("f0e1c3a5" + "8877665544332211")


def test_ringbuf_submit_and_discard(dres: dict) -> None:
    d = _passed(dres, "dynptr/ringbuf")
    assert d["records"] == 1 and d["record"]["seq"] == 42
    assert d["discarded_reserve_rc"] == 0


def test_skb(dres: dict) -> None:
    d = _passed(dres, "dynptr/skb")
    assert d["fields"] == {"h_proto": "0x0800", "saddr": "192.0.2.1", "daddr": "198.51.100.7",
                           "protocol": 17, "dport": 4789}
    assert d["payload_read"] == "KMxDYNP!" and d["from_skb_rc"] == 0


def test_xdp_across_frags(dres: dict) -> None:
    d = _passed(dres, "dynptr/xdp")
    assert d["linear_len"] < d["packet_len"] == d["data_out_len"]
    assert d["read"] == ["KMxXFRG!", "KMxXFRG!", "KMxTAIL!"] and d["slice_copied"] == 1
    assert d["rcs"]["read_past_end"] == -7


def test_user_ringbuf(dres: dict) -> None:
    d = _passed(dres, "dynptr/user_ringbuf")
    assert d["drain_rc"] == d["samples"] == 37 and d["second_drain_rc"] == 0


@pytest.mark.parametrize("cid,errno_name,needle", [
    ("dynptr/reject_unreleased", "EINVAL", "Unreleased reference id="),
    ("dynptr/reject_uninit", "EINVAL", "Expected an initialized dynptr as arg #"),
    ("dynptr/reject_after_submit", "EACCES", "invalid mem access 'scalar'"),
])
def test_verifier_rejections(dres: dict, cid: str, errno_name: str, needle: str) -> None:
    d = _passed(dres, cid)
    assert d["load_errno"] == errno_name and needle in d["rejected_with"]


def test_rejection_case_fails_when_the_program_loads(tmp_path: Path) -> None:
    """expect_rejected must fail a case whose 'bad' program is accepted."""
    import shutil

    from agent_support import bundle, results, run_agent

    from kmatrix.catalog import load_catalog

    fam = tmp_path / "bpf_cases" / "dynptr"
    fam.mkdir(parents=True)
    src = Path(__file__).resolve().parent.parent / "bpf_cases" / "dynptr"
    shutil.copy(src / "reject_unreleased.py", fam / "reject_unreleased.py")
    # Same case, but the program releases its reservation: the verifier accepts it.
    text = (src / "reject_unreleased.bpf.c").read_text().replace(
        "\tres[0]++;", "\tbpf_ringbuf_discard_dynptr(&ptr, 0);\n\tres[0]++;")
    (fam / "reject_unreleased.bpf.c").write_text(text)
    pyz, _wd, _o = bundle(load_catalog(tmp_path / "bpf_cases"), tmp_path, tmp_path / "cache")
    events, _out, proc = run_agent(pyz)
    assert proc.returncode == 0, proc.stderr
    r = results(events)["dynptr/reject_unreleased"]
    assert r["state"] == "fail" and "loaded, but it must be refused" in r["reason"]
