"""CaseContext: what a check's run(t) gets. Stdlib only, Python 3.7.

Every link, object, fd and deferred callback a check creates through `t` is
released by cleanup(), which the agent calls in a `finally`, so a check that
raises half-way leaves nothing loaded in the kernel.
"""

import os

from . import libbpf as _lb

REASON_CLASSES = ("kernel-lacks", "environment-blocks", "hardware-missing")


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

    def __init__(self, case_id, meta, facts, workdir, lib=None, obj_source=None,
                 lib_error=None):
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
        """Open and load this case's object; `only` limits which programs load."""
        obj = self.open()
        if only is not None:
            for prog in obj.programs():
                obj.set_autoload(prog, prog in only)
        obj.load()
        return obj

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
        return problems
