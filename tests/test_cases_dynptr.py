"""dynptr cases, run for real on this host through the agent."""

from __future__ import annotations

from pathlib import Path

import pytest
from agent_support import NEEDS_BPF, passed, run_family

pytestmark = NEEDS_BPF


@pytest.fixture(scope="module")
def dres(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    return run_family(tmp_path_factory.mktemp("dynptr"), "dynptr")["res"]



def test_from_mem(dres: dict) -> None:
    d = passed(dres["dynptr/from_mem"])
    assert d["read_back"] == d["buffer"] == 0x1122334455667788
    assert d["oob_write_rc"] == -7 and d["data_slice"] is True
    assert d["read_back_via_slice"] == 0xA5C3E1F0
    assert d["map_value"] == "f0e1c3a5" + "8877665544332211"


def test_ringbuf_submit_and_discard(dres: dict) -> None:
    d = passed(dres["dynptr/ringbuf"])
    assert d["record sizes"] == [40] and d["record"][4] == 42  # one record, seq 42
    assert d["discarded_reserve_rc"] == 0


def test_skb(dres: dict) -> None:
    d = passed(dres["dynptr/skb"])
    assert (d["h_proto"], d["saddr"], d["daddr"]) == (0x0800, "c0000201", "c6336407")
    assert (d["protocol"], d["dport"]) == (17, 4789)
    assert d["payload"] == "KMxDYNP!" and d["from_skb_rc"] == 0


def test_xdp_across_frags(dres: dict) -> None:
    d = passed(dres["dynptr/xdp"])
    assert d["linear_len"] < 9000 and d["read_rc"] == d["read_tail_rc"] == 0
    assert d["across"] == d["sliced"] == "KMxXFRG!" and d["slice_copied"] is True
    assert d["tail"] == "KMxTAIL!" and d["past_end_rc"] == -7


def test_user_ringbuf(dres: dict) -> None:
    d = passed(dres["dynptr/user_ringbuf"])
    assert d["drain_rc"] == d["count"] == 37 and d["second_drain_rc"] == 0


def test_rejections_are_one_tagged_file_without_checks() -> None:
    """dynptr/reject.bpf.c holds three tagged programs and no .py: three cases."""
    from kmatrix.catalog import TAGGED_CHECK, load_catalog

    root = Path(__file__).resolve().parent.parent / "bpf_cases"
    assert not list((root / "dynptr").glob("reject*.py"))
    by = {c.id: c for c in load_catalog(root) if c.family == "dynptr"}
    for prog in ("after_submit", "uninit", "unreleased"):
        c = by["dynptr/reject_" + prog]
        assert (c.check, c.program, c.src) == (TAGGED_CHECK, prog, root / "dynptr/reject.bpf.c")
        assert c.meta["requires"]["probes"] == ["dynptr"] and c.meta["description"]


@pytest.mark.parametrize("cid,errno_name,needle", [
    ("dynptr/reject_unreleased", "EINVAL", "Unreleased reference id="),
    ("dynptr/reject_uninit", "EINVAL", "Expected an initialized dynptr as arg #"),
    ("dynptr/reject_after_submit", "EACCES", "invalid mem access 'scalar'"),
])
def test_verifier_rejections(dres: dict, cid: str, errno_name: str, needle: str) -> None:
    d = passed(dres[cid])
    assert d["load_errno"] == errno_name and needle in d["rejected_with"]


def test_rejection_case_fails_when_the_program_loads(tmp_path: Path) -> None:
    """A tagged rejection program the verifier accepts fails its case."""
    from agent_support import bundle, results, run_agent

    from kmatrix.catalog import load_catalog

    fam = tmp_path / "bpf_cases" / "dynptr"
    fam.mkdir(parents=True)
    src = Path(__file__).resolve().parent.parent / "bpf_cases" / "dynptr"
    # The same programs, but `unreleased` releases its reservation: the verifier accepts it.
    text = (src / "reject.bpf.c").read_text()
    assert text.count("\tsink++;") == 1
    (fam / "reject.bpf.c").write_text(text.replace(
        "\tsink++;", "\tbpf_ringbuf_discard_dynptr(&ptr, 0);\n\tsink++;"))
    cases = [c for c in load_catalog(tmp_path / "bpf_cases") if c.id.endswith("unreleased")]
    pyz, _wd, _o = bundle(cases, tmp_path, tmp_path / "cache")
    events, _out, proc = run_agent(pyz)
    assert proc.returncode == 0, proc.stderr
    r = results(events)["dynptr/reject_unreleased"]
    assert r["state"] == "fail" and "loaded, but it must be refused" in r["reason"]
    assert "'Unreleased reference id='" in r["reason"]
