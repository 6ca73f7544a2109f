"""The BPF compiler command line, one definition for both sides: the controller's
build.py (build: local) and the agent's remote build. Stdlib only, Python 3.7."""

import sys

# CASE["compiler"] -> argv prefix; {py} is the Python running the agent.
BPF_TARGET = {"x86_64": "x86", "aarch64": "arm64", "riscv64": "riscv"}


def compile_argv(compiler, src, out, include_dirs, arch, cflags=(), python=None):
    """The compiler command for one case."""
    target = BPF_TARGET.get(arch, arch)
    incs = []
    for d in include_dirs:
        incs += ["-I", str(d)]
    common = ["-g", "-O2", "-D__TARGET_ARCH_%s" % target] + incs + list(cflags)
    if compiler == "ziglang":
        # Debian's clang 14 cannot emit cpu v4; zig ships a newer clang.
        return [python or sys.executable, "-m", "ziglang", "cc", "-target",
                "bpfel-freestanding-none", "-mcpu=v4", "-fno-asynchronous-unwind-tables"] + \
            common + ["-c", str(src), "-o", str(out)]
    return ["clang", "-target", "bpf"] + common + ["-c", str(src), "-o", str(out)]
