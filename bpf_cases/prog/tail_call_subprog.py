"""prog: bpf-to-bpf calls mixed with tail calls (a JIT feature, per arch)."""

import struct

CASE = {
    "description": "a tail call from a bpf-to-bpf subprogram into a program that calls a "
                   "subprogram (the JIT keeps the tail-call count across both kinds of call)",
}

# What a verifier says when its arch's JIT cannot mix the two (kernel/bpf/verifier.c).
# The third is 5.10's: the JIT is on (t.load skips as environment-blocks when it is off)
# but could not compile the subprograms, so the verifier fell back to the interpreter.
NO_MIX = ("mixing of tail_calls and bpf-to-bpf calls is not supported",
          "tail_calls are not allowed in programs with bpf-to-bpf calls",
          "tail_calls are not allowed in non-JITed programs with bpf-to-bpf calls")


def run(t):
    try:
        obj = t.load()
    except t.LoadFailed as e:
        log = e.log or ""
        for needle in NO_MIX:
            for line in log.splitlines():
                if needle in line:
                    t.skip("kernel-lacks", "this kernel's %s BPF JIT cannot mix tail calls "
                           "and bpf-to-bpf calls: the verifier says %r" % (t.arch, line.strip()))
        raise
    obj.update("jmp_table", struct.pack("=I", 0), struct.pack("=I", obj.prog_fd("callee")))
    t.attach(obj, "entry")
    t.expect_true(t.wait(lambda: obj.bss.done), "callee ran")
    t.expect_values(obj.bss, sub_before=39, callee_runs=1, callee_sum=42, after_tail_call=0)
