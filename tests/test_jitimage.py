"""The agent's JIT image decoder (kmatrix/agent/jitimage.py) against LLVM, on JITed
images captured from the lab's guests (tests/data/golden/jit/<arch>-<suite>-<case>.hex,
taken from a run's results.json details["jit_image_hex"]; suite forky_nozbb is the
forky guest booted with qemu.cpu rv64,zbb=false), and the jit cases' classifiers on
those same images.

llvm-objdump 14 cannot read a raw binary (-b binary is GNU objdump's), so the
image is first wrapped in an ELF by llvm-objcopy -I binary.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from kmatrix.agent import jitimage

pytestmark = pytest.mark.fast

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "data" / "golden" / "jit"
JIT_CASES = ROOT / "bpf_cases" / "jit"
IMAGES = sorted(GOLDEN.glob("*.hex"))
LLVM = {
    "aarch64": ("elf64-littleaarch64", ["--triple=aarch64", "--mattr=+pauth"]),
    "riscv64": ("elf64-littleriscv", ["--triple=riscv64", "--mattr=+c,+zbb,+zba"]),
}
_LINE = re.compile(r"^\s*([0-9a-f]+):\s+((?:[0-9a-f]{2} )+)\s*(\S+)\s*(.*?)\s*$")
needs_llvm = pytest.mark.skipif(
    not (shutil.which("llvm-objdump") and shutil.which("llvm-objcopy")),
    reason="llvm-objdump/llvm-objcopy not installed (Debian: llvm)")


def _golden(path: Path) -> tuple[str, str, bytes]:
    arch, suite, _case = path.stem.split("-", 2)
    return arch, suite, bytes.fromhex(path.read_text().strip())


def _case(name: str) -> dict:
    ns: dict = {"__name__": "jit_" + name}
    src = JIT_CASES / f"{name}.py"
    exec(compile(src.read_text(), str(src), "exec"), ns)
    return ns


def llvm_disassembly(arch: str, image: bytes, tmp: Path) -> dict[int, tuple[int, str, str]]:
    """offset -> (size, mnemonic, operands) as llvm-objdump prints them."""
    bfd, flags = LLVM[arch]
    (tmp / "image.bin").write_bytes(image)
    subprocess.run(["llvm-objcopy", "-I", "binary", "-O", bfd, "image.bin", "image.o"],
                   cwd=tmp, check=True, capture_output=True)
    out = subprocess.run(["llvm-objdump", "-D", "-z", "-j", ".data", *flags, "image.o"],
                         cwd=tmp, check=True, capture_output=True, text=True).stdout
    got = {}
    for line in out.splitlines():
        m = _LINE.match(line)
        if m:
            ops = re.sub(r"\s+", " ", m.group(4))
            got[int(m.group(1), 16)] = (len(m.group(2).split()), m.group(3), ops)
    return got


def test_golden_images_are_there() -> None:
    """One real image per arch and case, so the cross-check below has something to do."""
    names = {p.stem for p in IMAGES}
    for arch, case in (("riscv64", "riscv_zbb"), ("aarch64", "arm64_pac"),
                       ("aarch64", "arm64_stack_ldst")):
        assert any(n.startswith(arch + "-") and n.endswith("-" + case) for n in names), \
            (arch, case, sorted(names))


@needs_llvm
@pytest.mark.parametrize("path", IMAGES, ids=[p.stem for p in IMAGES])
def test_decoder_agrees_with_llvm(path: Path, tmp_path: Path) -> None:
    """Every instruction the decoder names, LLVM names the same at the same offset; every
    instruction LLVM prints with a mnemonic the decoder knows, the decoder decoded too;
    and the instruction boundaries agree (riscv64 mixes 2- and 4-byte instructions)."""
    arch, _suite, image = _golden(path)
    ours = jitimage.decode(arch, image)
    theirs = llvm_disassembly(arch, image, tmp_path)
    assert [(i.offset, i.size) for i in ours] == [(o, s) for o, (s, _m, _x) in
                                                   sorted(theirs.items())]
    vocabulary = set(jitimage.A64_HINTS.values()) | {"str", "ldr", "strb", "ldrb", "strh",
                                                     "ldrh"} | set(jitimage.RV_EXTENSION)
    decoded = 0
    for i in ours:
        size, mnem, ops = theirs[i.offset]
        if i.mnemonic is not None:
            decoded += 1
            assert (i.mnemonic, i.operands) == (mnem, ops), hex(i.offset)
        elif mnem in vocabulary:
            # only forms the decoder leaves alone on purpose: arm64 pre/post-index and
            # unscaled loads/stores, and PC-relative literal loads, share the mnemonics
            # but not the encodings
            assert arch == "aarch64" and i.word & 0x3F000000 in (0x38000000, 0x18000000), \
                (hex(i.offset), mnem, ops, hex(i.word))
    assert decoded > 0


def test_known_words() -> None:
    """The encodings measured on the lab guests (shared reference, JIT README)."""
    a64 = b"".join(w.to_bytes(4, "little") for w in
                   (0xD503233F, 0xD50323BF, 0xF90007EA, 0xF94007E7, 0xF82B6B2A, 0xF86A6B27))
    assert jitimage.known(jitimage.decode("aarch64", a64)) == [
        "0x0: paciasp", "0x4: autiasp", "0x8: str x10, [sp, #8]", "0xc: ldr x7, [sp, #8]",
        "0x10: str x10, [x25, x11]", "0x14: ldr x7, [x25, x10]"]
    assert [jitimage.a64_ldst_form(w) for w in (0xF90007EA, 0xF86A6B27, 0xD503233F)] == \
        ["imm", "reg", None]
    rv = (0x6B855513).to_bytes(4, "little") + (0x0001).to_bytes(2, "little") + \
        (0x0805053B).to_bytes(4, "little")
    assert jitimage.known(jitimage.decode("riscv64", rv)) == [
        "0x0: rev8 a0, a0", "0x6: zext.w a0, a0"]
    with pytest.raises(ValueError, match="no JIT image decoder for x86_64"):
        jitimage.decode("x86_64", b"\x90")


def test_cpu_feature_readers(tmp_path: Path) -> None:
    assert jitimage.riscv_isa_extensions("rv64imafdch_zicntr_zba_zbb_sstc\0") >= {
        "i", "m", "c", "h", "zba", "zbb", "sstc"}
    assert "zbb" not in jitimage.riscv_isa_extensions("rv64imafdc")
    cpu = tmp_path / "cpus" / "cpu@0"
    cpu.mkdir(parents=True)
    (cpu / "riscv,isa").write_bytes(b"rv64imafdc_zbb\0")
    assert "zbb" in jitimage.riscv_dt_isa(str(tmp_path / "cpus"))
    (cpu / "riscv,isa-extensions").write_bytes(b"i\0m\0zba\0")
    assert jitimage.riscv_dt_isa(str(tmp_path / "cpus")) == {"i", "m", "zba"}
    assert jitimage.riscv_dt_isa(str(tmp_path / "none")) is None
    auxv = (33).to_bytes(8, "little") + (1).to_bytes(8, "little") + \
        (16).to_bytes(8, "little") + (jitimage.HWCAP_PACA | 1).to_bytes(8, "little") + bytes(16)
    (tmp_path / "auxv").write_bytes(auxv)
    assert jitimage.auxv_hwcap(str(tmp_path / "auxv")) & jitimage.HWCAP_PACA
    assert jitimage.cpuinfo_field("Features", "processor : 0\nFeatures : fp asimd paca\n") == \
        "fp asimd paca"
    assert "kptr_restrict=2" in jitimage.no_image_sentence(120, {"kernel.kptr_restrict": 2})
    assert "bpf_jit_enable=0" in jitimage.no_image_sentence(0, {"net.core.bpf_jit_enable": 0})


@pytest.mark.parametrize("path", IMAGES, ids=[p.stem for p in IMAGES])
def test_cases_classify_the_golden_images(path: Path) -> None:
    """What each captured image must show, through the cases' own classifiers."""
    arch, suite, image = _golden(path)
    case = path.stem.split("-", 2)[2]
    insns = jitimage.decode(arch, image)
    names = [i.mnemonic for i in insns if i.mnemonic]
    old = suite == "bullseye"  # 5.10: before the arm64 JIT's 5.19 PAC and ldr/str work
    if case == "riscv_zbb":  # forky_nozbb: QEMU's rv64,zbb=false, base instructions only
        zbb = {n for n in names if jitimage.RV_EXTENSION.get(n) == "zbb"}
        assert zbb == (set() if suite.endswith("nozbb") else {"rev8", "zext.h"}), names
    elif case == "arm64_pac":
        assert ("paciasp" in names and "autiasp" in names) != old, names
    elif case == "arm64_stack_ldst":
        imm, reg = _case("arm64_stack_ldst")["split_forms"](jitimage, insns)
        assert (bool(reg), bool(imm)) == ((True, False) if old else (False, True)), (imm, reg)
    else:
        pytest.fail(f"no expectation for {path.name}")
