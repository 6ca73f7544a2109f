"""`kmatrix probe` end to end on this machine (local transport, real BTF and bpftool)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from kmatrix.agent import btf
from kmatrix.agent.preflight import parse_features

ROOT = Path(__file__).resolve().parent.parent
VMLINUX = Path("/sys/kernel/btf/vmlinux")


@pytest.mark.skipif(not VMLINUX.exists(), reason="kernel without BTF")
def test_kfunc_names_from_decl_tags() -> None:
    data = VMLINUX.read_bytes()
    tagged = btf.kfunc_names(data)
    funcs = btf.func_names(data)
    # A kfunc is a FUNC that a bpf_kfunc DECL_TAG points at; helpers are not.
    assert tagged <= funcs
    if tagged:  # kernels >= 6.8 with pahole >= 1.26
        assert "bpf_task_acquire" in tagged
        assert "bpf_map_lookup_elem" not in tagged


def test_parse_features_keeps_only_supported() -> None:
    doc = {"program_types": {"have_xdp_prog_type": True, "have_lsm_prog_type": False},
           "map_types": {"have_ringbuf_map_type": True, "have_arena_map_type": False},
           "helpers": {"xdp_available_helpers": ["bpf_map_lookup_elem", "bpf_xdp_adjust_tail"],
                       "kprobe_available_helpers": ["bpf_map_lookup_elem", "bpf_probe_read"]},
           "misc": {"have_bounded_loops": True, "have_v4_isa_extension": False}}
    got = parse_features(doc)
    assert got == {"program_types": ["xdp"], "map_types": ["ringbuf"],
                   "helpers": ["bpf_map_lookup_elem", "bpf_probe_read", "bpf_xdp_adjust_tail"],
                   "misc": ["bounded_loops"]}


@pytest.mark.bpf
@pytest.mark.skipif(os.geteuid() != 0, reason="needs root")
def test_probe_json_on_this_machine(tmp_path: Path) -> None:
    hosts = tmp_path / "hosts.yaml"
    hosts.write_text("hosts:\n  - {name: self, arch: x86_64, transport: local}\n")
    proc = subprocess.run([sys.executable, "-m", "kmatrix", "probe", "--hosts", str(hosts),
                           "--json", "--cache-dir", str(tmp_path / "cache")],
                          capture_output=True, text=True, timeout=600,
                          env=dict(os.environ, PYTHONPATH=str(ROOT)))
    assert proc.returncode == 0, proc.stderr
    (row,) = json.loads(proc.stdout)
    assert row["host"] == "self" and row["kernel"] == os.uname().release
    assert "bpf_task_acquire" in row["kfuncs"]
    assert row["btf_functions"] > 1000
    feats = row["features"]
    assert feats is not None, "bpftool feature probe gave nothing"
    assert "xdp" in feats["program_types"] and "ringbuf" in feats["map_types"]
    # Probe must agree with what this machine really allows (EPERM here, measured).
    try:
        Path("/sys/kernel/tracing/available_filter_functions").read_bytes()[:1]
        blocked = False
    except PermissionError:
        blocked = True
    except OSError:
        blocked = None  # no tracefs at all: nothing to compare
    if blocked:
        assert row["ftrace"]["usable"] is False and "EPERM" in row["ftrace"]["reason"]
    elif blocked is False:
        assert row["ftrace"]["usable"] is True
    # The capability probes ran on the target, one real attempt each.
    probes = row["probes"]
    assert probes["atomics"]["state"] == "yes", probes["atomics"]
    assert probes["xdp_frags"]["state"] == "yes", probes["xdp_frags"]
    if blocked:
        assert probes["trampoline"]["state"] == "blocked", probes["trampoline"]
