"""The case-writer's API (issue 12): soft expectations, named typed globals, rejection
tags, tag-only cases, and that cases written against the old API still run."""

from __future__ import annotations

import json
import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from agent_support import BTF, bundle, results, run_agent, support_catalog

from kmatrix.agent import case as agent_case
from kmatrix.agent import globals as agent_globals
from kmatrix.agent.compile import compile_argv
from kmatrix.build import SHARED_INCLUDE, Builder
from kmatrix.bundle import make_plan
from kmatrix.catalog import load_catalog

ROOT = Path(__file__).resolve().parent.parent

needs_bpf = [
    pytest.mark.bpf,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for BPF"),
    pytest.mark.skipif(not BTF.exists(), reason="needs kernel BTF"),
]


def _t(tmp: Path) -> agent_case.CaseContext:
    return agent_case.CaseContext("x/y", {}, {}, str(tmp))


# -- soft expectations --------------------------------------------------------------------


def test_soft_expectations_record_values_and_keep_going(tmp_path: Path) -> None:
    t = _t(tmp_path)
    assert t.expect_eq(3, 3, "hits") and t.expect_ge(5, 1, "n") and t.expect_true(1, "on")
    assert not t.expect_eq(0, 1, "fired")
    assert not t.expect_le(9, 8, "le") and not t.expect_ne(2, 2, "ne")
    assert t.expect_lt(1, 2, "lt") and not t.expect_gt(1, 2, "gt") and t.expect_false(0, "f")
    assert t.details["hits"] == 3 and t.details["fired"] == 0 and t.details["n"] == 5
    assert t.failures == ["fired: actual 0 != expected 1", "le: actual 9 > expected 8",
                          "ne: actual 2 == expected-not 2", "gt: actual 1 <= expected 2"]
    assert t.details["failed"] == t.failures
    with pytest.raises(agent_case.Fail) as e:
        t.finish()
    assert e.value.sentence.startswith("4 expectations failed: fired: actual 0 != expected 1; ")


def test_values_are_shown_with_both_sides_and_large_ones_in_hex(tmp_path: Path) -> None:
    t = _t(tmp_path)
    t.expect_eq(0x1122334455667788, 7, "word")
    t.expect_eq(b"a" * 40, b"a" * 39 + b"b", "packet")
    t.expect_eq([1, b"x" * 50], [1, b""], "pair")
    assert t.failures[0] == ("word: actual 1234605616436508552 (0x1122334455667788) != "
                             "expected 7")
    assert t.failures[1] == "packet: actual 40 bytes != expected 40 bytes, first difference at " \
        "byte 39"
    assert "50 bytes 78787878" in t.failures[2] and len(t.failures[2]) < 120
    assert t.details["packet"].startswith("40 bytes ")  # long bytes summarised in details
    json.dumps(t.details)


def test_hard_expect_and_skip_carry_earlier_soft_failures(tmp_path: Path) -> None:
    t = _t(tmp_path)
    t.finish()  # nothing failed: nothing raised
    t.expect_eq(1, 2, "a")
    with pytest.raises(agent_case.Fail) as e:
        t.expect(False, "then this")
    assert e.value.sentence == "a: actual 1 != expected 2; then this"
    with pytest.raises(agent_case.Fail) as e:
        t.skip("kernel-lacks", "no such thing")  # a failure outweighs a later skip
    assert "then the check skipped: no such thing" in e.value.sentence


def test_expect_values_over_a_struct(tmp_path: Path) -> None:
    t = _t(tmp_path)
    rec = agent_globals.Record(count=3, sum=6)
    assert rec.count == 3 and rec == {"count": 3, "sum": 6}
    assert not t.expect_values(rec, count=3, sum=7)
    assert t.failures == ["sum: actual 6 != expected 7"] and t.details["count"] == 3


def test_rejection_tags_parse_and_match_in_order() -> None:
    r = agent_case.Rejection(["failure", "msg:alpha", "msg:beta", "msg_or:gamma",
                              "errno:EINVAL", "rejected_by:verifier"])
    assert r.failure and r.msgs == [["alpha"], ["beta", "gamma"]] and r.errnos == ["EINVAL"]
    assert r.by == "verifier" and r.describe() == "'alpha' then 'beta' | 'gamma'"
    log = "0: call reserve\n1: gamma early\n2: alpha here\n3: beta there\n4: gamma late\n"
    # After alpha, the earliest of the alternatives: beta on line 3.
    assert agent_case._find_in_order(log, [["alpha"], ["beta", "gamma"]]) == ("3: beta there",
                                                                              None)
    assert agent_case._find_in_order(log, [["beta"], ["alpha"]]) == (None, ["alpha"])
    with pytest.raises(ValueError):
        agent_case.Rejection(["msg_or:x"])


class _RefusedObj:
    """A loaded-object stand-in whose load is refused with `log`; `tags` per program."""

    name = "fake"
    loaded = False

    def __init__(self, tags: dict[str, list[str]], log: str, err: int = 22) -> None:
        self.info = _Tags(tags)
        self.log, self.err, self.autoload = log, err, {}

    def programs(self) -> list[str]:
        return sorted(self.info.tags)

    def set_autoload(self, name: str, on: bool) -> None:
        self.autoload[name] = on

    def load(self) -> None:
        raise agent_case.LoadFailed("bpf_object__load(fake)", self.err, self.log)


class _Tags:
    def __init__(self, tags: dict[str, list[str]]) -> None:
        self.tags = tags
        self.sections: dict = {}

    def tags_of(self, name: str) -> list[str]:
        return self.tags.get(name, [])


def test_expect_rejected_from_tags_and_the_jit_off_skip(tmp_path: Path) -> None:
    tags = {"bad": ["failure", "msg:Unreleased reference"], "good": []}
    t = agent_case.CaseContext("x/bad", {"program": "bad"}, {"bpf_jit_enable": 1},
                               str(tmp_path))
    obj = _RefusedObj(tags, "0: call\nUnreleased reference id=2\n")
    t.open = lambda: obj  # type: ignore[method-assign]
    assert "Unreleased" in t.expect_rejected()
    assert obj.autoload == {"bad": True, "good": False}
    assert t.details == {"load_errno": "EINVAL", "rejected_with": "Unreleased reference id=2"}
    # With the JIT off, "the interpreter cannot do this" is an environment-blocks skip.
    t = agent_case.CaseContext("x/bad", {"program": "bad"}, {"bpf_jit_enable": 0},
                               str(tmp_path))
    t.open = lambda: _RefusedObj(tags, "JIT is required for calling kfuncs\n")  # type: ignore
    with pytest.raises(agent_case.Skip) as e:
        t.expect_rejected()
    assert e.value.reason_class == "environment-blocks" and "JIT is required" in e.value.sentence
    # No message to expect: an authoring error, said plainly.
    t.open = lambda: _RefusedObj({"bad": ["failure"]}, "")  # type: ignore
    with pytest.raises(ValueError, match="__msg"):
        t.expect_rejected()


def test_checks_have_one_import_path(tmp_path: Path) -> None:
    t = _t(tmp_path)
    assert t.net.veth_pair and t.perfev.open_hardware and t.libbpf.LoadFailed is t.LoadFailed
    for check in (ROOT / "bpf_cases").glob("*/*.py"):
        assert "kmatrix_agent" not in check.read_text(), check


# -- one channel per piece of data ---------------------------------------------------------


def test_timeout_travels_once() -> None:
    cases = [c for c in load_catalog(ROOT / "bpf_cases") if c.id == "kfunc/module_kfunc"]
    [entry] = make_plan(cases, run_id="r", workdir="/w", arch="x86_64")["cases"]
    assert entry["timeout"] == 900.0 and "timeout" not in entry["meta"]
    assert cases[0].meta["timeout"] == 900  # the catalogue keeps what the case says


def test_compile_argv_lives_where_both_sides_import_it() -> None:
    build_src = (ROOT / "kmatrix" / "build.py").read_text()
    # One definition, imported by the controller's builder and the agent's remote build.
    assert "from kmatrix.agent.compile import compile_argv" in build_src
    assert "from .compile import compile_argv" in \
        (ROOT / "kmatrix" / "agent" / "main.py").read_text()
    assert "kmatrix.agent.main" not in build_src
    argv = compile_argv("clang", "a.bpf.c", "a.o", ["/h", SHARED_INCLUDE], "x86_64")
    assert argv[argv.index(str(SHARED_INCLUDE)) - 1] == "-I"
    assert (SHARED_INCLUDE / "kmatrix.h").is_file()


def test_no_check_indexes_a_raw_result_array() -> None:
    for p in list((ROOT / "bpf_cases").glob("*/*.py")) + \
            list((ROOT / "bpf_cases").glob("*/*.bpf.c")):
        text = p.read_text()
        assert "res[" not in text and "bss_u64" not in text and "_signed(" not in text, p


def test_median_check_is_short() -> None:
    lengths = sorted(len(p.read_text().splitlines())
                     for p in (ROOT / "bpf_cases").glob("*/*.py"))
    assert lengths[len(lengths) // 2] <= 30, lengths


# -- globals: layout from the object's BTF, without loading it ------------------------------


class _FakeObj:
    """Section bytes in memory: what BpfObject.section_bytes/section_write do on a map."""

    name = "fake"
    loaded = True

    def __init__(self, sizes: dict[str, int]) -> None:
        self.mem = {s: bytearray(n) for s, n in sizes.items()}

    def section_bytes(self, sec: str) -> bytes:
        return bytes(self.mem[sec])

    def section_write(self, off: int, data: bytes, sec: str) -> None:
        self.mem[sec][off:off + len(data)] = data


@pytest.fixture(scope="module")
def globals_obj(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    if shutil.which("clang") is None or not BTF.exists():
        pytest.skip("needs clang and kernel BTF")
    tmp = tmp_path_factory.mktemp("globals")
    [case] = support_catalog(tmp, ["api/globals"])
    out = Builder(tmp / "cache").build_host([case], BTF, "x86_64")[case.id]
    assert out.ok, out.output
    return out.obj_path.read_bytes()


def test_layout_and_types_come_from_btf(globals_obj: bytes) -> None:
    info = agent_globals.ObjectInfo(globals_obj)
    bss = info.sections[".bss"]
    assert {"kmx_tgid", "in_s64", "out_pair", "pairs", "done"} <= set(bss)
    offsets = sorted((v.offset, v.offset + v.size) for v in bss.values())
    assert all(a[1] <= b[0] for a, b in zip(offsets, offsets[1:])), offsets  # no overlap
    assert info.sections[".data"]["data_neg"].size == 4
    assert info.sections[".rodata"]["ro_magic"].codec.what == "unsigned int"
    assert bss["in_s64"].codec.signed and not bss["out_u8"].codec.signed
    assert bss["out_name"].codec.what == "char[8]"

    obj = _FakeObj(info.sizes)
    view = agent_globals.SectionView(obj, info, ".bss")
    view.in_s64 = -5
    assert view.in_s64 == -5 and view["in_s64"] == -5
    raw = obj.mem[".bss"]
    assert struct.unpack_from("<q", raw, bss["in_s64"].offset)[0] == -5
    view.in_pair = {"neg": -1, "flag": True}  # only these members
    assert view.in_pair == {"neg": -1, "small": 0, "flag": True, "big": 0}
    view.in_arr = [7, 8]
    assert view.in_arr == [7, 8, 0, 0]
    view.in_name = "ab"
    assert view.in_name == b"ab" + bytes(6)
    assert view.done is False and view.out_colour == 0
    assert view.pairs == [{"neg": 0, "small": 0, "flag": False, "big": 0}] * 2
    for bad, err in ((lambda: setattr(view, "in_u8", 256), ValueError),
                     (lambda: setattr(view, "in_u8", "x"), TypeError),
                     (lambda: setattr(view, "in_arr", [1] * 5), ValueError),
                     (lambda: setattr(view, "in_pair", {"nope": 1}), KeyError),
                     (lambda: view.nope, AttributeError),
                     (lambda: setattr(view, "nope", 1), AttributeError)):
        with pytest.raises(err):
            bad()
    assert "in_s64" in view and len(view) == len(bss) and view._asdict()["in_s64"] == -5
    data = agent_globals.SectionView(_FakeObj(info.sizes), info, ".data")
    assert data.data_neg == 0  # a fresh fake map; the real one starts with the ELF's values


# -- through the agent, for real ------------------------------------------------------------


def _run(tmp: Path, names: list[str], **kw: object) -> dict[str, dict]:
    cases = support_catalog(tmp, names)
    pyz, _wd, outcomes = bundle(cases, tmp, tmp / "cache", **kw)  # type: ignore[arg-type]
    assert all(o.ok for o in outcomes.values()), {k: o.output for k, o in outcomes.items()}
    events, _out, proc = run_agent(pyz)
    assert proc.returncode == 0, proc.stderr
    return results(events)


class TestThroughTheAgent:
    pytestmark = needs_bpf

    def test_typed_globals_both_ways(self, tmp_path: Path) -> None:
        r = _run(tmp_path, ["api/globals"])["api/globals"]
        assert r["state"] == "pass", json.dumps(r, indent=1)
        d = r["details"]
        assert d["out_s64"] == -6 and d["out_name"] == "6b6d780000000000"
        assert d["out_pair"]["big"] == 2**64 - 1 and d["kmx_tgid"] == d["seen_tgid"]

    def test_jit_image_read_back(self, tmp_path: Path) -> None:
        """t.jit_image on this machine's JIT: the bytes (hex in details, as long as
        bpf_prog_info says), or an environment-blocks skip that names why not."""
        r = _run(tmp_path, ["api/jit_image"])["api/jit_image"]
        if r["state"] == "skip":
            assert r["reason_class"] == "environment-blocks", json.dumps(r, indent=1)
            assert "bpf_jit_enable" in r["reason"] or "kptr_restrict" in r["reason"] or \
                "refused" in r["reason"], r["reason"]
            return
        assert r["state"] == "pass", json.dumps(r, indent=1)
        d = r["details"]
        assert d["out"] == 42 and d["image_len"] > 0
        assert len(bytes.fromhex(d["jit_image_hex"]["jitted"])) == d["image_len"]
        if os.uname().machine == "x86_64":
            assert "no JIT image decoder for x86_64" in d["decoded"]

    def test_soft_failures_fail_the_case_at_the_end(self, tmp_path: Path) -> None:
        r = _run(tmp_path, ["api/soft_fail"])["api/soft_fail"]
        assert r["state"] == "fail"
        assert r["reason"] == ("3 expectations failed: one: actual 1 != expected 2; flag: actual "
                               "0 is not true; packet: actual 40 bytes != expected 40 bytes, "
                               "first difference at byte 39")
        d = r["details"]
        assert (d["one"], d["three"], d["flag"], d["reached_end"]) == (1, 3, 0, True)
        assert len(d["failed"]) == 3

    def test_tag_only_rejection_cases(self, tmp_path: Path) -> None:
        res = _run(tmp_path, ["api/reject_tags"])
        assert sorted(res) == ["api/reject_tags_" + p for p in sorted(
            ("ok", "either", "wrong_msg", "out_of_order", "wrong_errno", "by_libbpf", "loads"))]
        state = {cid.rsplit("_tags_", 1)[1]: (r["state"], r["reason"]) for cid, r in res.items()}
        assert state["ok"][0] == state["either"][0] == "pass", state
        assert res["api/reject_tags_ok"]["details"]["rejected_with"].startswith("Unreleased")
        assert state["wrong_msg"][0] == "fail" and "'no such words'" in state["wrong_msg"][1]
        assert state["out_of_order"][0] == "fail"
        assert "'bpf_ringbuf_reserve_dynptr'" in state["out_of_order"][1]
        assert state["wrong_errno"] == ("fail", "program wrong_errno was rejected with -22 EINVAL "
                                        "(Invalid argument), expected EACCES")
        assert state["by_libbpf"][0] == "fail" and "reached the verifier" in state["by_libbpf"][1]
        assert state["loads"] == ("fail", "program loads loaded, but it must be refused "
                                  "(expected 'anything')")
        assert "Unreleased reference" in res["api/reject_tags_wrong_msg"]["verifier_log"]

    def test_old_api_cases_still_pass(self, tmp_path: Path) -> None:
        names = ["legacy/res_array", "legacy/expect_reject", "legacy/agent_import"]
        res = _run(tmp_path, names)
        for n in names:
            assert res[n]["state"] == "pass", json.dumps(res[n], indent=1)
        assert res["legacy/res_array"]["details"]["hits"] >= 1
        assert res["legacy/expect_reject"]["details"]["load_errno"] == "EINVAL"

    def test_remote_build_ships_the_shared_header(self, tmp_path: Path) -> None:
        if shutil.which("bpftool") is None and not Path("/usr/sbin/bpftool").exists():
            pytest.skip("no bpftool for the target-side vmlinux.h")
        root = tmp_path / "bpf_cases"
        shutil.copytree(ROOT / "bpf_cases" / "dynptr", root / "dynptr")
        cases = [c for c in load_catalog(root) if c.id.startswith("dynptr/reject_")]
        cases += [c for c in load_catalog(ROOT / "bpf_cases") if c.id == "kfunc/iter_num"]
        pyz, workdir, _ = bundle(cases, tmp_path, tmp_path / "cache", build="remote")
        events, _out, proc = run_agent(pyz)
        assert proc.returncode == 0, proc.stderr
        res = results(events)
        assert {cid: r["state"] for cid, r in res.items()} == {c.id: "pass" for c in cases}, res
        assert (workdir / "build" / "kmatrix.h").read_bytes() == \
            (SHARED_INCLUDE / "kmatrix.h").read_bytes()


@pytest.mark.skipif(shutil.which("clang") is None, reason="needs clang")
def test_clang_emits_decl_tags_on_programs(tmp_path: Path) -> None:
    """Debian's clang 14 puts btf_decl_tag on functions, BPF_PROG ones included."""
    src = tmp_path / "t.bpf.c"
    src.write_text('#include "kmatrix.h"\n'
                   "#define SEC(n) __attribute__((section(n), used))\n"
                   'SEC("tp_btf/x") __failure __msg("a \\"q\\"") __msg_or("b") __errno(EACCES)\n'
                   "int prog(void *ctx) { return 0; }\n")
    hdr = tmp_path / "inc"
    (hdr / "bpf").mkdir(parents=True)
    (hdr / "bpf" / "bpf_helpers.h").write_text(
        "typedef unsigned int __u32; typedef unsigned long long __u64;\n"
        "#define __always_inline inline __attribute__((always_inline))\n"
        "static __u64 (*bpf_get_current_pid_tgid)(void) = (void *) 14;\n")
    obj = tmp_path / "t.o"
    subprocess.run(["clang", "-target", "bpf", "-O2", "-g", "-I", str(hdr), "-I",
                    str(SHARED_INCLUDE), "-c", str(src), "-o", str(obj)], check=True, timeout=300)
    info = agent_globals.ObjectInfo(obj.read_bytes())
    assert info.tags_of("prog") == ["failure", 'msg:a "q"', "msg_or:b", "errno:EACCES"]
    assert "kmx_tgid" in info.sections[".bss"]
