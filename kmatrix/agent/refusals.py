"""Is a refused BPF program a kernel that lacks a feature, or a real defect?

classify_compile(output) reads clang (or `python -m ziglang cc`) output of a case
compiled against the target's vmlinux.h; classify_load(log, errno) reads the
libbpf/verifier log of a refused load; classify_attach(kind, errno) judges an
attach that failed with only an errno. Each returns (reason_class, sentence), or
None when the refusal must stay a fail. Stdlib only, Python 3.7.

The rule: only a message that can only mean "this kernel does not have X" is a
skip, and the sentence says what X is. A first Linux release is named only when
helpers_table.py has it with a source. Anything unrecognised is None: a human
looks at it, so a real bug in a case is never hidden behind a skip.
"""

import re

from .reasons import ENVIRONMENT_BLOCKS, KERNEL_LACKS

# helpers_table.py (~1,100 lines of data) is imported on first use, not with this
# module: the agent imports refusals at start but classifies only a refused case, and
# compiling the table from the zipapp costs ~0.1 s on riscv64 under TCG.
_TABLE_NAMES = frozenset((
    "FEATURES", "HELPER_SINCE", "HELPERS", "KFUNC_SINCE", "TRAMPOLINE_SINCE",
    "TYPE_FEATURES", "UAPI_DEFINES", "UAPI_ENUM_NAMES", "UAPI_ENUM_SINCE", "UAPI_MEMBERS",
))
_table_module = None


def _t():
    """The helpers_table module, imported once."""
    global _table_module
    if _table_module is None:
        from . import helpers_table
        _table_module = helpers_table
    return _table_module


def __getattr__(name):  # PEP 562 (3.7): refusals.HELPERS etc. as before the lazy import
    if name in _TABLE_NAMES:
        return getattr(_t(), name)
    raise AttributeError("module %r has no attribute %r" % (__name__, name))

EPERM = 1
ENOTSUPP = 524  # kernel-internal errno; leaks out of bpf(2) when a JIT lacks something

# Ids libbpf writes into a call instruction it could not resolve (libbpf.c): never
# helpers. The verifier then says "invalid func unknown#<id>".
POISON_CORE_RELO = 195896080  # 0xbad2310: failed CO-RE relocation
POISON_MAP_BASE = 2001000000  # + map index: map referenced but not created
POISON_KFUNC_BASE = 2002000000  # + extern index: weak kfunc absent from kernel BTF


# -- names ------------------------------------------------------------------------


def helper_name(n):  # type: (int) -> str
    """bpf_<name> of helper id n, as the kernel prints it; "helper #n" if unknown."""
    if 0 < n < len(_t().HELPERS):
        return "bpf_" + _t().HELPERS[n]
    return "helper #%d" % n


def helper_id(name):  # type: (str) -> int
    """Id of a helper given as "bpf_x", "x" or "BPF_FUNC_x"; -1 when unknown."""
    for prefix in ("BPF_FUNC_", "bpf_"):
        if name.startswith(prefix):
            name = name[len(prefix):]
            break
    try:
        n = _t().HELPERS.index(name)
    except ValueError:
        return -1
    return n if n > 0 else -1


def helper_since(n):  # type: (int) -> str
    """First Linux release with helper n when the table is sure of it, else ""."""
    return _t().HELPER_SINCE.get(n, "")


def describe_helper(n):  # type: (int) -> str
    """ "bpf_get_func_arg (helper #183, Linux 5.17+)"; the version only when known."""
    since = helper_since(n)
    if since:
        return "%s (helper #%d, Linux %s+)" % (helper_name(n), n, since)
    return "%s (helper #%d)" % (helper_name(n), n)


def describe(name):  # type: (str) -> str
    """What the tables know of a name: helper, kfunc, enum value, type or feature key."""
    if name in _t().FEATURES:
        what, since, _src = _t().FEATURES[name]
        return "%s (Linux %s+)" % (what, since)
    n = helper_id(name)
    if n > 0 and (name.startswith("bpf_") or name.startswith("BPF_FUNC_")):
        return describe_helper(n)
    if name in _t().KFUNC_SINCE:
        return "kfunc %s (Linux %s+)" % (name, _t().KFUNC_SINCE[name])
    if name in _t().UAPI_ENUM_NAMES:
        since = _t().UAPI_ENUM_SINCE.get(name)
        return "enum value %s%s" % (name, " (Linux %s+)" % since if since else "")
    if name in _t().UAPI_DEFINES:
        return "#define %s (uapi bpf.h; never in a vmlinux.h)" % name
    if name in _t().TYPE_FEATURES or name in _t().UAPI_MEMBERS:
        needs = _needs(_type_feature(name))
        return "struct %s%s" % (name, " (%s)" % needs[2:] if needs else "")
    return name


def _needs(feature):  # type: (str) -> str
    """"; dynptr needs Linux 5.19+" for a FEATURES key, "" otherwise."""
    if feature in _t().FEATURES:
        what, since, _src = _t().FEATURES[feature]
        return "; %s needs Linux %s+" % (what, since)
    return ""


def _type_feature(tag):  # type: (str) -> str
    return _t().TYPE_FEATURES.get(tag, "")


def _version_tuple(text):  # type: (str) -> tuple
    nums = re.findall(r"\d+", text or "")
    return tuple(int(x) for x in nums[:3])


# -- compile: clang / zig cc diagnostics ------------------------------------------

_DIAG = re.compile(r"^(?P<loc>.+?):(?P<line>\d+):(?P<col>\d+): "
                   r"(?P<sev>fatal error|error|warning|note|remark): (?P<msg>.*)$")
_BARE_ERROR = re.compile(r"^(?:[\w.+-]+: )?(?:fatal error|error): (?P<msg>.*)$")

_INCOMPLETE = re.compile(r"incomplete|never completed")
_TAG = re.compile(r"'(?:struct|union) (\w+)'")
_FWD_NOTE = re.compile(r"^forward declaration of '(?:struct|union) (\w+)'")
_UNDECLARED_ID = re.compile(r"^use of undeclared identifier '(\w+)'")
_NO_MEMBER = re.compile(r"^no member named '(\w+)' in '(?:struct|union) (\w+)'")
_UNDECLARED_FN = re.compile(r"^(?:call to undeclared function|implicit declaration of "
                            r"function) '(\w+)'")


def _diagnostics(output):  # type: (str) -> tuple
    """(errors, notes): lists of (file:line, message) from compiler output."""
    errors, notes = [], []
    for raw in (output or "").splitlines():
        line = raw.rstrip()
        m = _DIAG.match(line)
        if m:
            sev = m.group("sev")
            where = "%s:%s" % (m.group("loc"), m.group("line"))
            if sev in ("error", "fatal error"):
                errors.append((where, m.group("msg")))
            elif sev == "note":
                notes.append((m.group("loc"), m.group("msg")))
            continue
        m = _BARE_ERROR.match(line)
        if m:  # a driver error ("clang: error: ...") has no location
            errors.append(("", m.group("msg")))
    return errors, notes


def _libbpf_forward_decls(notes):  # type: (list) -> set
    """Struct tags that libbpf's own headers forward-declare (kernel types, then)."""
    tags = set()
    for loc, msg in notes:
        m = _FWD_NOTE.match(msg)
        if m and re.search(r"(^|/)bpf/bpf_[\w]+\.h$", loc):
            tags.add(m.group(1))
    return tags


def _in_header(vmlinux_h, pattern):  # type: (str, str) -> bool
    return vmlinux_h is not None and re.search(pattern, vmlinux_h) is not None


def _missing_type(tag, libbpf_tags, vmlinux_h):  # type: (str, set, str) -> tuple
    known = tag in _t().UAPI_MEMBERS or tag in _t().TYPE_FEATURES or tag in libbpf_tags
    if not known or _in_header(vmlinux_h, r"\b(?:struct|union) %s \{" % re.escape(tag)):
        return None
    return (KERNEL_LACKS, "struct %s" % tag,
            "the kernel's BTF has no struct %s (vmlinux.h from this kernel lacks it%s)"
            % (tag, _needs(_type_feature(tag))))


def _missing_identifier(name, vmlinux_h):  # type: (str, str) -> tuple
    # Enum values are in the kernel's BTF; a #define (BPF_F_XDP_HAS_FRAGS, BPF_ATOMIC, ...)
    # never is, so its absence says nothing about the kernel: a case bug.
    if name not in _t().UAPI_ENUM_NAMES or _in_header(vmlinux_h, r"\b%s\b" % re.escape(name)):
        return None
    n = helper_id(name) if name.startswith("BPF_FUNC_") else -1
    if n > 0:
        extra = "; it names %s" % describe_helper(n)
    elif _t().UAPI_ENUM_SINCE.get(name):
        extra = "; %s needs Linux %s+" % (name, _t().UAPI_ENUM_SINCE[name])
    else:
        extra = ""
    return (KERNEL_LACKS, "enum value %s" % name,
            "the kernel's BTF has no enum value %s (vmlinux.h from this kernel lacks it%s)"
            % (name, extra))


def _missing_member(member, tag):  # type: (str, str) -> tuple
    # Only uapi structs: their members are known to exist in some kernel, so a missing
    # one is this kernel's older layout, not a typo.
    if member not in _t().UAPI_MEMBERS.get(tag, ()):
        return None
    return (KERNEL_LACKS, "struct %s member %s" % (tag, member),
            "the kernel's struct %s has no member %s (vmlinux.h from this kernel lacks it)"
            % (tag, member))


def _undeclared_function(name):  # type: (str) -> tuple
    n = helper_id(name) if name.startswith("bpf_") else -1
    if n > 0:
        # Helpers are declared by libbpf's bpf_helper_defs.h, not by vmlinux.h: the
        # headers of the build are older than the helper, whatever the kernel.
        return (ENVIRONMENT_BLOCKS, "helper %s (in the build's libbpf headers)" % name,
                "the libbpf headers used for the build (bpf/bpf_helper_defs.h) do not declare "
                "%s: the case needs newer libbpf headers where it is compiled"
                % describe_helper(n))
    # A kfunc missing from vmlinux.h proves nothing: bpftool emits kfunc prototypes only
    # for functions the kernel's BTF tags "bpf_kfunc" (recent kernels and pahole), so
    # bpf_task_acquire is undeclared in a 6.2 vmlinux.h that has the kfunc. A case
    # declares its kfuncs itself (extern ... __ksym); an undeclared one is its bug.
    return None


def _explain_error(msg, libbpf_tags, vmlinux_h):  # type: (str, set, str) -> tuple
    """(reason_class, item, sentence) for a kernel-derived miss; None otherwise."""
    m = _TAG.search(msg) if _INCOMPLETE.search(msg) else None
    if m:
        return _missing_type(m.group(1), libbpf_tags, vmlinux_h)
    m = _UNDECLARED_ID.match(msg)
    if m:
        return _missing_identifier(m.group(1), vmlinux_h)
    m = _NO_MEMBER.match(msg)
    if m:
        return _missing_member(m.group(1), m.group(2))
    m = _UNDECLARED_FN.match(msg)
    if m:
        return _undeclared_function(m.group(1))
    # "unknown type name 'bpf_iter_num'" and everything else: a kernel struct is never
    # a bare type name in vmlinux.h, so this is a C mistake on every kernel.
    return None


def classify_compile(output, vmlinux_h=None):  # type: (str, str) -> tuple
    """Verdict for a failed compile against the target's vmlinux.h, or None.

    Every error must be explained by a kernel-derived name that vmlinux.h lacks (or,
    for a helper, by the build's libbpf headers); one other error and the whole
    output is None. `vmlinux_h` (the header's text) is optional: given, a type or enum
    value it does contain is not "missing".
    """
    errors, notes = _diagnostics(output)
    if not errors:
        return None
    libbpf_tags = _libbpf_forward_decls(notes)
    found = []
    undeclared_at = set()  # file:line of calls to undeclared helpers already explained
    for loc, msg in errors:
        if loc in undeclared_at and msg.endswith("[-Wint-conversion]"):
            continue  # the implicit int of that call, not a second problem
        verdict = _explain_error(msg, libbpf_tags, vmlinux_h)
        if verdict is None:
            return None
        if _UNDECLARED_FN.match(msg):
            undeclared_at.add(loc)
        found.append(verdict)
    return _summarize(found)


def _summarize(found):  # type: (list) -> tuple
    lacks = [f for f in found if f[0] == KERNEL_LACKS]
    first = (lacks or found)[0]
    others = []
    for _cls, item, _sentence in found:
        if item != first[1] and item not in others:
            others.append(item)
    sentence = first[2]
    if others:
        sentence += "; also missing: " + ", ".join(others)
    return (first[0], sentence)


# -- load: verifier and libbpf messages --------------------------------------------
#
# Helpers and the kernel (kernel/bpf/verifier.c, check_helper_call; disasm.c):
#
#   if (func_id < 0 || func_id >= __BPF_FUNC_MAX_ID)
#           verbose(env, "invalid func %s#%d\n", func_id_name(func_id), func_id);
#   fn = env->ops->get_func_proto(func_id, env->prog);
#   if (!fn)
#           verbose(env, "unknown func %s#%d\n", func_id_name(func_id), func_id);
#
# func_id_name() returns "bpf_<name>" for every id below the __BPF_FUNC_MAX_ID the
# kernel was built with and "unknown" above it. So a name in the message means the
# kernel knows the helper: "unknown func bpf_get_func_arg#183" (the older wording) is
# "not available to this program type" (or compiled out), and newer kernels say so
# outright: "program of this type cannot use helper bpf_get_func_arg#183". Only
# "unknown#N" -- no name -- means the kernel predates helper N: 5.10 ends at
# bpf_redirect_peer (#155, __BPF_FUNC_MAX_ID 156), so there bpf_get_func_arg is
# "invalid func unknown#183". Ids that
# libbpf uses as poison (CO-RE 195896080, maps 2001000000+, kfuncs 2002000000+) are
# decoded as what they are, never as helpers.


def _helper_unknown(n):  # type: (int) -> tuple
    if n == POISON_CORE_RELO:
        return (KERNEL_LACKS, "a CO-RE relocation of the program found no match in the "
                              "kernel's BTF (libbpf poisoned the instruction: invalid func "
                              "unknown#%d)" % n)
    if POISON_KFUNC_BASE <= n < POISON_KFUNC_BASE + 1000000:
        return (KERNEL_LACKS, "a kfunc the program calls is not in the kernel's BTF (libbpf "
                              "left the weak call unresolved: invalid func unknown#%d)" % n)
    if 0 < n < len(_t().HELPERS):
        since = helper_since(n)
        return (KERNEL_LACKS, "the kernel has no BPF helper %s (#%d): the verifier does not "
                              "know the id (invalid func unknown#%d)%s"
                % (helper_name(n), n, n,
                   "; %s needs Linux %s+" % (helper_name(n), since) if since else ""))
    # Unreferenced-map poison, negative ids, ids past the last helper ever added: the
    # program itself is wrong.
    return None


def _isa(feature, what):  # type: (str, str) -> tuple
    return (KERNEL_LACKS, "the kernel's verifier does not know %s%s" % (what, _needs(feature)))


# opcode -> (FEATURES key, description); BPF_JMP32 class (low 3 bits 6) is cpu v3.
_OPCODES = {
    0xd7: ("cpu_v4", "bswap, BPF_ALU64|BPF_END"),
    0x06: ("cpu_v4", "gotol, BPF_JMP32|BPF_JA"),
    0x81: ("cpu_v4", "a sign-extending load, BPF_LDX|BPF_MEMSX"),
    0x89: ("cpu_v4", "a sign-extending load, BPF_LDX|BPF_MEMSX"),
    0x91: ("cpu_v4", "a sign-extending load, BPF_LDX|BPF_MEMSX"),
}


def _unknown_opcode(hexcode):  # type: (str) -> tuple
    code = int(hexcode, 16)
    if code in _OPCODES:
        feature, what = _OPCODES[code]
    elif code & 0x07 == 0x06:
        feature, what = "jmp32", "a BPF_JMP32 instruction"
    else:
        feature, what = "", "an instruction it does not decode"
    return _isa(feature, "opcode %02x (%s)" % (code, what))


def _kfunc_missing(name, how):  # type: (str, str) -> tuple
    since = _t().KFUNC_SINCE.get(name)
    return (KERNEL_LACKS, "the kernel's BTF has no kfunc %s (%s)%s"
            % (name, how, "; %s needs Linux %s+" % (name, since) if since else ""))


def _extern_btf(name, libbpf_version):  # type: (str, str) -> tuple
    # libbpf < 0.4 looked only for BTF VARs among externs (find_extern_btf_id, v0.3), so
    # every kfunc extern failed here at open time; 0.4.0 added "extern (func ksym)".
    # That is the target's libbpf, not its kernel. From 0.4 on the message means the
    # object's own BTF is wrong: a build defect.
    ver = _version_tuple(libbpf_version)
    if ver and ver >= (0, 4):
        return None
    who = "libbpf %s" % libbpf_version if ver else "libbpf"
    return (ENVIRONMENT_BLOCKS,
            "%s on the target found no BTF for extern '%s': libbpf before 0.4 cannot "
            "resolve kfunc (extern function) declarations" % (who, name))



def _data_section(section, libbpf_version):  # type: (str, str) -> tuple
    # clang puts string literals (BPF_SEQ_PRINTF, bpf_printk) in .rodata.str1.1;
    # libbpf maps such .rodata.*/.data.* sections from 0.6 on. An older libbpf on the
    # target skips the section, then refuses the program's reference to it: that is
    # the target's libbpf, not its kernel. From 0.6 on the message is a real defect.
    ver = _version_tuple(libbpf_version)
    if ver and ver >= (0, 6):
        return None
    who = "libbpf %s" % libbpf_version if ver else "libbpf"
    return (ENVIRONMENT_BLOCKS,
            "%s on the target does not map the section %s that holds the program's "
            "constants (libbpf maps .rodata.*/.data.* sections from 0.6 on)" % (who, section))

# (pattern, handler(match, libbpf_version) -> verdict or None). Verifier lines are
# matched whole; libbpf lines anywhere in the line (after "libbpf: prog 'x': ").
_LOAD_RULES = (
    # helpers
    (re.compile(r"^(?:invalid|unknown) func unknown#(-?\d+)$"),
     lambda m, v: _helper_unknown(int(m.group(1)))),
    (re.compile(r"^unknown func bpf_\w+#\d+$"), lambda m, v: None),
    (re.compile(r"^program of this type cannot use helper \S+#\d+$"), lambda m, v: None),
    # instructions
    (re.compile(r"^BPF_STX uses reserved fields$"),
     lambda m, v: _isa("atomics", "a BPF_STX instruction with an operation in imm (an atomic "
                                  "operation beyond plain add)")),
    (re.compile(r"^BPF_ATOMIC uses invalid atomic opcode ([0-9a-f]+)$"),
     lambda m, v: _isa("", "atomic operation %s" % m.group(1))),
    (re.compile(r"^unknown opcode ([0-9a-f]{1,2})$"), lambda m, v: _unknown_opcode(m.group(1))),
    (re.compile(r"^BPF_LDX uses reserved fields$"),
     lambda m, v: _isa("cpu_v4", "a BPF_LDX instruction with a non-BPF_MEM mode (a "
                                 "sign-extending load, BPF_MEMSX)")),
    (re.compile(r"^BPF_MOV uses reserved fields$"),
     # no release named: cpu v4's movsx (6.6) and arena's address-space cast use it
     lambda m, v: _isa("", "a BPF_MOV with this non-zero offset field (cpu v4's "
                           "sign-extending moves and arena address-space casts use it)")),
    (re.compile(r"^BPF_ALU uses reserved fields$"),
     lambda m, v: _isa("cpu_v4", "an ALU instruction with a non-zero offset field (signed "
                                 "division and modulo use it)")),
    (re.compile(r"^BPF_END uses reserved fields$"),
     lambda m, v: _isa("cpu_v4", "an unconditional byte swap (BPF_ALU64|BPF_END)")),
    (re.compile(r"^invalid BPF_ALU opcode ([0-9a-f]+)$"),
     lambda m, v: _isa("", "ALU operation %s" % m.group(1))),
    # kfunc calls (BPF_PSEUDO_KFUNC_CALL is a reserved src_reg before 5.13)
    (re.compile(r"^BPF_CALL uses reserved fields$"),
     lambda m, v: _isa("kfunc_calls", "a call of a kernel function (BPF_CALL with src_reg "
                                      "BPF_PSEUDO_KFUNC_CALL, or one into a module)")),
    (re.compile(r"^calling kernel function is not supported without CONFIG_DEBUG_INFO_BTF$"),
     lambda m, v: (KERNEL_LACKS, "the kernel has no BTF (CONFIG_DEBUG_INFO_BTF), so it cannot "
                                 "call kernel functions (kfuncs)")),
    # check_kfunc_call(): the kfunc exists (it has BTF) but is not registered for this
    # program type on this kernel (-EACCES). Later kernels open kfuncs to more types.
    (re.compile(r"^calling kernel function (\w+) is not allowed$"),
     lambda m, v: (KERNEL_LACKS, "this kernel does not allow the kfunc %s in this program "
                                 "type (the verifier: calling kernel function %s is not "
                                 "allowed)" % (m.group(1), m.group(1)))),
    (re.compile(r"^JIT does not support calling kernel function$"),
     lambda m, v: (KERNEL_LACKS, "this kernel's BPF JIT for this architecture cannot call "
                                 "kernel functions (kfuncs)")),
    # libbpf
    (re.compile(r"extern \(func ksym\) '(\w+)': not found in kernel(?: or module)? BTFs?"),
     lambda m, v: _kfunc_missing(m.group(1), "libbpf: extern not found in kernel or "
                                             "module BTFs")),
    (re.compile(r"kfunc '(\w+)' is referenced but wasn't resolved"),
     lambda m, v: _kfunc_missing(m.group(1), "libbpf left the weak call unresolved")),
    (re.compile(r"extern \(var ksym\) '(\w+)': not found in kernel BTF"),
     lambda m, v: (KERNEL_LACKS, "the kernel's BTF has no variable %s (libbpf: extern not "
                                 "found in kernel BTF)" % m.group(1))),
    (re.compile(r"failed to resolve CO-RE relocation (.+)$"),
     lambda m, v: (KERNEL_LACKS, "the kernel's BTF has no match for the CO-RE relocation "
                                 "%s" % m.group(1).strip())),
    (re.compile(r"failed to find kernel BTF type ID of '(\w+)'"),
     lambda m, v: (KERNEL_LACKS, "the kernel's BTF has no function or tracepoint %s to "
                                 "attach to" % m.group(1))),
    (re.compile(r"kernel BTF is missing at '([^']+)'"),
     lambda m, v: (KERNEL_LACKS, "the kernel has no BTF (%s is missing; "
                                 "CONFIG_DEBUG_INFO_BTF)" % m.group(1))),
    (re.compile(r"failed to find BTF for extern '(\w+)'"),
     lambda m, v: _extern_btf(m.group(1), v)),
    (re.compile(r"bad map relo against '(\.(?:rodata|data)\.[^']+)'"),
     lambda m, v: _data_section(m.group(1), v)),
)

# Not judged here, deliberately (None): "func 'f' argN type INT is not a struct" (the
# program reads an argument in a way that kernel refuses: the case can read it
# otherwise), "attach_btf_id N is not a function" (libbpf only asks for BTF FUNCs, so the
# program or loader is wrong), "calling kernel functions are not allowed in non-JITed
# programs" (JIT off or failed; case.py judges the JIT-off case), "failed to find valid
# kernel BTF" (also an old libbpf that cannot parse a newer BTF), a map that failed to
# be created, and libbpf's "missing BPF prog type" (an unknown SEC() name: old libbpf or
# a typo).

# Lines that look like a rule but are not the refusal (instruction dumps, source lines).
_NOISE = re.compile(r"^(?:\d+: \(|; )")


def _log_lines(log):  # type: (str) -> list
    lines = []
    for raw in (log or "").splitlines():
        line = raw.strip()
        if line and not _NOISE.match(line):
            lines.append(line)
    return lines


# Verifier log lines that are bookkeeping, not the refusal itself.
_BOOKKEEPING = re.compile(r"^(?:libbpf: |processed \d+ insns|verification time|stack depth|"
                          r"-- (?:BEGIN|END) |mark_precise|\d+: R\d|func#\d)")


def _verifier_last_line(log):  # type: (str) -> str
    """The verifier's own last word: its last line that is not an instruction dump,
    a source line, statistics or a libbpf line; "" when it said nothing."""
    said = [ln for ln in _log_lines(log) if not _BOOKKEEPING.match(ln)]
    return said[-1][:300] if said else ""


def _policy_refusal(log, privileged):  # type: (str, object) -> tuple
    """EPERM from BPF_PROG_LOAD. Upstream's verifier reports what a program does
    wrong with EINVAL/EACCES; EPERM is a permission check (capabilities, lockdown,
    an LSM's bpf_prog hook, a vendor policy). With CAP_BPF or CAP_SYS_ADMIN held it
    is a policy of this machine, never a missing feature or a defect of the case."""
    last = _verifier_last_line(log)
    quoted = "; the verifier's last line: '%s'" % last if last else \
        "; the verifier said nothing (refused before or after verification)"
    if privileged is False:
        return (ENVIRONMENT_BLOCKS, "the kernel refused the load with EPERM and the agent "
                                    "holds neither CAP_BPF nor CAP_SYS_ADMIN%s" % quoted)
    return (ENVIRONMENT_BLOCKS, "the kernel refused the load with EPERM although the agent "
                                "holds CAP_BPF/CAP_SYS_ADMIN: a policy of this machine "
                                "(lockdown, an LSM, a vendor verifier restriction) forbids "
                                "it%s" % quoted)


def classify_load(log, errno=0, libbpf_version=None, privileged=None):
    # type: (str, int, str, object) -> tuple
    """Verdict for a refused load from its libbpf/verifier log, or None (a real fail).

    The first line that a rule recognises decides: the verifier stops at its first
    error and libbpf at its first fatal problem. `libbpf_version` ("1.1.2", "0.3")
    refines libbpf's own messages. When no rule matches, EPERM is a policy refusal
    (environment-blocks naming the verifier's last line); `privileged` says whether
    the agent holds CAP_BPF or CAP_SYS_ADMIN (None: unknown) and only changes the
    sentence. Any other errno alone decides nothing (see classify_attach).
    """
    for line in _log_lines(log):
        for pattern, handler in _LOAD_RULES:
            m = pattern.search(line)
            if m:
                return handler(m, libbpf_version)
    if abs(errno or 0) == EPERM:
        return _policy_refusal(log, privileged)
    return None


# -- attach: errno only ----------------------------------------------------------------

_TRAMPOLINE_KINDS = ("fentry", "fexit", "fmod_ret", "freplace", "lsm")


def classify_attach(kind, errno, arch=None):  # type: (str, int, str) -> tuple
    """Verdict for an attach that failed with `errno` (sign ignored), or None.

    ENOTSUPP (524) from a trampoline attach comes from the weak
    arch_prepare_bpf_trampoline()/bpf_arch_text_poke(), or an arch trampoline that
    cannot handle this function: the kernel cannot build the trampoline. An XDP
    attach's ERANGE (frags vs MTU) is decided by the case, not here.
    """
    kind = (kind or "").split("/")[0].split(".")[0]
    if abs(errno or 0) != ENOTSUPP or kind not in _TRAMPOLINE_KINDS:
        return None
    where = arch or "this architecture"
    # The same errno covers "no trampoline at all" and "not for this function" (more
    # arguments than the arch trampoline passes, e.g. 9 on arm64 6.6): say both.
    return (KERNEL_LACKS, "this kernel cannot build a BPF trampoline for this %s attach on %s "
                          "(ENOTSUPP, errno 524): no trampoline on this arch, or not for a "
                          "function like this one (e.g. more arguments than it can pass)"
                          % (kind, where))


def trampoline_since(arch):  # type: (str) -> str
    """First Linux release with BPF trampolines on `arch` (upstream), or ""."""
    return _t().TRAMPOLINE_SINCE.get(arch, "")


def classify(kind, text, errno=0, **kw):  # type: (str, str, int, **object) -> tuple
    """Dispatch on kind: "compile", "load" or "attach" (kw: vmlinux_h, libbpf_version,
    privileged, attach, arch)."""
    if kind == "compile":
        return classify_compile(text, vmlinux_h=kw.get("vmlinux_h"))
    if kind == "load":
        return classify_load(text, errno, libbpf_version=kw.get("libbpf_version"),
                             privileged=kw.get("privileged"))
    if kind == "attach":
        return classify_attach(kw.get("attach", ""), errno, arch=kw.get("arch"))
    raise ValueError("unknown refusal kind %r" % (kind,))
