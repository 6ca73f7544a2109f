"""Golden-file and unit tests for kmatrix.agent.refusals (refusal -> verdict).

Each tests/data/golden/refusals/NAME.log is a compiler output, a libbpf/verifier log
or an attach message; NAME.expected.json next to it says what it must give:

    {"kind": "compile" | "load" | "attach", "errno": -22,
     "libbpf_version": "0.3.0", "attach": "fentry", "arch": "aarch64",   (optional)
     "privileged": true | false,   (optional: the agent holds CAP_BPF/CAP_SYS_ADMIN)
     "vmlinux_h": "FILE next to the log",                                  (optional)
     "verdict": {"reason_class": "kernel-lacks", "sentence_contains": ["..."]} | null}

null means the refusal must stay a fail. Where the samples come from:
- compile_*: real output of Debian's clang 14.0.6 and of `python -m ziglang cc`
  (the compiler the cpu v4 cases use), the command as build.py logs it. The
  5.10-era ones compile against a vmlinux.h dumped by bpftool 7.1 from a newer
  kernel's BTF with what 5.10 lacks taken out (struct bpf_dynptr, struct
  bpf_iter_num, BPF_MAP_TYPE_USER_RINGBUF, BPF_FUNC_* from id 156, __sk_buff's
  tstamp_type/hwtstamp); old_libbpf_headers uses a bpf_helper_defs.h without
  bpf_user_ringbuf_drain, as libbpf headers before it have.
- load_* and attach_*: written in the shapes libbpf 0.3 ("-- BEGIN DUMP LOG ---")
  and 1.x ("-- BEGIN PROG LOAD LOG --") print, with verifier lines taken from the
  kernel's message strings (kernel/bpf/verifier.c, btf.c; libbpf.c's log fixups).
- real_*: logs captured on the lab guests and on CI machines; real_6_18_* is a vendor
  6.18.44 build whose verifier refuses bpf_dynptr_slice_rdwr in tc programs with
  EPERM (a policy: environment-blocks, never a fail).
"""

import json
from pathlib import Path

import pytest

from kmatrix.agent import helpers_table, refusals
from kmatrix.agent.refusals import (
    ENVIRONMENT_BLOCKS,
    KERNEL_LACKS,
    classify,
    classify_attach,
    classify_compile,
    classify_load,
    describe,
    describe_helper,
    helper_id,
    helper_name,
    helper_since,
)

GOLDEN = Path(__file__).resolve().parent / "data" / "golden" / "refusals"
SAMPLES = sorted(GOLDEN.glob("*.log"))


def _expected(sample):
    return json.loads(sample.with_suffix(".expected.json").read_text())


def _run(sample):
    exp = _expected(sample)
    text = sample.read_text()
    kw = {k: exp[k] for k in ("libbpf_version", "privileged", "attach", "arch") if k in exp}
    if "vmlinux_h" in exp:
        kw["vmlinux_h"] = (GOLDEN / exp["vmlinux_h"]).read_text()
    return classify(exp["kind"], text, exp.get("errno", 0), **kw)


# -- golden files ------------------------------------------------------------------


def test_golden_corpus_is_complete():
    assert len(SAMPLES) >= 30
    for sample in SAMPLES:
        assert sample.with_suffix(".expected.json").is_file(), sample.name
    for exp in GOLDEN.glob("*.expected.json"):
        assert exp.with_name(exp.name.replace(".expected.json", ".log")).is_file(), exp.name
    kinds = {_expected(s)["kind"] for s in SAMPLES}
    assert kinds == {"compile", "load", "attach"}
    verdicts = [_expected(s)["verdict"] for s in SAMPLES]
    assert any(v is None for v in verdicts)
    assert {v["reason_class"] for v in verdicts if v} == {KERNEL_LACKS, ENVIRONMENT_BLOCKS}


@pytest.mark.parametrize("sample", SAMPLES, ids=[s.stem for s in SAMPLES])
def test_golden(sample):
    want = _expected(sample)["verdict"]
    got = _run(sample)
    if want is None:
        assert got is None, got
        return
    assert got is not None, f"{sample.name}: expected {want['reason_class']}, got None"
    reason_class, sentence = got
    assert reason_class == want["reason_class"], sentence
    for part in want["sentence_contains"]:
        assert part in sentence, (part, sentence)
    assert sentence == sentence.strip() and "\n" not in sentence


def test_the_5_10_refusals_quoted_in_the_brief():
    by_name = {s.stem: _run(s) for s in SAMPLES}
    assert by_name["compile_dynptr_5_10"] == (
        KERNEL_LACKS, "the kernel's BTF has no struct bpf_dynptr (vmlinux.h from this kernel "
                      "lacks it; dynptr needs Linux 5.19+)")
    assert by_name["load_atomics_5_10"][0] == KERNEL_LACKS
    assert by_name["load_get_func_arg_5_10"][0] == KERNEL_LACKS
    assert by_name["load_fmod_ret_arg_not_struct_5_10"] is None
    assert by_name["load_kfunc_extern_libbpf_0_3"][0] == ENVIRONMENT_BLOCKS
    for defect in ("load_unreleased_reference_5_10", "load_invalid_mem_access_5_10",
                   "load_r0_not_read_ok", "compile_mixed_dynptr_and_syntax"):
        assert by_name[defect] is None, defect


# -- helper table ------------------------------------------------------------------


def test_helper_names_follow_the_uapi_order():
    assert helper_name(1) == "bpf_map_lookup_elem"
    assert helper_name(14) == "bpf_get_current_pid_tgid"
    assert helper_name(131) == "bpf_ringbuf_reserve"
    assert helper_name(183) == "bpf_get_func_arg"
    assert helper_name(197) == "bpf_dynptr_from_mem"
    assert helper_name(209) == "bpf_user_ringbuf_drain"
    assert helper_name(211) == "bpf_cgrp_storage_delete"
    assert len(helpers_table.HELPERS) == 212 and helpers_table.HELPERS[0] == "unspec"
    assert len(set(helpers_table.HELPERS)) == len(helpers_table.HELPERS)


def test_helper_name_out_of_range():
    for n in (0, -1, 212, 195896080, 2002000000):
        assert helper_name(n) == f"helper #{n}"


def test_helper_id_accepts_every_spelling():
    for spelling in ("bpf_get_func_arg", "get_func_arg", "BPF_FUNC_get_func_arg"):
        assert helper_id(spelling) == 183
    assert helper_id("bpf_no_such_helper") == -1
    assert helper_id("unspec") == -1
    for n in range(1, len(helpers_table.HELPERS)):
        assert helper_id(helper_name(n)) == n


def test_helper_versions_are_present_from_136_and_plausible():
    assert helper_since(183) == "5.17"
    assert helper_since(197) == "5.19"
    assert helper_since(1) == ""  # bcc says 3.19, ebpf-docs 3.18: left out
    for n in range(136, len(helpers_table.HELPERS)):
        assert helper_since(n), n
    last = (0, 0)
    for n in sorted(helpers_table.HELPER_SINCE):
        ver = tuple(int(x) for x in helper_since(n).split("."))
        # ids are handed out in merge order, so releases never go backwards
        assert ver >= last, (n, ver, last)
        last = ver


def test_describe():
    assert describe_helper(183) == "bpf_get_func_arg (helper #183, Linux 5.17+)"
    assert describe_helper(1) == "bpf_map_lookup_elem (helper #1)"
    assert describe("bpf_get_func_arg") == describe_helper(183)
    assert describe("BPF_FUNC_dynptr_from_mem") == describe_helper(197)
    assert describe("bpf_task_acquire") == "kfunc bpf_task_acquire (Linux 6.2+)"
    assert describe("BPF_MAP_TYPE_USER_RINGBUF") == "enum value BPF_MAP_TYPE_USER_RINGBUF (Linux 6.1+)"
    assert "never in a vmlinux.h" in describe("BPF_F_XDP_HAS_FRAGS")
    assert describe("bpf_dynptr") == "struct bpf_dynptr (dynptr needs Linux 5.19+)"
    assert describe("xdp_md") == "struct xdp_md"
    assert describe("atomics") == "BPF atomic fetch/and/or/xor/xchg/cmpxchg support (Linux 5.12+)"
    assert describe("no_such_thing") == "no_such_thing"


def test_every_feature_names_a_source():
    for key, (what, since, source) in helpers_table.FEATURES.items():
        assert what and source, key
        assert tuple(int(x) for x in since.split(".")) >= (5, 0), key
    for tag, feature in helpers_table.TYPE_FEATURES.items():
        assert feature in helpers_table.FEATURES, tag


# -- load: the helper wording -------------------------------------------------------


def _verifier(line):
    return f"-- BEGIN PROG LOAD LOG --\n0: (85) call x\n{line}\nprocessed 1 insns\n" \
           "-- END PROG LOAD LOG --\n"


def test_only_an_unnamed_helper_is_unknown_to_the_kernel():
    lacks = classify_load(_verifier("invalid func unknown#197"), -22)
    assert lacks[0] == KERNEL_LACKS and "bpf_dynptr_from_mem (#197)" in lacks[1]
    assert classify_load(_verifier("unknown func unknown#183"), -22)[0] == KERNEL_LACKS
    # a named helper exists in that kernel: not for this program type
    assert classify_load(_verifier("unknown func bpf_get_func_arg#183"), -22) is None
    assert classify_load(
        _verifier("program of this type cannot use helper bpf_get_func_arg#183"), -22) is None


def test_poisoned_ids_are_not_helpers():
    core = classify_load(_verifier("invalid func unknown#195896080"), -22)
    assert core[0] == KERNEL_LACKS and "CO-RE" in core[1]
    assert classify_load(_verifier("invalid func unknown#2001000003"), -22) is None
    kfunc = classify_load(_verifier("invalid func unknown#2002000001"), -22)
    assert kfunc[0] == KERNEL_LACKS and "kfunc" in kfunc[1]
    for bogus in ("-1", "0", "212", "99999"):
        assert classify_load(_verifier(f"invalid func unknown#{bogus}"), -22) is None


def test_instruction_dump_lines_do_not_decide():
    # "call unknown#183" in the dump is not the refusal; the real error follows
    log = "5: (85) call unknown#183\n; BPF_STX uses reserved fields\nR1 invalid mem access 'inv'\n"
    assert classify_load(log, -13) is None


def test_isa_messages():
    cases = {
        "BPF_MOV uses reserved fields": "sign-extending moves",
        "BPF_ALU uses reserved fields": "Linux 6.6+",
        "BPF_END uses reserved fields": "Linux 6.6+",
        "unknown opcode 06": "gotol",
        "unknown opcode 91": "BPF_MEMSX",
        "unknown opcode 3e": "opcode 3e (a BPF_JMP32 instruction); the cpu v3",
        "unknown opcode e7": "opcode e7 (an instruction it does not decode)",
        "invalid BPF_ALU opcode f0": "ALU operation f0",
        "BPF_ATOMIC uses invalid atomic opcode 11": "atomic operation 11",
    }
    for line, part in cases.items():
        verdict = classify_load(_verifier(line), -22)
        assert verdict is not None and verdict[0] == KERNEL_LACKS, line
        assert part in verdict[1], (line, verdict)
    assert "5.1+" in classify_load(_verifier("unknown opcode 3e"), -22)[1]


def test_kfunc_infrastructure_messages():
    no_btf = classify_load(_verifier(
        "calling kernel function is not supported without CONFIG_DEBUG_INFO_BTF"), -524)
    assert no_btf[0] == KERNEL_LACKS and "CONFIG_DEBUG_INFO_BTF" in no_btf[1]
    # the JIT-off wording is the interpreter's: case.py turns it into environment-blocks
    assert classify_load(_verifier(
        "calling kernel functions are not allowed in non-JITed programs"), -22) is None
    # the kfunc exists but is not registered for this program type on this kernel
    not_here = classify_load(_verifier("calling kernel function bpf_x is not allowed"), -13)
    assert not_here[0] == KERNEL_LACKS and "bpf_x" in not_here[1]
    assert classify_load("libbpf: kernel BTF is missing at '/sys/kernel/btf/vmlinux', was "
                         "CONFIG_DEBUG_INFO_BTF enabled?\n", -2)[0] == KERNEL_LACKS
    var = classify_load("libbpf: extern (var ksym) 'bpf_prog_active': not found in kernel BTF",
                        -2)
    assert var == (KERNEL_LACKS, "the kernel's BTF has no variable bpf_prog_active (libbpf: "
                                 "extern not found in kernel BTF)")
    # libbpf 0.4/0.5 wording
    old = classify_load("libbpf: extern (func ksym) 'bpf_task_acquire': not found in kernel BTF",
                        -2)
    assert old[0] == KERNEL_LACKS and "Linux 6.2+" in old[1]


def test_libbpf_extern_message_depends_on_libbpf_version():
    log = "libbpf: failed to find BTF for extern 'bpf_task_acquire': -2\n"
    assert classify_load(log, -2, libbpf_version="0.3")[0] == ENVIRONMENT_BLOCKS
    assert classify_load(log, -2, libbpf_version="v0.3")[0] == ENVIRONMENT_BLOCKS
    assert classify_load(log, -2, libbpf_version="0.4.0") is None
    assert classify_load(log, -2, libbpf_version="1.1.2") is None
    unknown = classify_load(log, -2)
    assert unknown[0] == ENVIRONMENT_BLOCKS and unknown[1].startswith("libbpf on the target")


def test_empty_and_unrelated_logs():
    for log in ("", None, "libbpf: prog 'x': BPF program load failed: Permission denied\n",
                "processed 0 insns (limit 1000000)\n"):
        assert classify_load(log, -13) is None
        assert classify_load(log, -524) is None  # an errno alone decides nothing


# -- attach ------------------------------------------------------------------------


def test_attach_enotsupp_on_trampolines():
    for kind in ("fentry", "fexit", "fmod_ret", "fentry.s", "fentry/bpf_fentry_test1"):
        got = classify_attach(kind, -524, arch="riscv64")
        assert got[0] == KERNEL_LACKS and "riscv64" in got[1], kind
    assert classify_attach("fexit", 524)[1].startswith(
        "this kernel cannot build a BPF trampoline for this fexit attach on this "
        "architecture (ENOTSUPP, errno 524)")
    assert classify_attach("fentry", -22) is None
    assert classify_attach("fentry", -95) is None
    assert classify_attach("xdp", -34) is None
    assert classify_attach("kprobe", -524) is None
    assert refusals.trampoline_since("aarch64") == "6.4"  # ftrace direct calls
    assert refusals.trampoline_since("s390x") == ""


# -- compile edge cases ------------------------------------------------------------


def _clang(*diags):
    return "$ clang -target bpf -c x.bpf.c -o x.o\n" + "\n".join(diags) + "\n"


def test_compile_warnings_and_notes_alone_are_not_a_verdict():
    out = _clang("x.bpf.c:3:1: warning: declaration of 'struct bpf_iter_num' will not be "
                 "visible outside of this function [-Wvisibility]",
                 "x.bpf.c:3:1: note: forward declaration of 'struct bpf_iter_num'")
    assert classify_compile(out) is None
    assert classify_compile("") is None


def test_compile_kernel_type_needs_evidence():
    dynptr = "x.bpf.c:9:20: error: variable has incomplete type 'struct bpf_dynptr'"
    assert classify_compile(_clang(dynptr))[0] == KERNEL_LACKS
    # a struct no kernel table knows, declared only by the case: a C mistake
    assert classify_compile(_clang(
        "x.bpf.c:9:20: error: variable has incomplete type 'struct my_state'")) is None
    # ... unless libbpf's own headers forward-declare it (then it is a kernel type)
    fwd = _clang("x.bpf.c:9:20: error: variable has incomplete type 'struct bpf_foo_new'",
                 "/usr/include/bpf/bpf_helper_defs.h:50:8: note: forward declaration of "
                 "'struct bpf_foo_new'")
    assert classify_compile(fwd) == (
        KERNEL_LACKS, "the kernel's BTF has no struct bpf_foo_new (vmlinux.h from this kernel "
                      "lacks it)")
    # other ways clang words an incomplete kernel type
    for msg in ("incomplete definition of type 'struct bpf_dynptr'",
                "invalid application of 'sizeof' to an incomplete type 'struct bpf_dynptr'",
                "field has incomplete type 'struct bpf_dynptr'",
                "tentative definition has type 'struct bpf_dynptr' that is never completed"):
        assert classify_compile(_clang("x.bpf.c:1:1: error: " + msg))[0] == KERNEL_LACKS, msg


def test_compile_vmlinux_h_that_has_the_name_wins():
    dynptr = _clang("x.bpf.c:9:20: error: variable has incomplete type 'struct bpf_dynptr'")
    header = "struct bpf_dynptr {\n\t__u64 __opaque[2];\n};\n"
    assert classify_compile(dynptr, vmlinux_h=header) is None
    assert classify_compile(dynptr, vmlinux_h="struct other {\n};\n")[0] == KERNEL_LACKS
    enum = _clang("x.bpf.c:6:15: error: use of undeclared identifier 'BPF_MAP_TYPE_ARENA'")
    assert "Linux 6.9+" in classify_compile(enum)[1]
    assert classify_compile(enum, vmlinux_h="\tBPF_MAP_TYPE_ARENA = 33,\n") is None


def test_compile_members_only_of_uapi_structs():
    assert classify_compile(_clang(
        "x.bpf.c:1:1: error: no member named 'egress_ifindex' in 'struct xdp_md'"))[0] \
        == KERNEL_LACKS
    assert classify_compile(_clang(
        "x.bpf.c:1:1: error: no member named 'egress_ifindx' in 'struct xdp_md'")) is None
    assert classify_compile(_clang(
        "x.bpf.c:1:1: error: no member named 'frags' in 'struct task_struct'")) is None


def test_compile_undeclared_helper_and_its_int_conversion():
    out = _clang(
        "x.bpf.c:11:26: error: call to undeclared function 'bpf_dynptr_data'; ISO C99 and "
        "later do not support implicit function declarations [-Wimplicit-function-declaration]",
        "x.bpf.c:11:22: error: incompatible integer to pointer conversion initializing "
        "'__u32 *' with an expression of type 'int' [-Wint-conversion]")
    got = classify_compile(out)
    assert got[0] == ENVIRONMENT_BLOCKS and "bpf_dynptr_data (helper #203" in got[1]
    # the same conversion error on another line is a separate problem
    other = out.replace("x.bpf.c:11:22", "x.bpf.c:12:22")
    assert classify_compile(other) is None
    # clang 14 wording, when -Werror makes it an error
    old = _clang("x.bpf.c:3:5: error: implicit declaration of function 'bpf_loop' is invalid "
                 "in C99 [-Werror,-Wimplicit-function-declaration]")
    assert classify_compile(old)[0] == ENVIRONMENT_BLOCKS


def test_compile_kernel_lacks_wins_over_environment():
    out = _clang(
        "x.bpf.c:3:5: error: call to undeclared function 'bpf_dynptr_from_mem'; ISO C99 and "
        "later do not support implicit function declarations [-Wimplicit-function-declaration]",
        "x.bpf.c:2:20: error: variable has incomplete type 'struct bpf_dynptr'")
    got = classify_compile(out)
    assert got[0] == KERNEL_LACKS and got[1].startswith("the kernel's BTF has no struct bpf_dynptr")
    assert got[1].endswith("; also missing: helper bpf_dynptr_from_mem (in the build's libbpf "
                           "headers)")


def test_compile_driver_and_fatal_errors_are_fails():
    assert classify_compile("clang: error: no such file or directory: 'x.bpf.c'\n") is None
    out = _clang("x.bpf.c:9:20: error: variable has incomplete type 'struct bpf_dynptr'",
                 "x.bpf.c:1:10: fatal error: 'vmlinux.h' file not found")
    assert classify_compile(out) is None


def test_classify_rejects_unknown_kind():
    with pytest.raises(ValueError):
        classify("link", "", 0)


def test_agent_modules_stay_python37_stdlib():
    import ast

    for mod in (refusals, helpers_table):
        tree = ast.parse(Path(mod.__file__).read_text())
        for node in ast.walk(tree):
            assert not isinstance(node, (ast.NamedExpr, ast.JoinedStr)), mod.__name__
            if isinstance(node, ast.Import):
                assert [a.name for a in node.names] == ["re"], mod.__name__
            if isinstance(node, ast.ImportFrom):
                assert node.module != "__future__", mod.__name__
                assert node.level == 1 or node.module == "re", (mod.__name__, node.module)


def test_bpf_privileged_reads_the_effective_capabilities(tmp_path):
    from kmatrix.agent.main import bpf_privileged

    status = tmp_path / "status"
    for capeff, want in (("000001ffffffffff", True), ("0000008000000000", True),
                         ("0000000000200000", True), ("0000000000000000", False)):
        status.write_text(f"Name:\tpython3\nCapEff:\t{capeff}\n")
        assert bpf_privileged(str(status)) is want, capeff
    status.write_text("Name:\tpython3\n")
    assert bpf_privileged(str(status)) is None
    assert bpf_privileged(str(tmp_path / "missing")) is None


def test_eperm_is_a_policy_only_when_no_rule_explains_it():
    # a recognised kernel-lacks line wins over the errno
    got = classify_load("invalid func unknown#183", errno=-1)
    assert got is not None and got[0] == KERNEL_LACKS
    # other errnos with an unrecognised log stay a fail
    assert classify_load("R1 invalid mem access 'scalar'", errno=-13) is None
    assert classify_load("R1 invalid mem access 'scalar'", errno=-22) is None
    cls, sentence = classify_load("0: (85) call foo#1\nfoo() is forbidden here\n", errno=-1)
    assert cls == ENVIRONMENT_BLOCKS and "'foo() is forbidden here'" in sentence


def test_data_sections_are_the_old_libbpfs_not_the_kernels():
    log = ("libbpf: elf: skipping unrecognized data section(6) .rodata.str1.1\n"
           "libbpf: prog 'p': bad map relo against '.rodata.str1.1' in section '.rodata.str1.1'\n")
    assert classify_load(log, -4005, libbpf_version="0.5.0")[0] == ENVIRONMENT_BLOCKS
    assert classify_load(log, -4005, libbpf_version="1.1.2") is None  # a real defect then
