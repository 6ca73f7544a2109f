"""The module build cache (issue 13): one key function for agent and controller,
the controller's store/for_bundle, the bundle's kmod/<key>.ko members, and the
agent's hit / miss / stale-rebuilt paths with a fake module loader."""

from __future__ import annotations

import base64
import errno
import hashlib
import json
import os
import shutil
import struct
import subprocess
import zipfile
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Optional

import pytest

from kmatrix import kmod_cache, runner
from kmatrix.agent import kmod
from kmatrix.agent import main as agent_main
from kmatrix.bundle import make_bundle, make_plan
from kmatrix.catalog import Case, load_catalog

ROOT = Path(__file__).resolve().parent.parent
UNAME = {"sysname": "Linux", "release": "6.12.118+deb13-amd64",
         "version": "#1 SMP PREEMPT_DYNAMIC Debian 6.12.118-1 (2026-11-01)", "machine": "x86_64"}
SOURCES = {"Makefile": b"obj-m += kmatrix_kfunc.o\n", "kmatrix_kfunc.c": b"int x;\n"}


def fake_ko(name: str = "kmatrix_kfunc", btf: bool = True, pad: int = 0) -> bytes:
    """A minimal ELF64 LE relocatable with the sections a cached module must have."""
    secs = [("", b""), (".text", b"\x90" * 16 + b"\0" * pad),
            (".modinfo", b"license=GPL\0name=%s\0vermagic=6.12 SMP\0" % name.encode()),
            (".gnu.linkonce.this_module", b"\0" * 64), (".symtab", b"\0" * 24)]
    if btf:
        secs.append((".BTF", b"\x9f\xeb\x01\x00" + b"\0" * 20))
    names = b"\0"
    name_off = []
    for n, _ in secs + [(".shstrtab", b"")]:
        name_off.append(len(names) if n else 0)
        if n:
            names += n.encode() + b"\0"
    secs.append((".shstrtab", names))
    body = b""
    offs = []
    for _, data in secs:
        offs.append(64 + len(body))
        body += data
    shoff = 64 + len(body)
    head = b"\x7fELF\x02\x01\x01" + b"\0" * 9
    head += struct.pack("<HHIQQQIHHHHHH", 1, 62, 1, 0, 0, shoff, 0, 64, 0, 0, 64, len(secs),
                        len(secs) - 1)
    table = b"".join(struct.pack("<IIQQQQIIQQ", name_off[i], 1 if i else 0, 0, 0,
                                 offs[i] if i else 0, len(d), 0, 0, 1, 0)
                     for i, (_, d) in enumerate(secs))
    return head + body + table


def event(ko: bytes, key: str = "a" * 64, **over: Any) -> dict[str, Any]:
    ev = {"event": "artifact", "kind": "kmod", "key": key,
          "sha256": hashlib.sha256(ko).hexdigest(), "data": base64.b64encode(ko).decode()}
    ev.update(over)
    return ev


@pytest.fixture(scope="module")
def module_case() -> Case:
    return next(c for c in load_catalog(ROOT / "bpf_cases") if c.id == "kfunc/module_kfunc")


# -- the key --------------------------------------------------------------------------


def test_key_is_stable_and_covers_sources_and_kernel() -> None:
    args = (UNAME["release"], UNAME["version"], UNAME["machine"])
    key = kmod.module_key(SOURCES, *args)
    assert kmod.KEY_RE.match(key)
    assert key == kmod.module_key(dict(reversed(list(SOURCES.items()))), *args)
    one_byte = dict(SOURCES, **{"kmatrix_kfunc.c": b"int y;\n"})
    renamed = {"Kbuild" if k == "Makefile" else k: v for k, v in SOURCES.items()}
    extra = dict(SOURCES, **{"extra.h": b""})
    others = {kmod.module_key(one_byte, *args), kmod.module_key(renamed, *args),
              kmod.module_key(extra, *args),
              kmod.module_key(SOURCES, "6.12.119+deb13-amd64", *args[1:]),
              kmod.module_key(SOURCES, args[0], "#2 SMP", args[2]),
              kmod.module_key(SOURCES, args[0], args[1], "aarch64")}
    assert key not in others and len(others) == 6


def test_key_is_golden() -> None:
    """The same value on every Python the agent runs on (checked on 3.7 and 3.11): a
    changed key function must be a deliberate change (bump kmod.KEY_RECIPE)."""
    assert kmod.module_key({"a": b"x"}, "r", "v", "m") == \
        "b05d9795f585d42b9963efd1d93936420964a0a4d736b9b2f11bbcbba5726e44"


def test_controller_and_agent_compute_the_same_key(module_case: Case) -> None:
    """The controller keys the files it ships; the agent keys CASE["files"] as it got them."""
    assert kmod_cache.module_dirs(module_case) == ["module_kfunc_src"]
    [(subdir, key)] = kmod_cache.case_module_keys(module_case, UNAME).items()
    shipped = {rel: (module_case.check.parent / rel).read_bytes()
               for rel in module_case.meta["files"]}  # what Agent._case_files returns
    agent_key = kmod.module_key(kmod.module_sources(shipped, "module_kfunc_src"),
                                UNAME["release"], UNAME["version"], UNAME["machine"])
    assert subdir == "module_kfunc_src" and key == agent_key


def test_event_line_limit_matches_the_runner_and_a_max_module_fits() -> None:
    assert kmod.MAX_EVENT_LINE == runner.MAX_EVENT_LINE
    data = b"\xff" * kmod.MAX_KO_BYTES
    line = json.dumps(event(data), sort_keys=True, default=str)
    assert len(line) < runner.MAX_EVENT_LINE


# -- store ----------------------------------------------------------------------------


def test_store_writes_atomically_under_kmod(tmp_path: Path) -> None:
    data = fake_ko()
    assert kmod_cache.store(tmp_path, event(data)) is None
    assert (tmp_path / "kmod" / ("a" * 64 + ".ko")).read_bytes() == data
    assert sorted(p.name for p in (tmp_path / "kmod").iterdir()) == ["a" * 64 + ".ko"]


@pytest.mark.parametrize("over, words", [
    ({"kind": "vmlinux"}, "unknown kind"),
    ({"key": "../../etc/passwd"}, "bad key"),
    ({"key": "A" * 64}, "bad key"),
    ({"key": "a" * 63}, "bad key"),
    ({"key": "a" * 64 + "/x"}, "bad key"),
    ({"key": "a" * 64 + "\n"}, "bad key"),
    ({"key": None}, "bad key"),
    ({"sha256": "b" * 64}, "does not match"),
    ({"sha256": "xyz"}, "bad sha256"),
    ({"data": "not base64!"}, "not base64"),
    ({"data": None}, "data missing"),
    ({"data": "A" * (kmod.MAX_EVENT_LINE + 4)}, "data missing or over"),
])
def test_store_refuses_bad_events(tmp_path: Path, over: dict, words: str) -> None:
    note = kmod_cache.store(tmp_path, event(fake_ko(), **over))
    assert note is not None and words in note
    assert not (tmp_path / "kmod").exists() or not any((tmp_path / "kmod").iterdir())


@pytest.mark.parametrize("data, words", [
    (b"just some bytes", "not a little-endian ELF64"),
    (fake_ko(btf=False), "no .BTF"),
    (fake_ko(name="../evil"), "no valid module name"),
    (fake_ko(pad=kmod.MAX_KO_BYTES + 1 - len(fake_ko())), "over the"),  # base64 fits a line
])
def test_store_refuses_what_is_not_a_module(tmp_path: Path, data: bytes, words: str) -> None:
    note = kmod_cache.store(tmp_path, event(data))
    assert note is not None and words in note
    assert not (tmp_path / "kmod").exists() or not any((tmp_path / "kmod").iterdir())


# -- for_bundle, make_plan, make_bundle -------------------------------------------------


def test_for_bundle_ships_only_the_matching_key(tmp_path: Path, module_case: Case) -> None:
    cases = [c for c in load_catalog(ROOT / "bpf_cases") if c.family == "kfunc"]
    facts = {"uname": UNAME}
    assert kmod_cache.for_bundle(tmp_path, cases, facts) == {}
    key = kmod_cache.case_module_keys(module_case, UNAME)["module_kfunc_src"]
    assert kmod_cache.store(tmp_path, event(fake_ko(), key=key)) is None
    assert kmod_cache.store(tmp_path, event(fake_ko(), key="c" * 64)) is None  # another kernel
    assert kmod_cache.for_bundle(tmp_path, cases, facts) == {key: tmp_path / "kmod" / f"{key}.ko"}
    newer = {"uname": dict(UNAME, version="#2 SMP PREEMPT_DYNAMIC")}
    assert kmod_cache.for_bundle(tmp_path, cases, newer) == {}
    assert kmod_cache.for_bundle(tmp_path, cases, {}) == {}
    assert kmod_cache.for_bundle(tmp_path, cases, None) == {}
    assert kmod_cache.for_bundle(tmp_path, [c for c in cases if c.id != module_case.id],
                                 facts) == {}


def test_bundle_carries_the_modules_and_the_plan_names_them(tmp_path: Path,
                                                           module_case: Case) -> None:
    key = kmod_cache.case_module_keys(module_case, UNAME)["module_kfunc_src"]
    assert kmod_cache.store(tmp_path, event(fake_ko(), key=key)) is None
    kmods = kmod_cache.for_bundle(tmp_path, [module_case], {"uname": UNAME})
    plan = make_plan([module_case], run_id="r", workdir="/w", arch="x86_64", kmods=kmods)
    assert plan["kmods"] == {key: f"kmod/{key}.ko"}
    pyz = make_bundle([module_case], {}, plan, tmp_path / "agent.pyz", kmods=kmods)
    with zipfile.ZipFile(pyz) as z:
        assert z.read(f"kmod/{key}.ko") == fake_ko()
        assert json.loads(z.read("plan.json"))["kmods"] == {key: f"kmod/{key}.ko"}
    # The agent's lookup: the plan's member, read from the bundle.
    agent = SimpleNamespace(plan=json.loads(zipfile.ZipFile(pyz).read("plan.json")),
                            bundle=agent_main.Bundle(str(pyz)))
    assert agent_main.Agent._kmod_prebuilt(agent, key) == fake_ko()
    assert agent_main.Agent._kmod_prebuilt(agent, "d" * 64) is None
    # Without kmods the plan says so, and make_bundle never names a member it lacks.
    plain = make_bundle([module_case], {}, plan, tmp_path / "plain.pyz")
    assert json.loads(zipfile.ZipFile(plain).read("plan.json"))["kmods"] == {}


# -- the agent: hit, miss, stale-rebuilt ------------------------------------------------

CHECK = '''
CASE = {"description": "d", "build": False, "files": ["m/Makefile", "m/kmatrix_kfunc.c"]}

def run(t):
    ko = t.build_module("m")
    t.detail("module", t.insmod(ko, "magic=1"))
'''


class FakeKernel:
    """kmod.py's build and load steps, faked: records what was built and loaded."""

    def __init__(self, refuse: Optional[str] = None, cached_btf: bool = True) -> None:
        self.refuse = refuse  # a path fragment whose insmod fails with ENOEXEC
        self.cached_btf = cached_btf  # whether a shipped module's BTF shows after loading
        self.btf_now = False
        self.builds = 0
        self.loaded: list[str] = []

    def install(self, mp: pytest.MonkeyPatch) -> None:
        mp.setattr(kmod, "load_blockers", lambda root="/": None)
        mp.setattr(kmod, "build_dir", lambda release=None: "/fake/kdir")
        mp.setattr(kmod, "btf_precheck", lambda kdir: None)
        mp.setattr(kmod, "build", self.build)
        mp.setattr(kmod, "ensure_btf", lambda ko, kdir: "fake BTF")
        mp.setattr(kmod, "strip_debug", self.strip)
        mp.setattr(kmod, "insmod", self.insmod)
        mp.setattr(kmod, "rmmod", lambda name: None)
        mp.setattr(kmod, "loaded", lambda name, root="/": False)
        mp.setattr(kmod, "module_btf_loaded", lambda name, root="/": self.btf_now)

    def build(self, src_dir: str, kdir: str, timeout: int = 600) -> tuple[str, str]:
        self.builds += 1
        ko = os.path.join(src_dir, "kmatrix_kfunc.ko")
        Path(ko).write_bytes(fake_ko(pad=4096))
        return ko, "  LD [M]  kmatrix_kfunc.ko\n"

    @staticmethod
    def strip(ko: str, out: str) -> str:
        Path(out).write_bytes(fake_ko())
        return out

    def insmod(self, ko: str, params: str = "") -> str:
        if self.refuse and self.refuse in ko:
            raise kmod.ModuleError(f"finit_module({os.path.basename(ko)}) failed: ENOEXEC "
                                   "(Exec format error)", err=errno.ENOEXEC)
        self.loaded.append(ko)
        self.btf_now = self.cached_btf if "/kmod.m/" in ko else True
        return kmod.module_name(ko)


def _run_case(tmp: Path, kmods: dict[str, bytes]) -> list[dict]:
    """One case through the agent (a directory bundle); the events it emitted, in order."""
    b = tmp / "bundle"
    (b / "cases" / "x").mkdir(parents=True)
    (b / "cases" / "x" / "m.py").write_text(CHECK)
    for rel, data in SOURCES.items():
        (b / "files" / "x" / "m").mkdir(parents=True, exist_ok=True)
        (b / "files" / "x" / "m" / rel).write_bytes(data)
    plan: dict[str, Any] = {"workdir": str(tmp / "work"), "libbpf": {"mode": "system"},
                            "kmods": {}}
    for key, data in kmods.items():
        (b / "kmod").mkdir(exist_ok=True)
        (b / "kmod" / f"{key}.ko").write_bytes(data)
        plan["kmods"][key] = f"kmod/{key}.ko"
    (tmp / "work").mkdir(mode=0o700)
    entry = {"id": "x/m", "timeout": 60, "check": "cases/x/m.py",
             "meta": {"build": False, "files": list(SOURCES)},
             "files": {f"m/{rel}": f"files/x/m/{rel}" for rel in SOURCES}}
    journal = tmp / "work" / "journal.jsonl"
    emitter = agent_main.Emitter(None, str(journal))
    agent = agent_main.Agent(agent_main.Bundle(str(b)), plan, emitter)
    agent.fork_checks = False  # FakeKernel counts builds and loads in this process
    emitter.emit(agent.run_case(entry))
    emitter.close()
    return [json.loads(line) for line in journal.read_text().splitlines()]


def _key() -> str:
    u = os.uname()
    return kmod.module_key(SOURCES, u.release, u.version, u.machine)


def test_miss_builds_publishes_before_the_result_and_the_controller_stores_it(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeKernel()
    fake.install(monkeypatch)
    art, res = _run_case(tmp_path, {})
    assert [art["event"], res["event"]] == ["artifact", "result"]
    assert res["state"] == "pass", res
    d = res["details"]
    assert d["module_cache"] == "miss" and d["module_key"] == _key() == art["key"]
    assert d["module_stripped"] == f"{len(fake_ko(pad=4096))} -> {len(fake_ko())} bytes"
    assert d["module_published"] == len(fake_ko()) and fake.builds == 1
    assert fake.loaded[0].endswith("/stripped/kmatrix_kfunc.ko")  # what is cached is what loaded
    assert base64.b64decode(art["data"]) == fake_ko()
    cache = tmp_path / "cache"
    assert kmod_cache.store(cache, art) is None
    assert (cache / "kmod" / f"{_key()}.ko").read_bytes() == fake_ko()


def test_hit_uses_the_shipped_module_without_building(tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeKernel()
    fake.install(monkeypatch)
    [res] = _run_case(tmp_path, {_key(): fake_ko()})
    assert res["state"] == "pass", res
    assert res["details"]["module_cache"] == "hit" and fake.builds == 0
    assert res["details"]["module"] == "kmatrix_kfunc"
    assert os.path.basename(fake.loaded[0]) == "kmatrix_kfunc.ko"  # named from .modinfo


def test_a_module_for_other_sources_is_not_used(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeKernel()
    fake.install(monkeypatch)
    art, res = _run_case(tmp_path, {"e" * 64: fake_ko()})
    assert res["details"]["module_cache"] == "miss" and fake.builds == 1
    assert art["key"] == _key()


@pytest.mark.parametrize("refuse, cached_btf, why", [
    ("/kmod.m/", True, "ENOEXEC"),             # vermagic / format: the kernel refuses it
    (None, False, "without /sys/kernel/btf"),  # loads, but its BTF does not
])
def test_stale_cached_module_is_rebuilt_and_the_verdict_stays_true(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, refuse: Optional[str],
        cached_btf: bool, why: str) -> None:
    fake = FakeKernel(refuse=refuse, cached_btf=cached_btf)
    fake.install(monkeypatch)
    art, res = _run_case(tmp_path, {_key(): fake_ko()})
    assert res["state"] == "pass", res
    d = res["details"]
    assert d["module_cache"] == "stale-rebuilt" and why in d["module_cache_refused"]
    assert fake.builds == 1 and fake.loaded[-1].endswith("/stripped/kmatrix_kfunc.ko")
    assert art["event"] == "artifact" and art["key"] == _key()  # the fresh build replaces it


def test_a_broken_shipped_module_is_ignored_and_built(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeKernel()
    fake.install(monkeypatch)
    art, res = _run_case(tmp_path, {_key(): b"\x7fELF garbage"})
    assert res["state"] == "pass" and res["details"]["module_cache"] == "miss"
    assert "cached module ignored" in res["details"]["module_cache_note"]


def test_a_module_too_big_for_an_event_is_not_published(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake = FakeKernel()
    fake.install(monkeypatch)
    monkeypatch.setattr(kmod, "strip_debug", lambda ko, out: None)  # no objcopy
    monkeypatch.setattr(kmod, "MAX_KO_BYTES", 1000)
    [res] = _run_case(tmp_path, {})
    assert res["state"] == "pass" and res["details"]["module_cache"] == "miss"
    assert "not cached" in res["details"]["module_cache_note"]
    assert "over the 1000-byte limit" in res["details"]["module_cache_note"]


@pytest.mark.skipif(shutil.which("gcc") is None or shutil.which("objcopy") is None,
                    reason="needs gcc and objcopy")
def test_strip_debug_keeps_btf_modinfo_and_symbols(tmp_path: Path) -> None:
    src = tmp_path / "m.c"
    src.write_text("int kmatrix_x(int a) { return a + 1; }\n"
                   "static const char info[] __attribute__((section(\".modinfo\"), used)) ="
                   " \"license=GPL\\0name=kmatrix_kfunc\";\n"
                   "char this_mod[64] __attribute__((section(\".gnu.linkonce.this_module\")));\n")
    ko = tmp_path / "kmatrix_kfunc.ko"
    subprocess.run(["gcc", "-g", "-c", "-o", str(ko), str(src)], check=True, timeout=120)
    (tmp_path / "btf.bin").write_bytes(b"\x9f\xeb\x01\x00" + b"\0" * 20)
    subprocess.run(["objcopy", "--add-section", ".BTF=%s" % (tmp_path / "btf.bin"), str(ko)],
                   check=True, timeout=120)
    assert ".debug_info" in kmod.elf_sections(str(ko))
    (tmp_path / "s").mkdir()
    out = kmod.strip_debug(str(ko), str(tmp_path / "s" / "kmatrix_kfunc.ko"))
    assert out is not None
    names = kmod.elf_sections(out)
    assert ".debug_info" not in names
    assert {".BTF", ".modinfo", ".symtab", ".gnu.linkonce.this_module"} <= set(names)
    assert os.path.getsize(out) < os.path.getsize(ko)
    assert kmod.modinfo_name(Path(out).read_bytes()) == "kmatrix_kfunc"
