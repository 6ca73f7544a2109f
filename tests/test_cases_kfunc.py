"""kfunc cases, run for real on this host through the agent, plus unit tests of kmod.py
and of the CaseContext module helpers."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from agent_support import BTF, passed, run_family

from kmatrix.agent import case as agent_case
from kmatrix.agent import kmod

ROOT = Path(__file__).resolve().parent.parent
FAMILY = "kfunc"

needs_bpf = [
    pytest.mark.bpf,
    pytest.mark.skipif(os.geteuid() != 0, reason="needs root for BPF"),
    pytest.mark.skipif(not BTF.exists(), reason="needs kernel BTF"),
]


@pytest.fixture(scope="module")
def kfunc_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    return run_family(tmp_path_factory.mktemp("kfunc"), FAMILY)["res"]



class TestKfuncCasesHere:
    pytestmark = needs_bpf

    def test_cpumask(self, kfunc_results: dict) -> None:
        d = passed(kfunc_results["kfunc/cpumask"])
        assert d["set_hit"] is True and d["other_hit"] is False
        assert d["first"] == d["cpu"] and d["cleared_hit"] is False

    def test_rcu_read_lock(self, kfunc_results: dict) -> None:
        d = passed(kfunc_results["kfunc/rcu_read_lock"])
        assert d["parent_tgid"] == d["getppid"] > 0 and d["sections"] == 2
        assert d["load_errno"] == "EINVAL" and "bpf_rcu_read_lock" in d["rejected_with"]

    def test_obj_new(self, kfunc_results: dict) -> None:
        d = passed(kfunc_results["kfunc/obj_new"])
        assert d["val"] == (d["key"] * 7 + 3) & (2**64 - 1) and d["dropped"] == 1

    def test_iter_num(self, kfunc_results: dict) -> None:
        d = passed(kfunc_results["kfunc/iter_num"])
        start, end = d["range"]
        assert d["iterations"] == end - start and d["sum"] == sum(range(start, end))
        assert d["last"] == end - 1 and d["empty_range_iterations"] == 0

    def test_cgroup_acquire(self, kfunc_results: dict) -> None:
        d = passed(kfunc_results["kfunc/cgroup_acquire"])
        assert d["acquired_kn_id"] == d["current_cgroup_id"] == d["cgroup_dir_ino"]

    def test_task_acquire(self, kfunc_results: dict) -> None:
        d = passed(kfunc_results["kfunc/task_acquire"])
        assert d["recorded_pid"] == d["child_pid"] > 0

    def test_missing_kfunc_is_reported(self, kfunc_results: dict) -> None:
        d = passed(kfunc_results["kfunc/missing_kfunc"])
        assert "kmatrix_no_such_kfunc" in d["rejected_with"]
        assert "not found in kernel or module BTFs" in d["rejected_with"]

    def test_not_a_kfunc_refused_by_verifier(self, kfunc_results: dict) -> None:
        d = passed(kfunc_results["kfunc/not_a_kfunc"])
        assert d["load_errno"] == "EACCES"
        assert d["rejected_with"] == "calling kernel function bpf_fentry_test1 is not allowed"

    def test_negative_cases_need_no_check(self) -> None:
        for name in ("missing_kfunc", "not_a_kfunc"):
            assert not (ROOT / "bpf_cases" / FAMILY / f"{name}.py").exists()

    def test_module_kfunc_outcome(self, kfunc_results: dict) -> None:
        r = kfunc_results["kfunc/module_kfunc"]
        if not os.path.exists("/proc/modules"):
            # This host's kernel is built without module support.
            assert r["state"] == "skip" and r["reason_class"] == "kernel-lacks", r
            assert "CONFIG_MODULES" in r["reason"]
        elif r["state"] == "skip":
            assert r["reason_class"] in ("environment-blocks", "kernel-lacks"), r
            assert r["reason"]
        else:
            assert r["state"] == "pass", json.dumps(r, indent=1)
            assert r["details"]["result"] == r["details"]["expected"] > 0
            assert not os.path.isdir("/sys/module/" + r["details"]["module"])


# -- kmod.py and the CaseContext helpers ----------------------------------------------


def _write(root: Path, rel: str, text: str) -> None:
    p = root / rel.lstrip("/")
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text)


def _module_root(tmp: Path) -> Path:
    _write(tmp, "/proc/modules", "")
    _write(tmp, "/sys/kernel/btf/vmlinux", "")
    return tmp


def test_load_blockers_none_when_modules_load(tmp_path: Path) -> None:
    root = _module_root(tmp_path)
    _write(root, "/proc/sys/kernel/modules_disabled", "0\n")
    _write(root, "/sys/module/module/parameters/sig_enforce", "N\n")
    _write(root, "/sys/kernel/security/lockdown", "[none] integrity confidentiality\n")
    assert kmod.load_blockers(str(root)) is None


@pytest.mark.parametrize("rel,text,cls,needle", [
    ("/proc/sys/kernel/modules_disabled", "1\n", "environment-blocks", "modules_disabled=1"),
    ("/sys/module/module/parameters/sig_enforce", "Y\n", "environment-blocks", "sig_enforce"),
    ("/sys/kernel/security/lockdown", "none [integrity] confidentiality\n",
     "environment-blocks", "lockdown is 'integrity'"),
])
def test_load_blockers_reasons(tmp_path: Path, rel: str, text: str, cls: str,
                               needle: str) -> None:
    root = _module_root(tmp_path)
    _write(root, rel, text)
    why = kmod.load_blockers(str(root))
    assert why is not None and why[0] == cls and needle in why[1]


def test_load_blockers_without_module_support(tmp_path: Path) -> None:
    why = kmod.load_blockers(str(tmp_path))
    assert why is not None and why[0] == "kernel-lacks" and "CONFIG_MODULES" in why[1]


def test_load_blockers_without_btf(tmp_path: Path) -> None:
    _write(tmp_path, "/proc/modules", "")
    why = kmod.load_blockers(str(tmp_path))
    assert why is not None and why[0] == "kernel-lacks" and "BTF" in why[1]


def test_build_dir_missing_headers_is_environment_blocks() -> None:
    with pytest.raises(kmod.Unavailable) as e:
        kmod.build_dir("0.0.0-kmatrix-no-such-kernel")
    assert e.value.reason_class == "environment-blocks"
    assert "/lib/modules/0.0.0-kmatrix-no-such-kernel/build/Makefile" in e.value.sentence


@pytest.mark.skipif(shutil.which("gcc") is None or shutil.which("objcopy") is None,
                    reason="needs gcc and objcopy")
def test_elf_sections_and_existing_btf(tmp_path: Path) -> None:
    src = tmp_path / "m.c"
    src.write_text("int kmatrix_x(int a) { return a + 1; }\n")
    obj = tmp_path / "m.ko"
    subprocess.run(["gcc", "-c", "-o", str(obj), str(src)], check=True, timeout=120)
    assert ".text" in kmod.elf_sections(str(obj))
    assert ".BTF" not in kmod.elf_sections(str(obj))
    (tmp_path / "btf.bin").write_bytes(b"\x9f\xeb\x01\x00")
    subprocess.run(["objcopy", "--add-section", ".BTF=%s" % (tmp_path / "btf.bin"), str(obj)],
                   check=True, timeout=120)
    assert ".BTF" in kmod.elf_sections(str(obj))
    # Kbuild already did the work: nothing to add, no tool needed.
    assert kmod.ensure_btf(str(obj), str(tmp_path)) == "Kbuild wrote the module's .BTF"
    assert kmod.module_name("/x/kmatrix-kfunc.ko") == "kmatrix_kfunc"


@pytest.mark.skipif(shutil.which("gcc") is None, reason="needs gcc")
def test_ensure_btf_without_resolver_is_environment_blocks(tmp_path: Path) -> None:
    src = tmp_path / "m.c"
    src.write_text("int kmatrix_x(int a) { return a + 1; }\n")
    obj = tmp_path / "m.ko"
    subprocess.run(["gcc", "-g", "-c", "-o", str(obj), str(src)], check=True, timeout=120)
    if shutil.which("pahole") is None:
        pytest.skip("pahole is not installed here")
    # A headers tree like Debian's 6.1: no vmlinux and no tools/bpf/resolve_btfids.
    headers = tmp_path / "headers"
    headers.mkdir()
    for call in (lambda: kmod.ensure_btf(str(obj), str(headers)),
                 lambda: kmod.btf_precheck(str(headers))):
        with pytest.raises(kmod.Unavailable) as e:
            call()
        assert e.value.reason_class == "environment-blocks"
        assert "resolve_btfids" in e.value.sentence
    # With vmlinux in the tree (Debian 6.12+), Kbuild does it: nothing to refuse.
    (headers / "vmlinux").write_bytes(b"")
    kmod.btf_precheck(str(headers))


def test_cleanup_unloads_modules_after_objects(tmp_path: Path) -> None:
    """defer_last runs after objects close: a module pinned by a program unloads last."""
    order: list[str] = []

    class Obj:
        name = "obj"

        def close(self) -> None:
            order.append("close")

    t = agent_case.CaseContext("kfunc/x", {}, {}, str(tmp_path))
    t._objs.append(Obj())
    t.defer_last(order.append, "rmmod")
    t.defer(order.append, "deferred")
    assert t.cleanup() == []
    assert order == ["deferred", "close", "rmmod"]


def test_build_module_skips_when_modules_cannot_load(tmp_path: Path) -> None:
    if kmod.load_blockers() is None:
        pytest.skip("modules can load on this host")
    t = agent_case.CaseContext("kfunc/x", {}, {}, str(tmp_path), files={})
    with pytest.raises(agent_case.Skip) as e:
        t.build_module("module_kfunc_src")
    assert (e.value.reason_class, e.value.sentence) == kmod.load_blockers()
    assert t.cleanup() == []
