"""catalog.py: discovery of the real bpf_cases/ and one-line errors for bad cases."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kmatrix.catalog import TAGGED_CHECK, load_catalog, read_case, read_programs
from kmatrix.errors import InputError

ROOT = Path(__file__).resolve().parent.parent

GOOD = '''"""doc"""

CASE = {
    "description": "x",
    "requires": {
        "kfuncs": ["bpf_task_acquire"],
    },
}


def run(t):
    pass
'''


def _case(tmp: Path, text: str, family: str = "kfunc", name: str = "c",
          src: bool = True) -> Path:
    d = tmp / "bpf_cases" / family
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{name}.py").write_text(text)
    if src:
        (d / f"{name}.bpf.c").write_text("/* */\n")
    return d / f"{name}.py"


def _err(tmp: Path) -> InputError:
    with pytest.raises(InputError) as ei:
        load_catalog(tmp / "bpf_cases")
    return ei.value


def test_real_catalogue() -> None:
    cases = load_catalog(ROOT / "bpf_cases")
    ids = [c.id for c in cases]
    assert ids == sorted(ids)
    for want in ("kfunc/task_acquire", "dynptr/from_mem", "dynptr/ringbuf",
                 "trampoline/fentry_fexit", "xdp_frags/frags_test_run", "perf/cpu_clock",
                 "perf/arm_spe"):
        assert want in ids
    by = {c.id: c for c in cases}
    assert by["perf/arm_spe"].src is None and not by["perf/arm_spe"].build
    assert by["kfunc/task_acquire"].src == ROOT / "bpf_cases/kfunc/task_acquire.bpf.c"
    assert by["kfunc/task_acquire"].meta["requires"]["kfuncs"] == ["bpf_task_acquire",
                                                                    "bpf_task_release"]
    families = {"kfunc", "dynptr", "trampoline", "xdp_frags", "perf", "isa", "cgroup", "socket",
                "forward", "napi"}
    assert all(c.family in families and c.meta["description"] for c in cases)


def test_good(tmp_path: Path) -> None:
    _case(tmp_path, GOOD)
    [c] = load_catalog(tmp_path / "bpf_cases")
    assert (c.id, c.family, c.name, c.timeout, c.build) == ("kfunc/c", "kfunc", "c", 60.0, True)


@pytest.mark.parametrize("old,new,line,field,msg", [
    ('"description": "x",', '"description": "x", "timeot": 5,', 4, "timeot", "unknown CASE key"),
    ('"description": "x",', '"description": "x", "timeout": -1,', 4, "timeout", "positive"),
    ('"description": "x",', '"description": "x", "compiler": "gcc",', 4, "compiler",
     "clang, ziglang"),
    ('"description": "x",', '"description": "x", "build": "yes",', 4, "build", "true or false"),
    ('"description": "x",', '"description": "x", "cflags": "-O2",', 4, "cflags", "list"),
    ('"description": "x",', '"description": "",', 4, "description", "non-empty"),
    ('"description": "x",\n', "", 3, "description", "missing"),
    ('"kfuncs": ["bpf_task_acquire"],', '"kfuncs": "bpf_task_acquire",', 6, "requires.kfuncs",
     "list"),
    ('"kfuncs": ["bpf_task_acquire"],', '"kfuncs": [], "ftrace": 1,', 6, "requires.ftrace",
     "true or false"),
    ('"kfuncs": ["bpf_task_acquire"],', '"arch": ["arm64"],', 6, "requires.arch",
     "unknown arch arm64"),
    ('"description": "x",', '"description": "x" + "y",', 3, "CASE", "plain literal"),
    ("def run(t):", "def walk(t):", None, "run", "def run(t)"),
    ("    pass", "    if (n := 1):\n        pass", 12, "syntax", "Python 3.7"),
])
def test_bad_case(tmp_path: Path, old: str, new: str, line: int, field: str, msg: str) -> None:
    assert old in GOOD
    path = _case(tmp_path, GOOD.replace(old, new, 1))
    e = _err(tmp_path)
    assert (e.file, e.line, e.field) == (str(path), line, field), str(e)
    assert msg in e.message
    assert str(e).startswith(f"{path}:{line}: {field}: " if line else f"{path}: {field}: ")
    assert "\n" not in str(e)


def test_no_case_literal(tmp_path: Path) -> None:
    path = _case(tmp_path, "def run(t):\n    pass\n")
    e = _err(tmp_path)
    assert (e.file, e.field) == (str(path), "CASE")


def test_source_without_check(tmp_path: Path) -> None:
    d = tmp_path / "bpf_cases" / "dynptr"
    d.mkdir(parents=True)
    (d / "lonely.bpf.c").write_text("")
    e = _err(tmp_path)
    assert e.file == str(d / "lonely.bpf.c") and e.field == "check"


def test_check_without_source_needs_build_false(tmp_path: Path) -> None:
    path = _case(tmp_path, GOOD, src=False)
    e = _err(tmp_path)
    assert (e.file, e.field) == (str(path), "build")
    _case(tmp_path, GOOD.replace('"description": "x",', '"description": "x", "build": False,'),
          src=False)
    [c] = load_catalog(tmp_path / "bpf_cases")
    assert c.src is None and not c.build


def test_new_family_directory_is_a_family_and_bad_names(tmp_path: Path) -> None:
    _case(tmp_path, GOOD, family="sched_ext")
    (tmp_path / "bpf_cases" / "include").mkdir()  # shared headers: not a family
    (tmp_path / "bpf_cases" / "include" / "kmatrix.h").write_text("")
    [c] = load_catalog(tmp_path / "bpf_cases")
    assert (c.id, c.family) == ("sched_ext/c", "sched_ext")
    _case(tmp_path, GOOD, family="Bad-Family")
    assert _err(tmp_path).field == "family"
    for p in (tmp_path / "bpf_cases" / "Bad-Family").iterdir():
        p.unlink()
    (tmp_path / "bpf_cases" / "Bad-Family").rmdir()
    _case(tmp_path, GOOD, name="Bad-Name")
    assert _err(tmp_path).field == "name"


def test_read_case_returns_meta(tmp_path: Path) -> None:
    path = _case(tmp_path, GOOD)
    assert read_case(path) == {"description": "x", "requires": {"kfuncs": ["bpf_task_acquire"]}}


def test_missing_root(tmp_path: Path) -> None:
    with pytest.raises(InputError):
        load_catalog(tmp_path / "nope")


# -- a .bpf.c without a .py: its tagged programs are the cases ----------------------------

TAGGED = '''#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "kmatrix.h"
#define HELPER(x) /* a macro, then a struct */ \\
	do { } while (0)

struct { __uint(type, BPF_MAP_TYPE_RINGBUF); } rb SEC(".maps");

SEC("raw_tp/sys_enter")
__description("first " "part")
__requires("probes=dynptr") __requires("btf_funcs=a,b") __requires("btf_funcs=c")
__requires("ftrace") __requires("kernel=>=6.1,<7")
__failure __msg("x \\"quoted\\"") __msg_or("y") __errno(EINVAL)
int first(void *ctx)
{
	return 0;
}

/* SEC("raw_tp/commented_out") int ghost(void *ctx) { return 0; } */
SEC("tp_btf/sys_enter") __description("second") __failure __msg("z")
int BPF_PROG(reject, struct pt_regs *regs, long id)
{
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
'''


def _tagged(tmp: Path, text: str, name: str = "reject") -> Path:
    d = tmp / "bpf_cases" / "dynptr"
    d.mkdir(parents=True, exist_ok=True)
    (d / f"{name}.bpf.c").write_text(text)
    return d / f"{name}.bpf.c"


def test_tagged_programs_are_cases(tmp_path: Path) -> None:
    src = _tagged(tmp_path, TAGGED)
    a, b = load_catalog(tmp_path / "bpf_cases")
    # Program P of F.bpf.c is case F_P, or F when P is F.
    assert (a.id, a.program, a.src, a.check) == ("dynptr/reject", "reject", src, TAGGED_CHECK)
    assert b.id == "dynptr/reject_first" and b.program == "first" and b.timeout == 60
    assert b.meta["description"] == "first part"
    assert b.meta["requires"] == {"probes": ["dynptr"], "btf_funcs": ["a", "b", "c"],
                                  "ftrace": True, "kernel": ">=6.1,<7"}
    assert b.meta["cflags"] == ["-DKMX_PROGRAM=first"]  # one object per case
    [p, q] = read_programs(src)
    assert [(t.name, t.value) for t in p.tags][-4:] == [
        ("__failure", None), ("__msg", 'x "quoted"'), ("__msg_or", "y"), ("__errno", "EINVAL")]
    assert (q.name, q.section, q.line) == ("reject", "tp_btf/sys_enter", 20)
    assert TAGGED_CHECK.is_file()


@pytest.mark.parametrize("old,new,field,msg", [
    ('__failure __msg("z")', '__msg("z")', "check", "not tagged __failure"),
    ('__description("second") ', "", "__description", "needs one"),
    ('__errno(EINVAL)', "__errno(ENOTANERRNO)", "__errno", "not an errno name"),
    ('__errno(EINVAL)', '__errno("EINVAL")', "__errno", "takes one name"),
    ('__msg("z")', "__msg(z)", "__msg", "string literal"),
    ('__msg("z")', '__msg_or("z")', "__msg_or", "there is none"),
    ('__msg("z")', "", "__msg", "names no __msg"),
    ('__msg("z")', '__msg("z") __rejected_by(kernel)', "__rejected_by", "verifier or libbpf"),
    ('__requires("ftrace")', '__requires("ftrace=maybe")', "__requires", "true or false"),
    ('__requires("ftrace")', '__requires("colour=red")', "__requires", "unknown requirement"),
    ('__requires("probes=dynptr")', '__requires("probes=warp")', "__requires", "unknown probe"),
    ('__requires("kernel=>=6.1,<7")', '__requires("kernel=new")', "__requires", "kernel"),
    ("int first(void", "int First(void", "name", "lower-case"),
])
def test_bad_tags(tmp_path: Path, old: str, new: str, field: str, msg: str) -> None:
    assert old in TAGGED
    src = _tagged(tmp_path, TAGGED.replace(old, new, 1))
    e = _err(tmp_path)
    assert (e.file, e.field) == (str(src), field), str(e)
    assert msg in e.message and "\n" not in str(e) and e.line, str(e)


def test_tag_only_file_without_programs_and_duplicate_ids(tmp_path: Path) -> None:
    src = _tagged(tmp_path, "/* nothing */\n", name="empty")
    e = _err(tmp_path)
    assert (e.file, e.field) == (str(src), "check") and "no empty.py" in e.message
    src.unlink()
    _tagged(tmp_path, TAGGED)
    _case(tmp_path, GOOD, family="dynptr", name="reject_first")  # the same id, with a .py
    e = _err(tmp_path)
    assert e.field == "name" and "dynptr/reject_first is defined twice" in e.message


def test_metadata_tags_belong_to_tag_only_files(tmp_path: Path) -> None:
    path = _case(tmp_path, GOOD)
    path.with_name("c.bpf.c").write_text(TAGGED)
    e = _err(tmp_path)
    assert (e.field, e.line) == ("__description", 10), str(e)
    # __failure programs next to a .py are fine when they say what to expect.
    path.with_name("c.bpf.c").write_text('#include "kmatrix.h"\nSEC("x") __failure __msg("m")\n'
                                         'int p(void *c)\n{\n}\n')
    assert [c.id for c in load_catalog(tmp_path / "bpf_cases")] == ["kfunc/c"]
    # A source that does not use kmatrix.h may have tags of its own (selftests' bpf_misc.h).
    path.with_name("c.bpf.c").write_text(TAGGED.replace('#include "kmatrix.h"', "#include "
                                                        '"bpf_misc.h"'))
    assert [c.id for c in load_catalog(tmp_path / "bpf_cases")] == ["kfunc/c"]


def test_real_tag_only_cases() -> None:
    by = {c.id: c for c in load_catalog(ROOT / "bpf_cases")}
    for cid in ("dynptr/reject_after_submit", "dynptr/reject_uninit", "dynptr/reject_unreleased",
                "kfunc/missing_kfunc", "kfunc/not_a_kfunc"):
        assert by[cid].check == TAGGED_CHECK and by[cid].program, cid
        assert by[cid].meta["requires"]["probes"], cid


# -- hostile metadata: every literal checked for type and range ---------------------------


@pytest.mark.parametrize("old,new,line,field,msg", [
    ('"description": "x",', '"description": "x", "timeout": 1e999,', 4, "timeout", "finite"),
    ('"description": "x",', '"description": "x", "timeout": 86400.5,', 4, "timeout", "24 h"),
    ('"description": "x",', '"description": "x", "timeout": 0.9,', 4, "timeout", "from 1"),
    ('"description": "x",', '"description": "x", "timeout": True,', 4, "timeout", "number"),
    ('"description": "x",', '"description": "x", 7: 1,', 4, "CASE", "keys must be strings"),
    ('"description": "x",', '"description": "x", "description": "y",', 4, "description",
     "given twice"),
    ('"kfuncs": ["bpf_task_acquire"],', '(1, 2): [],', 6, "requires", "keys must be strings"),
    ('"kfuncs": ["bpf_task_acquire"],', '"kfuncs": ["a\\x00b"],', 6, "requires.kfuncs", "NUL"),
    ('"description": "x",', '"description": "x", "cflags": [""],', 4, "cflags", "non-empty"),
])
def test_hostile_metadata(tmp_path: Path, old: str, new: str, line: int, field: str,
                          msg: str) -> None:
    assert old in GOOD
    path = _case(tmp_path, GOOD.replace(old, new, 1))
    e = _err(tmp_path)
    assert (e.file, e.line, e.field) == (str(path), line, field), str(e)
    assert msg in e.message and "\n" not in str(e)


def test_unhashable_key_is_an_input_error_not_a_traceback(tmp_path: Path) -> None:
    path = _case(tmp_path, 'CASE = {[]: 1}\n\n\ndef run(t):\n    pass\n')
    e = _err(tmp_path)
    assert (e.file, e.line, e.field) == (str(path), 1, "CASE")


# -- one grammar for the two tag readers (kmatrix/agent/tags.py) ---------------------------

KMATRIX_H = ROOT / "bpf_cases" / "include" / "kmatrix.h"


def test_kmatrix_h_writes_the_shared_grammar() -> None:
    # Each macro kmatrix.h defines is a tag of agent/tags.py, with its BTF key and its
    # argument: a string is pasted after the key, a name stringified (#name).
    import re

    from kmatrix.agent import tags

    defs = dict(re.findall(r'^#define\s+(__\w+)(?:\(\w+\))?\s+__kmx_tag\((.*)\)\s*$',
                           KMATRIX_H.read_text(), re.M))
    assert set(defs) == set(tags.TAGS)
    for macro, (key, arg) in tags.TAGS.items():
        want = {None: f'"{tags.PREFIX}{key}"', "string": f'"{tags.PREFIX}{key}:" text',
                "name": f'"{tags.PREFIX}{key}:" #{"who" if macro == "__rejected_by" else "name"}'}
        assert defs[macro] == want[arg], macro


TWO_PROGRAMS = r'''#include "kmatrix.h"
#define SEC(n) __attribute__((section(n), used))
SEC("tp_btf/x") __description("a " "b") __requires("probes=dynptr") __requires("ftrace")
__failure __msg("a \"q\"\tz") __msg_or("b") __errno(EACCES) __rejected_by(libbpf)
int first(void *ctx) { return 0; }
SEC("raw_tp/y") __failure __msg("m\\n")
int second(void *ctx) { return 1; }
'''


@pytest.mark.skipif(shutil.which("clang") is None, reason="needs clang")
def test_text_and_btf_readers_agree(tmp_path: Path) -> None:
    # The catalogue reads the C text, the agent the compiled object's BTF decl tags:
    # through agent/tags.py both see the same (tag, value) list for every program.
    import subprocess

    from kmatrix.agent import globals as agent_globals
    from kmatrix.agent import tags

    src = tmp_path / "t.bpf.c"
    src.write_text(TWO_PROGRAMS)
    hdr = tmp_path / "inc"
    (hdr / "bpf").mkdir(parents=True)
    (hdr / "bpf" / "bpf_helpers.h").write_text(
        "typedef unsigned int __u32; typedef unsigned long long __u64;\n"
        "#define __always_inline inline __attribute__((always_inline))\n"
        "static __u64 (*bpf_get_current_pid_tgid)(void) = (void *) 14;\n")
    obj = tmp_path / "t.o"
    subprocess.run(["clang", "-target", "bpf", "-O2", "-g", "-I", str(hdr), "-I",
                    str(KMATRIX_H.parent), "-c", str(src), "-o", str(obj)], check=True, timeout=300)
    info = agent_globals.ObjectInfo(obj.read_bytes())
    progs = read_programs(src)
    assert [p.name for p in progs] == ["first", "second"]
    for p in progs:
        text = [(t.name, t.value) for t in p.tags]
        assert tags.from_btf(info.tags_of(p.name)) == text, p.name
        assert tags.problems(text) == []
    rej = tags.Rejection(info.tags_of("first"))
    assert (rej.failure, rej.msgs, rej.errnos, rej.by) == (True, [['a "q"\tz', "b"]],
                                                           ["EACCES"], "libbpf")
    assert tags.Rejection(info.tags_of("second")).msgs == [["m\\n"]]
