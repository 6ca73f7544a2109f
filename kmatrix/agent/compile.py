"""The BPF compiler command line, one definition for both sides: the controller's
build.py (build: local) and the agent's remote build. Stdlib only, Python 3.7."""

import os
import re
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


# "<path>:<line>:<col>: error: ..." (clang, gcc); the lines after it (the quoted
# source line, the caret, a fix-it) belong to it until the next such line.
_DIAG = re.compile(r"^(?P<path>[^\s:][^:]*):\d+:(?:\d+:)? (?:fatal error|error|warning|note|"
                   r"remark): ")
_CHAIN = re.compile(r"^(?:In file included from|\s+from) (?P<path>[^:]+):\d+[:,]")
_SUMMARY = re.compile(r"^\d+ (?:warnings?|errors?)( and \d+ (?:warnings?|errors?))? generated\.$")


def own_diagnostics(text, allowed_dirs):
    """Compiler output with only the diagnostics about files under `allowed_dirs`
    (the case's own sources, kmatrix's and libbpf's headers): an #include of any
    other file, or a source symlinked to one, would otherwise quote that file's
    lines into results.json and JUnit. What is cut is counted, never shown."""
    roots = [os.path.realpath(str(d)) for d in allowed_dirs]

    def allowed(path):
        real = os.path.realpath(path)
        return any(real == r or real.startswith(r.rstrip(os.sep) + os.sep) for r in roots)

    out, cut, keep = [], 0, True
    for line in text.splitlines():
        m = _DIAG.match(line)
        chain = None if m else _CHAIN.match(line)
        if m:
            keep = allowed(m.group("path"))
        elif chain:
            if not allowed(chain.group("path")):
                cut += 1
                continue
            out.append(line)
            continue
        elif _SUMMARY.match(line):
            keep = True
        if keep:
            out.append(line)
        else:
            cut += 1
    if cut:
        out.append("[kmatrix: %d line(s) about files outside the case's sources and the "
                   "shared headers cut]" % cut)
    return "\n".join(out)
