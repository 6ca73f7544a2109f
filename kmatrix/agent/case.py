"""CaseContext: what a check's run(t) gets. Stdlib only, Python 3.7.

Every link, object, fd and deferred callback a check creates through `t` is
released by cleanup(), which the agent calls in a `finally`, so a check that
raises half-way leaves nothing loaded in the kernel.

Checks read like kernel selftests (docs/cases.md): named globals (`obj.bss.hits`,
agent/globals.py), soft asserts that record what they compared and keep going
(`t.expect_eq(hits, 1, "hits")`), and rejection expectations carried by the
program itself as BTF decl tags (`__failure __msg("...")`, bpf_cases/include/kmatrix.h).
"""

import base64
import errno as _errno
import hashlib
import os
import shutil
import struct
import tempfile
import time

from . import btf as _btf
from . import globals as _globals
from . import libbpf as _lb
from .reasons import ENVIRONMENT_BLOCKS, REASON_CLASSES
from .tags import REJECTERS, Rejection  # noqa: F401 (Rejection: part of this API)


class _OnFirstUse(object):
    """A sibling module imported when a case first uses it: most runs need the
    module builder, the network helpers or perf events in a few cases at most, and
    every module compiled before the first case costs under TCG."""

    def __init__(self, name):
        self._name = name

    def __getattr__(self, attr):
        import importlib

        mod = importlib.import_module("." + self._name, __package__)
        return getattr(mod, attr)


_kmod = _OnFirstUse("kmod")
_net = _OnFirstUse("net")
_perfev = _OnFirstUse("perfev")


# Verifier messages that only mean "no JIT": with bpf_jit_enable=0 the load of a
# program using kfuncs, callbacks or tail calls from subprograms fails with these.
INTERPRETER_MESSAGES = (
    "JIT is required",
    "non-JITed programs",
    "JIT does not support calling kernel function",
)


def _as_list(val):
    if val is None:
        return []
    if isinstance(val, (list, tuple)):
        return list(val)
    return [val]


def _matching_line(log, needle):
    for line in log.splitlines():
        if needle in line:
            return line.strip()
    return needle


def _line_at(text, pos):
    start = text.rfind("\n", 0, pos) + 1
    end = text.find("\n", pos)
    return text[start:end if end >= 0 else len(text)].strip()


# The global the agent fills with its own tgid (bpf_cases/include/kmatrix.h: kmx_ours()).
TGID_VAR = "kmx_tgid"
# Printed by libbpf when the kernel refused a program load and it shows the verifier's log.
VERIFIER_LOG_MARKS = ("BEGIN PROG LOAD LOG", "BEGIN DUMP LOG")


def _find_in_order(log, groups):
    """(line of the last group's match, None) or (None, the group that is missing)."""
    pos, line = 0, None
    for group in groups:
        hits = [(log.find(alt, pos), alt) for alt in group]
        hits = [(i, alt) for i, alt in hits if i >= 0]
        if not hits:
            return None, group
        i, alt = min(hits)
        line = _line_at(log, i)
        pos = i + len(alt)
    return line, None


LONG_BYTES = 32  # longer byte strings are summarised in details and messages


def _show(v):
    """A value as a failed expectation prints it: ints also in hex when large."""
    if isinstance(v, (bytes, bytearray)) and len(v) > LONG_BYTES:
        return "%d bytes %s..." % (len(v), bytes(v[:16]).hex())
    if isinstance(v, (list, tuple)):
        inner = ", ".join(_show(x) for x in v)
        return "[%s]" % inner if isinstance(v, list) else "(%s)" % inner
    if isinstance(v, bool) or not isinstance(v, int):
        return repr(v)
    if abs(v) >= 0x10000:
        return "%d (%s0x%x)" % (v, "-" if v < 0 else "", abs(v))
    return str(v)


def _differ(actual, expected):
    """Why two byte strings differ, when one is long: where, not a dump of both."""
    if not (isinstance(actual, (bytes, bytearray)) and isinstance(expected, (bytes, bytearray))
            and max(len(actual), len(expected)) > LONG_BYTES):
        return None
    n = min(len(actual), len(expected))
    at = next((i for i in range(n) if actual[i] != expected[i]), n)
    return "actual %d bytes != expected %d bytes, first difference at byte %d" % (
        len(actual), len(expected), at)


def _jsonable(v):
    if isinstance(v, (bytes, bytearray)):
        v = bytes(v)
        if len(v) > LONG_BYTES:
            return _show(v)
        if all(0x20 <= c < 0x7F for c in v):
            return v.decode("ascii")
        return v.hex()
    if isinstance(v, dict):
        return dict((str(k), _jsonable(x)) for k, x in v.items())
    if isinstance(v, (list, tuple)):
        return [_jsonable(x) for x in v]
    return v


def _elf_section(elf, name):
    """Bytes of the section called `name` in a little-endian ELF64 file, or None."""
    if elf[:4] != b"\x7fELF" or elf[4] != 2 or elf[5] != 1:
        raise ValueError("not a little-endian ELF64 object")
    shoff, = struct.unpack_from("<Q", elf, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", elf, 0x3A)
    heads = [struct.unpack_from("<IIQQQQ", elf, shoff + i * shentsize) for i in range(shnum)]
    stroff = heads[shstrndx][4]
    want = name.encode() if not isinstance(name, bytes) else name
    for sh_name, _typ, _flags, _addr, off, size in heads:
        end = elf.index(b"\0", stroff + sh_name)
        if elf[stroff + sh_name:end] == want:
            return elf[off:off + size]
    return None


class CaseOutcome(BaseException):
    """Base of skip/fail signals. BaseException so a check's `except Exception` keeps them."""


class Skip(CaseOutcome):
    def __init__(self, reason_class, sentence):
        if reason_class not in REASON_CLASSES:
            raise ValueError("reason_class must be one of %s, not %r"
                             % (", ".join(REASON_CLASSES), reason_class))
        self.reason_class = reason_class
        self.sentence = sentence
        CaseOutcome.__init__(self, sentence)


class Fail(CaseOutcome):
    def __init__(self, sentence):
        self.sentence = sentence
        CaseOutcome.__init__(self, sentence)


LoadFailed = _lb.LoadFailed
AttachFailed = _lb.AttachFailed
LibbpfError = _lb.LibbpfError


class CaseContext(object):
    """The `t` of run(t). `obj_source` is a path to the .bpf.o or its bytes (or None)."""

    # So checks can catch load/attach failures without importing the agent.
    LoadFailed = _lb.LoadFailed
    AttachFailed = _lb.AttachFailed
    LibbpfError = _lb.LibbpfError
    # The agent's helper modules: the one import path checks use (`t.net.veth_pair(t)`),
    # the same in the bundle and in a checkout.
    net = _net
    perfev = _perfev
    libbpf = _lb

    def __init__(self, case_id, meta, facts, workdir, lib=None, obj_source=None,
                 lib_error=None, files=None, prebuilt=None, publish=None):
        self.id = case_id
        self.family, _, self.name = case_id.partition("/")
        self.meta = meta or {}
        self.facts = facts
        self.workdir = workdir
        self.lib = lib
        self.lib_error = lib_error
        self.obj_source = obj_source
        self.details = {}
        self._links = []
        self._objs = []
        self._fds = []
        self._deferred = []
        self._final = []  # run after objects are closed (module unload)
        # CASE["files"]: relative path -> bytes, or a callable returning that mapping.
        self._files = files
        self._files_dir = None
        # Module cache: prebuilt(key) -> .ko bytes shipped in the bundle, or None;
        # publish(event) sends a fresh build to the controller's cache.
        self._prebuilt = prebuilt
        self._publish = publish
        self._kmods = {}  # .ko path -> {"subdir", "timeout", "cached", "key"}
        self._failures = []  # soft expectations that failed (expect_eq ...)

    # -- facts -----------------------------------------------------------------

    @property
    def arch(self):
        return os.uname().machine

    # -- outcomes --------------------------------------------------------------

    def skip(self, reason_class, sentence):
        if self._failures:  # a failed expectation outweighs a later skip
            raise Fail(self._summary("then the check skipped: %s" % sentence))
        raise Skip(reason_class, sentence)

    def fail(self, sentence):
        raise Fail(self._summary(sentence))

    def expect(self, cond, sentence):
        """Hard: stop the check here with `sentence` unless `cond` holds."""
        if not cond:
            raise Fail(self._summary(sentence))

    def detail(self, key, value):
        """Record `value` under `key` in the result's details; returns `value`."""
        self.details[str(key)] = value
        return value

    # -- soft expectations (selftests' ASSERT_*): record, keep going, fail at the end --

    def _soft(self, ok, actual, what, text):
        self.details[str(what)] = _jsonable(actual)
        if not ok:
            self._failures.append("%s: %s" % (what, text))
            self.details["failed"] = list(self._failures)
        return bool(ok)

    def expect_eq(self, actual, expected, what):
        return self._soft(actual == expected, actual, what, _differ(actual, expected) or
                          "actual %s != expected %s" % (_show(actual), _show(expected)))

    def expect_ne(self, actual, expected, what):
        return self._soft(actual != expected, actual, what,
                          "actual %s == expected-not %s" % (_show(actual), _show(expected)))

    def expect_ge(self, actual, expected, what):
        return self._soft(actual >= expected, actual, what,
                          "actual %s < expected %s" % (_show(actual), _show(expected)))

    def expect_le(self, actual, expected, what):
        return self._soft(actual <= expected, actual, what,
                          "actual %s > expected %s" % (_show(actual), _show(expected)))

    def expect_gt(self, actual, expected, what):
        return self._soft(actual > expected, actual, what,
                          "actual %s <= expected %s" % (_show(actual), _show(expected)))

    def expect_lt(self, actual, expected, what):
        return self._soft(actual < expected, actual, what,
                          "actual %s >= expected %s" % (_show(actual), _show(expected)))

    def expect_true(self, actual, what):
        return self._soft(bool(actual), actual, what, "actual %s is not true" % _show(actual))

    def expect_false(self, actual, what):
        return self._soft(not actual, actual, what, "actual %s is not false" % _show(actual))

    def expect_values(self, source, **expected):
        """expect_eq(source[name], value, name) for each name=value: the globals of a
        section (`t.expect_values(obj.bss, hits=1, rc=0)`) or the members of a struct.
        Returns True when all hold."""
        ok = True
        for name in sorted(expected):
            ok = self.expect_eq(source[name], expected[name], name) and ok
        return ok

    @property
    def failures(self):
        return list(self._failures)

    def _summary(self, last=None):
        items = self._failures + ([last] if last else [])
        if len(self._failures) > 1:
            return "%d expectations failed: %s" % (len(self._failures), "; ".join(items))
        return "; ".join(items)

    def _fail(self, sentence):
        return Fail(self._summary(sentence))

    def finish(self):
        """Called by the agent after run(t) returns: fail with every failed expectation."""
        if self._failures:
            raise Fail(self._summary())

    # -- BPF -------------------------------------------------------------------

    def _need_lib(self):
        if self.lib is None:
            raise RuntimeError("libbpf is not available on this target: %s" % self.lib_error)
        return self.lib

    def open(self):
        """Open this case's object without loading it (to tweak it first)."""
        lb = self._need_lib()
        if self.obj_source is None:
            raise RuntimeError("case %s has no BPF object (build: False?)" % self.id)
        if isinstance(self.obj_source, (bytes, bytearray)):
            obj = lb.open_mem(self.obj_source, self.name)
        else:
            obj = lb.open_file(str(self.obj_source), self.name)
        obj.elf = self.obj_source
        self._objs.append(obj)
        return obj

    @staticmethod
    def _info(obj):
        """The object's BTF view, or None for an object we cannot read it from."""
        try:
            return obj.info
        except (_globals.GlobalsError, _btf.BTFError, ValueError, struct.error, OSError):
            return None

    def load(self, only=None):
        """Open and load this case's object; `only` limits which programs load,
        else every program but those tagged __failure (they are for expect_rejected).
        Then `kmx_tgid` (kmatrix.h), when the object has it, holds the agent's tgid.

        With the JIT off, a refusal that only means "the interpreter cannot do
        this" becomes an environment-blocks skip quoting the verifier.
        """
        obj = self.open()
        info = self._info(obj)
        for prog in obj.programs():
            if only is not None:
                obj.set_autoload(prog, prog in only)
            elif info is not None and Rejection(info.tags_of(prog)).failure:
                obj.set_autoload(prog, False)
        try:
            obj.load()
        except _lb.LoadFailed as e:
            self._skip_if_interpreter(e.log)
            raise
        self._fill_tgid(obj, info)
        return obj

    def _fill_tgid(self, obj, info=None, only_if_zero=False):
        info = info or self._info(obj)
        if info is None or TGID_VAR not in info.sections.get(".bss", {}) or not obj.loaded:
            return
        if only_if_zero and obj.bss[TGID_VAR]:
            return
        obj.bss[TGID_VAR] = os.getpid()

    def wait(self, cond, trigger=None, timeout=5.0):
        """Call `trigger` (default: a getppid syscall) until cond() is true or
        `timeout` passes; returns the last cond() value."""
        trigger = trigger or os.getppid
        deadline = time.monotonic() + timeout
        val = cond()
        while not val and time.monotonic() < deadline:
            trigger()
            val = cond()
        return val

    def _jit_enable(self):
        try:
            return self.facts["bpf_jit_enable"]
        except (KeyError, TypeError):
            return None

    def _skip_if_interpreter(self, log):
        if self._jit_enable() != 0:
            return
        for needle in INTERPRETER_MESSAGES:
            if needle in (log or ""):
                raise Skip(ENVIRONMENT_BLOCKS,
                           "BPF JIT disabled (net.core.bpf_jit_enable=0); the interpreter is "
                           "in use and the verifier refuses: %s" % _matching_line(log, needle))

    def expect_rejected(self, prog=None, verifier=None, errno=None):
        """Pass only when loading `prog` is refused as expected; returns the log.

        The expectation comes from the arguments, else CASE["expect_reject"] =
        {"prog", "verifier": substring or list (any one must appear), "errno": name
        or list}, else from the program's own tags (kmatrix.h): __msg("...") (all,
        in order; __msg_or adds an alternative), __errno(E...) (any one),
        __rejected_by(verifier|libbpf). Without a program named, the case's
        meta["program"] (a tag-only case) or the object's one __failure program.
        A program that loads is a fail.
        """
        spec = self.meta.get("expect_reject") or {}
        prog = prog or spec.get("prog") or self.meta.get("program")
        wanted = _as_list(verifier if verifier is not None else spec.get("verifier"))
        errnos = _as_list(errno if errno is not None else spec.get("errno"))
        obj = self.open()
        rej = None
        if not wanted:
            info = self._info(obj)
            tagged = [p for p in obj.programs()
                      if info is not None and Rejection(info.tags_of(p)).failure]
            if prog is None and len(tagged) == 1:
                prog = tagged[0]
            rej = Rejection(info.tags_of(prog)) if info is not None and prog else None
            if rej is None or not rej.msgs:
                raise ValueError("expect_rejected: no expected message for %s: tag the "
                                 "program __failure __msg(\"...\") or set CASE['expect_reject']"
                                 % ("program %s" % prog if prog else "object %s" % self.name))
            errnos = errnos or rej.errnos
        if prog is not None:
            for name in obj.programs():
                obj.set_autoload(name, name == prog)
        what = "program %s" % prog if prog else "object %s" % self.name
        expected = rej.describe() if rej is not None else " | ".join(repr(w) for w in wanted)
        try:
            obj.load()
        except _lb.LoadFailed as e:
            log = e.log or ""
            self._skip_if_interpreter(log)
            name = _errno.errorcode.get(e.errno, str(e.errno))
            self.details["load_errno"] = name
            if rej is not None:
                line, missing = _find_in_order(log, rej.msgs)
            else:
                hit = [w for w in wanted if w in log]
                line = _matching_line(log, hit[0]) if hit else None
                missing = None if hit else wanted
            if line is not None:
                self.details["rejected_with"] = line
            by_problem = self._rejected_by_problem(rej, log)
            tail = [ln for ln in log.splitlines() if ln.strip()][-6:]
            if line is None or (errnos and name not in errnos) or by_problem:
                if self.lib is not None:
                    self.lib.log.append(log)  # the agent puts it in the result's verifier_log
            if line is None:
                raise self._fail("%s was rejected (%s), but the log has none of %s%s; it ends "
                           "with: %s" % (what, _lb.errno_text(e.errno),
                                         " | ".join(repr(w) for w in missing),
                                         " (expected %s)" % expected if rej else "",
                                         " / ".join(x.strip() for x in tail))) from None
            if errnos and name not in errnos:
                raise self._fail("%s was rejected with %s, expected %s"
                           % (what, _lb.errno_text(e.errno), " or ".join(errnos))) from None
            if by_problem:
                raise self._fail("%s: %s" % (what, by_problem)) from None
            return log
        raise self._fail("%s loaded, but it must be refused (expected %s)" % (what, expected))

    @staticmethod
    def _rejected_by_problem(rej, log):
        if rej is None or rej.by is None:
            return None
        reached = any(m in log for m in VERIFIER_LOG_MARKS)
        if rej.by == "libbpf" and reached:
            return ("the program reached the verifier, but libbpf was to refuse it before "
                    "the kernel saw it")
        if rej.by == "verifier" and not reached:
            return "the refusal did not come from the verifier (libbpf printed no verifier log)"
        if rej.by not in REJECTERS:
            return "__rejected_by(%s): say %s" % (rej.by, " or ".join(REJECTERS))
        return None

    def wait_bss(self, obj, n, done=None, trigger=None, timeout=5.0):
        """Legacy (`__u64 res[N]` cases; new checks use t.wait(lambda: obj.bss.done)):
        call `trigger` (default: a getppid syscall) until done(res) holds for the
        first `n` .bss u64 words (default: res[0] != 0) or `timeout` passes; returns res."""
        done = done or (lambda r: r[0] != 0)
        trigger = trigger or os.getppid
        deadline = time.monotonic() + timeout
        res = obj.bss_u64(n)
        while not done(res) and time.monotonic() < deadline:
            trigger()
            res = obj.bss_u64(n)
        return res

    def case_files(self):
        """Directory (private to this case, removed at cleanup) holding CASE["files"]."""
        if self._files_dir is not None:
            return self._files_dir
        files = self._files() if callable(self._files) else (self._files or {})
        d = tempfile.mkdtemp(prefix="files.", dir=self.workdir)
        os.chmod(d, 0o700)
        self._files_dir = d
        self.defer(shutil.rmtree, d, True)
        for rel, data in sorted(files.items()):
            path = os.path.join(d, rel)
            os.makedirs(os.path.dirname(path), mode=0o700, exist_ok=True)
            with open(path, "wb") as f:
                f.write(data)
        return d

    def object_insns(self, section):
        """The BPF instructions of ELF `section` in this case's object, as a list of
        (opcode, dst, src, off, imm); a ld_imm64 counts once. None if no such section.
        Lets a check prove the compiler emitted what it means to test."""
        src = self.obj_source
        if src is None:
            raise RuntimeError("case %s has no BPF object" % self.id)
        if not isinstance(src, (bytes, bytearray)):
            with open(src, "rb") as f:
                src = f.read()
        code = _elf_section(bytes(src), section)
        if code is None:
            return None
        out = []
        i = 0
        while i + 8 <= len(code):
            op, regs, off, imm = struct.unpack_from("<BBhi", code, i)
            out.append((op, regs & 0xF, regs >> 4, off, imm))
            i += 16 if op == 0x18 else 8
        return out

    def attach(self, obj, prog):
        self._fill_tgid(obj, only_if_zero=True)
        link = _lb.attach(self._need_lib(), obj, prog, "auto")
        self._links.append(link)
        return link

    def attach_xdp(self, obj, prog, ifindex):
        self._fill_tgid(obj, only_if_zero=True)
        link = _lb.attach(self._need_lib(), obj, prog, "xdp", ifindex)
        self._links.append(link)
        return link

    def attach_perf_event(self, obj, prog, pfd):
        self._fill_tgid(obj, only_if_zero=True)
        link = _lb.attach(self._need_lib(), obj, prog, "perf", pfd)
        self._links.append(link)
        return link

    # struct perf_event_attr packer, so checks need not import the agent.
    perf_attr = staticmethod(_lb.perf_attr)

    def perf_event_open(self, attr, pid=0, cpu=-1, group_fd=-1,
                        flags=_lb.PERF_FLAG_FD_CLOEXEC):
        fd = self._need_lib().perf_event_open(attr, pid, cpu, group_fd, flags)
        self._fds.append(fd)
        return fd

    def track_fd(self, fd):
        self._fds.append(fd)
        return fd

    def defer(self, fn, *args):
        """Run fn(*args) at cleanup, before links and objects go."""
        self._deferred.append((fn, args))

    def defer_last(self, fn, *args):
        """Run fn(*args) at cleanup after links, fds and objects are released."""
        self._final.append((fn, args))

    # -- kernel modules (kmod.py) -----------------------------------------------

    def build_module(self, subdir, timeout=600):
        """The module whose sources are the CASE["files"] under `subdir`, built for the
        running kernel; returns the .ko path (with .BTF). A .ko the controller cached
        for the same sources and kernel (kmod.module_key) is used instead of building;
        details["module_cache"] says hit, miss or (from insmod) stale-rebuilt.
        Missing headers/tools/module support skip; a failed build fails."""
        why = _kmod.load_blockers()
        if why is not None:
            raise Skip(why[0], why[1])
        key = None
        try:
            files = self._files() if callable(self._files) else (self._files or {})
            u = os.uname()
            key = _kmod.module_key(_kmod.module_sources(files, subdir), u.release, u.version,
                                   u.machine)
            data = self._prebuilt(key) if self._prebuilt is not None else None
        except Exception as e:  # the cache is an optimisation: never a reason to fail
            data = None
            self.details["module_cache_note"] = "cache lookup failed: %s" % e
        if key is not None:
            self.details["module_key"] = key
        if data is not None:
            ko = self._write_prebuilt(subdir, key, data)
            if ko is not None:
                self.details["module_cache"] = "hit"
                self._kmods[ko] = {"subdir": subdir, "timeout": timeout, "cached": True,
                                   "key": key}
                return ko
        return self._build_fresh(subdir, timeout, key)

    def _write_prebuilt(self, subdir, key, data):
        """Write a shipped .ko as <module name>.ko in a private dir; None if unusable."""
        why = _kmod.check_module_image(data, "the cached module %s" % key[:12])
        if why is not None:
            self.details["module_cache_note"] = "cached module ignored: %s" % why
            return None
        d = os.path.join(self.case_files(), "kmod." + os.path.basename(subdir.rstrip("/")))
        os.makedirs(d, mode=0o700, exist_ok=True)
        ko = os.path.join(d, _kmod.modinfo_name(data) + ".ko")
        with open(ko, "wb") as f:
            f.write(data)
        return ko

    def _build_fresh(self, subdir, timeout, key):
        """Build from source (kmod.py), strip debug info, and publish the .ko to the
        controller's cache once it has loaded (see insmod)."""
        try:
            kdir = _kmod.build_dir()
            _kmod.btf_precheck(kdir)
            # Only now is it a cache miss: a target without headers skips, builds nothing.
            self.details.setdefault("module_cache", "miss")
            dest = os.path.join(self.case_files(), "build." + os.path.basename(subdir))
            if os.path.exists(dest):  # a rebuild after a stale cached module
                shutil.rmtree(dest)
            _kmod.copy_sources(self.case_files(), subdir, dest)
            t0 = time.monotonic()
            ko, log = _kmod.build(dest, kdir, timeout)
            self.details["module_btf"] = _kmod.ensure_btf(ko, kdir)
            self.details["module_build_seconds"] = round(time.monotonic() - t0, 1)
        except _kmod.Unavailable as e:
            raise Skip(e.reason_class, e.sentence) from None
        except _kmod.ModuleError as e:
            if e.output:
                print(e.output)  # the agent puts a check's output in the result
            raise Fail(e.sentence) from None
        self.details["module_build_log"] = log.strip().splitlines()[-3:]
        # Debug info is most of a module's size and no use here: strip it the way
        # INSTALL_MOD_STRIP=1 does (.BTF, symbols and relocations stay), and load the
        # stripped file, so what the cache keeps is what this run proved loads.
        sdir = os.path.join(os.path.dirname(ko), "stripped")
        os.makedirs(sdir, mode=0o700, exist_ok=True)
        stripped = _kmod.strip_debug(ko, os.path.join(sdir, os.path.basename(ko)))
        if stripped is not None:
            self.details["module_stripped"] = "%d -> %d bytes" % (
                os.path.getsize(ko), os.path.getsize(stripped))
            ko = stripped
        self._kmods[ko] = {"subdir": subdir, "timeout": timeout, "cached": False, "key": key}
        return ko

    def _publish_kmod(self, ko):
        """Send a freshly built .ko that loaded to the controller (one artifact event)."""
        info = self._kmods.get(ko) or {}
        if info.get("cached") or info.get("published") or not info.get("key"):
            return
        info["published"] = True
        if self._publish is None:
            return
        with open(ko, "rb") as f:
            data = f.read()
        why = _kmod.check_module_image(data, os.path.basename(ko))
        if why is not None:
            self.details["module_cache_note"] = "not cached: %s" % why
            return
        try:
            self._publish({"event": "artifact", "kind": "kmod", "key": info["key"],
                           "sha256": hashlib.sha256(data).hexdigest(),
                           "data": base64.b64encode(data).decode("ascii")})
        except Exception as e:  # never a reason to fail the case
            self.details["module_cache_note"] = "not cached: publishing failed: %s" % e
            return
        self.details["module_published"] = len(data)

    def insmod(self, ko, params=""):
        """Load `ko` with `params`; it is unloaded at cleanup, after the BPF
        objects that pin it are gone. Returns the module name. A cached .ko the
        kernel refuses (vermagic, unknown symbol, BTF) is rebuilt from source."""
        info = self._kmods.get(ko)
        name = self._insmod_once(ko, params, raise_refusal=not (info and info["cached"]))
        if name is None:  # the cached module was refused: rebuild it and load that
            self.details["module_cache"] = "stale-rebuilt"
            ko = self._build_fresh(info["subdir"], info["timeout"], info["key"])
            name = self._insmod_once(ko, params, raise_refusal=True)
        if ko in self._kmods and _kmod.module_btf_loaded(name):
            self._publish_kmod(ko)
        return name

    def _insmod_once(self, ko, params, raise_refusal):
        """finit_module; None (when not raise_refusal) if the kernel refused the module
        or took it without its BTF, which is how a stale cached module shows."""
        name = _kmod.module_name(ko)
        if _kmod.loaded(name):  # left over from an interrupted run
            _kmod.rmmod(name)
        try:
            _kmod.insmod(ko, params)
        except _kmod.Unavailable as e:
            raise Skip(e.reason_class, e.sentence) from None
        except _kmod.ModuleError as e:
            if raise_refusal:
                raise Fail(e.sentence) from None
            self.details["module_cache_refused"] = e.sentence
            return None
        if not raise_refusal and not _kmod.module_btf_loaded(name):
            self.details["module_cache_refused"] = ("the cached module loaded without "
                                                    "/sys/kernel/btf/%s" % name)
            try:
                self._rmmod(name)
            except _kmod.ModuleError:
                self.defer_last(self._rmmod, name)
            return None
        self.defer_last(self._rmmod, name)
        return name

    @staticmethod
    def _rmmod(name, timeout=10.0):
        # A closed program drops its module reference only after an RCU grace period.
        deadline = time.monotonic() + timeout
        while True:
            try:
                _kmod.rmmod(name)
                return
            except _kmod.ModuleError:
                if time.monotonic() >= deadline:
                    raise
                time.sleep(0.1)

    def owned_ids(self):
        """Kernel ids of every BPF program, map and link this case created through `t`,
        taken before clean-up releases them: the leftover check blames only these."""
        out = {"progs": [], "maps": [], "links": []}
        for obj in self._objs:
            try:
                for k, ids in obj.owned_ids().items():
                    out[k] += ids
            except Exception:  # an id is evidence, never a reason to fail a case
                pass
        for link in self._links:
            try:
                lid = link.id()
            except Exception:
                lid = None
            if lid is not None:
                out["links"].append(lid)
        return out

    def cleanup(self):
        """Release everything; returns a list of problems (never raises)."""
        self.owned = self.owned_ids()
        problems = []
        while self._deferred:
            fn, args = self._deferred.pop()
            try:
                fn(*args)
            except Exception as e:
                problems.append("deferred %r: %s" % (fn, e))
        while self._links:
            link = self._links.pop()
            try:
                link.destroy()
            except Exception as e:
                problems.append("destroying %s: %s" % (link.what, e))
        while self._fds:
            fd = self._fds.pop()
            try:
                os.close(fd)
            except OSError:
                pass
        while self._objs:
            obj = self._objs.pop()
            try:
                obj.close()
            except Exception as e:
                problems.append("closing %s: %s" % (obj.name, e))
        while self._final:
            fn, args = self._final.pop()
            try:
                fn(*args)
            except Exception as e:
                problems.append("final %r: %s" % (fn, e))
        return problems
