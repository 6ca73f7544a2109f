"""CaseContext: what a check's run(t) gets. Stdlib only, Python 3.7.

Every link, object, fd and deferred callback a check creates through `t` is
released by cleanup(), which the agent calls in a `finally`, so a check that
raises half-way leaves nothing loaded in the kernel.
"""

import errno as _errno
import os
import shutil
import struct
import tempfile
import time

from . import kmod as _kmod
from . import libbpf as _lb

REASON_CLASSES = ("kernel-lacks", "environment-blocks", "hardware-missing")

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

    def __init__(self, case_id, meta, facts, workdir, lib=None, obj_source=None,
                 lib_error=None, files=None):
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

    # -- facts -----------------------------------------------------------------

    @property
    def arch(self):
        return os.uname().machine

    # -- outcomes --------------------------------------------------------------

    def skip(self, reason_class, sentence):
        raise Skip(reason_class, sentence)

    def fail(self, sentence):
        raise Fail(sentence)

    def expect(self, cond, sentence):
        if not cond:
            raise Fail(sentence)

    def detail(self, key, value):
        self.details[str(key)] = value

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
        self._objs.append(obj)
        return obj

    def load(self, only=None):
        """Open and load this case's object; `only` limits which programs load.

        With the JIT off, a refusal that only means "the interpreter cannot do
        this" becomes an environment-blocks skip quoting the verifier.
        """
        obj = self.open()
        if only is not None:
            for prog in obj.programs():
                obj.set_autoload(prog, prog in only)
        try:
            obj.load()
        except _lb.LoadFailed as e:
            self._skip_if_interpreter(e.log)
            raise
        return obj

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
                raise Skip("environment-blocks",
                           "BPF JIT disabled (net.core.bpf_jit_enable=0); the interpreter is "
                           "in use and the verifier refuses: %s" % _matching_line(log, needle))

    def expect_rejected(self, prog=None, verifier=None, errno=None):
        """Pass only when loading is refused with an expected message.

        Defaults come from CASE["expect_reject"] = {"prog": name, "verifier":
        substring or list (any one must appear in the libbpf/verifier log),
        "errno": "EACCES" or a list of errno names}. A program that loads is a fail.
        Returns the log text.
        """
        spec = self.meta.get("expect_reject") or {}
        prog = prog or spec.get("prog")
        wanted = _as_list(verifier if verifier is not None else spec.get("verifier"))
        errnos = _as_list(errno if errno is not None else spec.get("errno"))
        if not wanted:
            raise ValueError("expect_rejected needs a verifier substring (CASE['expect_reject'])")
        obj = self.open()
        if prog is not None:
            for name in obj.programs():
                obj.set_autoload(name, name == prog)
        what = "program %s" % prog if prog else "object %s" % self.name
        try:
            obj.load()
        except _lb.LoadFailed as e:
            log = e.log or ""
            self._skip_if_interpreter(log)
            name = _errno.errorcode.get(e.errno, str(e.errno))
            self.details["load_errno"] = name
            hit = [w for w in wanted if w in log]
            if hit:
                self.details["rejected_with"] = _matching_line(log, hit[0])
            tail = [ln for ln in log.splitlines() if ln.strip()][-6:]
            if not hit or (errnos and name not in errnos):
                if self.lib is not None:
                    self.lib.log.append(log)  # the agent puts it in the result's verifier_log
            if not hit:
                raise Fail("%s was rejected (%s), but the log has none of %s; it ends with: %s"
                           % (what, _lb.errno_text(e.errno), " | ".join(repr(w) for w in wanted),
                              " / ".join(x.strip() for x in tail))) from None
            if errnos and name not in errnos:
                raise Fail("%s was rejected with %s, expected %s"
                           % (what, _lb.errno_text(e.errno), " or ".join(errnos))) from None
            return log
        raise Fail("%s loaded, but it must be refused (expected %s)"
                   % (what, " | ".join(repr(w) for w in wanted)))

    def wait_bss(self, obj, n, done=None, trigger=None, timeout=5.0):
        """Call `trigger` (default: a getppid syscall) until done(res) holds for the
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
        link = _lb.attach(self._need_lib(), obj, prog, "auto")
        self._links.append(link)
        return link

    def attach_xdp(self, obj, prog, ifindex):
        link = _lb.attach(self._need_lib(), obj, prog, "xdp", ifindex)
        self._links.append(link)
        return link

    def attach_perf_event(self, obj, prog, pfd):
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
        """Build the module whose sources are the CASE["files"] under `subdir`
        against the running kernel's headers; returns the .ko path (with .BTF).
        Missing headers/tools/module support skip; a failed build fails."""
        try:
            why = _kmod.load_blockers()
            if why is not None:
                raise Skip(why[0], why[1])
            kdir = _kmod.build_dir()
            _kmod.btf_precheck(kdir)
            dest = os.path.join(self.case_files(), "build." + os.path.basename(subdir))
            _kmod.copy_sources(self.case_files(), subdir, dest)
            ko, log = _kmod.build(dest, kdir, timeout)
            self.details["module_btf"] = _kmod.ensure_btf(ko, kdir)
        except _kmod.Unavailable as e:
            raise Skip(e.reason_class, e.sentence) from None
        except _kmod.ModuleError as e:
            if e.output:
                print(e.output)  # the agent puts a check's output in the result
            raise Fail(e.sentence) from None
        self.details["module_build_log"] = log.strip().splitlines()[-3:]
        return ko

    def insmod(self, ko, params=""):
        """Load `ko` with `params`; it is unloaded at cleanup, after the BPF
        objects that pin it are gone. Returns the module name."""
        name = _kmod.module_name(ko)
        if _kmod.loaded(name):  # left over from an interrupted run
            _kmod.rmmod(name)
        try:
            _kmod.insmod(ko, params)
        except _kmod.Unavailable as e:
            raise Skip(e.reason_class, e.sentence) from None
        except _kmod.ModuleError as e:
            raise Fail(e.sentence) from None
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

    def cleanup(self):
        """Release everything; returns a list of problems (never raises)."""
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
