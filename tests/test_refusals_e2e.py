"""Refusals classified for real on this kernel: a case someone drops into bpf_cases/
that needs a kfunc this kernel lacks must skip as kernel-lacks, naming it; a genuine
verifier refusal and an unknown type stay fails."""

from __future__ import annotations

import os

import pytest
from agent_support import BTF, bundle, results, run_agent

from kmatrix.catalog import load_catalog

pytestmark = [
    pytest.mark.bpf,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for BPF"),
    pytest.mark.skipif(not BTF.exists(), reason="needs kernel BTF"),
]

HEAD = '#include "vmlinux.h"\n#include <bpf/bpf_helpers.h>\n'
CHECK = '''CASE = {"description": "%s", "timeout": 30}


def run(t):
    obj = t.load()
    t.attach(obj, "prog")
    t.fail("loaded, but this kernel cannot have it")
'''

CASES = {
    # A kfunc from a kernel newer than any: libbpf cannot resolve the extern.
    "future_kfunc": (HEAD + 'extern void bpf_kmatrix_from_the_future(void) __ksym;\n'
                     'SEC("tp/syscalls/sys_enter_getppid")\nint prog(void *ctx)\n'
                     '{\n\tbpf_kmatrix_from_the_future();\n\treturn 0;\n}\n'
                     'char LICENSE[] SEC("license") = "GPL";\n'),
    # A struct no kernel has (a typo, as far as anyone can tell).
    "future_type": (HEAD + 'SEC("tp/syscalls/sys_enter_getppid")\nint prog(void *ctx)\n'
                    '{\n\tstruct bpf_kmatrix_future_dynptr p;\n\n\t__builtin_memset(&p, 0, '
                    'sizeof(p));\n\treturn 0;\n}\nchar LICENSE[] SEC("license") = "GPL";\n'),
    # A real defect: reading past the end of the stack.
    "real_bug": (HEAD + 'SEC("tp/syscalls/sys_enter_getppid")\nint prog(void *ctx)\n'
                 '{\n\tvolatile char buf[8];\n\n\treturn ((volatile char *)buf)[600];\n}\n'
                 'char LICENSE[] SEC("license") = "GPL";\n'),
}


@pytest.fixture(scope="module")
def res(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    tmp = tmp_path_factory.mktemp("refusals")
    fam = tmp / "bpf_cases" / "kfunc"
    fam.mkdir(parents=True)
    for name, src in CASES.items():
        (fam / f"{name}.bpf.c").write_text(src)
        (fam / f"{name}.py").write_text(CHECK % name)
    cases = load_catalog(tmp / "bpf_cases")
    pyz, _w, _o = bundle(cases, tmp, tmp / "cache")
    events, _out, proc = run_agent(pyz)
    assert proc.returncode == 0, proc.stderr
    return results(events)


def test_missing_kfunc_is_kernel_lacks(res: dict[str, dict]) -> None:
    r = res["kfunc/future_kfunc"]
    assert (r["state"], r["reason_class"]) == ("skip", "kernel-lacks"), r
    assert "bpf_kmatrix_from_the_future" in r["reason"]
    assert r["verifier_log"], "the refusal's evidence is kept"


def test_an_unknown_type_is_not_taken_for_a_kernel_gap(res: dict[str, dict]) -> None:
    # Only types known to be kernel types (dynptr, iter_num...; the golden corpus has
    # the 5.10 ones) count as missing from the kernel: an unknown name may be a typo.
    r = res["kfunc/future_type"]
    assert (r["state"], r["reason_class"]) == ("fail", None), r
    assert "did not compile" in r["reason"]
    assert "incomplete type 'struct bpf_kmatrix_future_dynptr'" in r["output"]


def test_a_real_verifier_refusal_stays_a_fail(res: dict[str, dict]) -> None:
    r = res["kfunc/real_bug"]
    assert r["state"] == "fail", r
    assert r["reason_class"] is None
    assert "bpf_object__load" in r["reason"] and r["verifier_log"]

