"""The target-side agent: `python3 agent.pyz run`.

Started by the launcher (agent/launch.py) in the same interpreter that gathered
the facts, or by hand. Reads plan.json (next to agent.pyz first, else the one
inside the zip; a resume ships a new bundle whose plan says what already ran),
runs each case and prints one JSON object per line (hello, probes, start,
result..., cleanup, done), flushed after each line and appended to
WORKDIR/journal.jsonl. With plan["clean_up"] it ends by reaping its processes,
taking the leftover inventory and removing its work directory. Stdlib only,
Python 3.7.
"""

import io
import json
import linecache
import os
import platform
import shutil
import signal
import subprocess
import sys
import time

from . import btf as _btf
from . import case as _case
from . import dmesg as _dmesg
from . import leftovers as _leftovers
from . import libbpf as _libbpf
from . import libload as _libload
from . import preflight as _preflight
from . import probes as _probes
from . import reasons as _reasons
from . import requires as _requires

# Imported where used, not here: under TCG every module the agent imports before
# its first case costs (traceback, zipfile, refusals, compile: ~0.5 s on riscv64).

AGENT_VERSION = "0.1.0"
MAX_OUTPUT = 64 * 1024
MAX_LOG = 256 * 1024
MAX_REASON = 4 * 1024
MAX_DETAILS = 64 * 1024  # the details mapping, as JSON
MAX_DETAIL = 8 * 1024  # one detail value, as JSON, when the mapping is over MAX_DETAILS
# Every event line stays under this; the controller's own bound is 1 MiB
# (kmatrix.runner.MAX_EVENT_LINE), and JSON escaping can grow a field six-fold.
MAX_EVENT = 768 * 1024

class Bundle(object):
    """Files of the bundle: a zipapp, or a directory with the same layout."""

    def __init__(self, path):
        import zipimport  # already loaded: the agent itself is imported from the zip

        self.path = path
        self.zip = None
        self.fd = None
        if os.path.isfile(path):
            # Held open: if a check removes the work directory, restore() puts the
            # bundle back (the agent's lazily imported modules are in it too).
            self.fd = os.open(path, os.O_RDONLY)
            try:
                self.zip = zipimport.zipimporter(path)
            except zipimport.ZipImportError:
                self.zip = None

    def restore(self):
        """Write the bundle back to its path from the open descriptor."""
        if self.fd is None or os.path.exists(self.path):
            return
        tmp = self.path + ".restore"
        out = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.lseek(self.fd, 0, os.SEEK_SET)
            while True:
                chunk = os.read(self.fd, 1 << 20)
                if not chunk:
                    break
                while chunk:
                    chunk = chunk[os.write(out, chunk):]
        finally:
            os.close(out)
        os.rename(tmp, self.path)

    def read(self, name):
        if self.zip is not None:
            try:
                return self.zip.get_data(name)
            except OSError:
                return None
        p = os.path.join(self.path, name)
        try:
            with open(p, "rb") as f:
                return f.read()
        except OSError:
            return None

    def names(self, prefix):
        """Member names under `prefix` ("include/")."""
        if self.zip is not None:
            import zipfile

            with zipfile.ZipFile(self.path) as z:
                return sorted(n for n in z.namelist()
                              if n.startswith(prefix) and not n.endswith("/"))
        d = os.path.join(self.path, prefix)
        return sorted(prefix + n for n in os.listdir(d)) if os.path.isdir(d) else []


class LazyFacts(dict):
    """Facts the launcher gathered (`run --facts FILE`), the rest computed on first use."""

    def __missing__(self, key):
        compute = _preflight.AGENT_FACTS.get(key)
        if compute is None:
            raise KeyError(key)
        for k, v in compute(self).items():
            dict.__setitem__(self, k, v)
        return dict.__getitem__(self, key)


class Emitter(object):
    """Writes event lines to the saved stdout fd and to the journal."""

    def __init__(self, fd, journal_path):
        self.fd = fd
        self.journal = os.fdopen(os.open(journal_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND,
                                         0o600), "a")

    def emit(self, obj):
        line = json.dumps(obj, sort_keys=True, default=str) + "\n"
        if len(line) > MAX_EVENT and obj.get("event") != "artifact":  # kmod.MAX_KO_BYTES
            line = json.dumps(_fit(obj, len(line)), sort_keys=True, default=str) + "\n"
        if self.journal is not None:
            self.journal.write(line)
            self.journal.flush()
            if obj.get("event") not in ("hello", "probes", "start"):
                # A reset target must not lose finished results; the other lines are
                # cheap to lose (~20 ms per fsync under TCG).
                os.fdatasync(self.journal.fileno())
        if self.fd is None:
            return  # the controller went away; the journal keeps the record
        data = line.encode("utf-8")
        try:
            while data:
                n = os.write(self.fd, data)
                data = data[n:]
        except OSError:
            # EPIPE/EIO when the SSH session drops: keep running the plan, writing
            # only the journal, so a reconnecting controller can follow it.
            try:
                os.close(self.fd)
            except OSError:
                pass
            self.fd = None

    def reopen(self, journal_path):
        """A new journal file (a check removed the old one with the work directory)."""
        self.close()
        self.journal = os.fdopen(os.open(journal_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND,
                                         0o600), "a")

    def close(self):
        if self.journal is not None:
            self.journal.close()
            self.journal = None


class CaseTimeout(BaseException):
    pass


def _on_alarm(signum, frame):
    raise CaseTimeout()


def _on_term(signum, frame):
    raise KeyboardInterrupt()


def _traceback():
    import traceback

    return traceback.format_exc()


def _clip(text, limit):
    """`text` within `limit` characters: its head and tail, and how much was cut
    (of how much: the original size is noted)."""
    if not isinstance(text, str):
        text = str(text)
    if len(text) <= limit:
        return text
    return text[:limit // 2] + "\n[... %d of %d characters cut ...]\n" % (
        len(text) - limit, len(text)) + text[len(text) - limit // 2:]


def _clip_details(details, limit=MAX_DETAILS, each=MAX_DETAIL):
    """A case's details within `limit` bytes of JSON: a value over `each` becomes
    its clipped JSON text (original size noted), and keys past the limit go, counted.
    A check may t.detail() anything; the event line must stay bounded."""
    details = details or {}
    try:
        if len(json.dumps(details, default=str)) <= limit:
            return details
    except (ValueError, TypeError, RecursionError):
        pass
    out, used, dropped = {}, 0, 0
    for key in sorted(details, key=str):
        try:
            text = json.dumps(details[key], default=str)
            value = details[key]
        except (ValueError, TypeError, RecursionError) as e:
            text = value = "<not JSON: %s>" % type(e).__name__
        if len(text) > each:
            value = _clip(text, each)
            text = json.dumps(value)
        if used + len(text) + len(str(key)) > limit:
            dropped += 1
            continue
        out[str(key)[:256]] = value
        used += len(text) + len(str(key))
    if dropped:
        out["kmatrix_details_cut"] = "%d detail(s) cut: over %d bytes" % (dropped, limit)
    return out


def _fit(obj, size):
    """An event whose JSON line is `size` bytes, over MAX_EVENT, made to fit: its
    text fields are clipped harder (escaping can make a clipped field grow)."""
    obj = dict(obj)
    scale = max(2, size // MAX_EVENT + 1) * 4
    for key in ("reason", "output", "verifier_log"):
        if isinstance(obj.get(key), str):
            obj[key] = _clip(obj[key], max(256, len(obj[key]) // scale))
    if isinstance(obj.get("dmesg"), list):
        obj["dmesg"] = [_clip(x, 512) for x in obj["dmesg"][:50]]
    if isinstance(obj.get("details"), dict):
        obj["details"] = _clip_details(obj["details"], MAX_DETAILS // 4, MAX_DETAIL // 8)
    line = json.dumps(obj, sort_keys=True, default=str)
    if len(line) > MAX_EVENT:
        # Still too big (an event of another kind, or pathological escaping): say so.
        keep = {k: obj[k] for k in ("event", "case", "family", "state", "duration")
                if k in obj}
        keep["reason"] = "the agent cut this %s event: %d bytes" % (obj.get("event"), size)
        if obj.get("event") == "result":
            keep["state"] = "error"
        return keep
    return obj


def result_event(case_id, state, reason="", reason_class=None, duration=0.0, details=None,
                 verifier_log="", dmesg=None, output=""):
    return {"event": "result", "case": case_id, "family": case_id.partition("/")[0],
            "state": state, "reason": _clip(reason, MAX_REASON), "reason_class": reason_class,
            "duration": round(duration, 4), "details": _clip_details(details),
            "verifier_log": _clip(verifier_log, MAX_LOG), "dmesg": dmesg or [],
            "output": _clip(output, MAX_OUTPUT)}


def _load_check(bundle, entry):
    path = entry.get("check") or "cases/%s.py" % entry["id"]
    src = bundle.read(path)
    if src is None:
        raise RuntimeError("check %s is missing from the bundle" % path)
    text = src.decode("utf-8")
    # Let tracebacks show source lines although the file lives inside a zip.
    linecache.cache[path] = (len(text), None, text.splitlines(True), path)
    ns = {"__name__": "kmatrix_case_" + entry["id"].replace("/", "_"), "__file__": path}
    exec(compile(text, path, "exec"), ns)
    if not callable(ns.get("run")):
        raise RuntimeError("check %s defines no run(t)" % path)
    return ns


class RemoteBuilder(object):
    """build == "remote": vmlinux.h and clang on the target, into WORKDIR/build."""

    def __init__(self, bundle, workdir, arch):
        self.bundle = bundle
        self.dir = os.path.join(workdir, "build")
        self.arch = arch
        self.header_error = None
        self.header_dir = None

    def _header(self):
        if self.header_dir or self.header_error:
            return
        os.makedirs(self.dir, mode=0o700, exist_ok=True)
        bpftool = _preflight.which("bpftool")
        if not bpftool:
            self.header_error = "bpftool not found on the target (needed for vmlinux.h)"
            return
        out = os.path.join(self.dir, "vmlinux.h")
        with open(out, "wb") as f:
            p = subprocess.run([bpftool, "btf", "dump", "file", _btf.VMLINUX, "format", "c"],
                               stdout=f, stderr=subprocess.PIPE)
        if p.returncode != 0:
            self.header_error = "bpftool btf dump failed: %s" % p.stderr.decode("utf-8", "replace")
            return
        # The shared headers (bpf_cases/include: kmatrix.h) go next to vmlinux.h.
        for name in self.bundle.names("include/"):
            with open(os.path.join(self.dir, os.path.basename(name)), "wb") as f:
                f.write(self.bundle.read(name) or b"")
        self.header_dir = self.dir

    def build(self, entry):
        """(object path or None, compiler output)."""
        self._header()
        if self.header_error:
            return None, self.header_error
        src_name = entry.get("src") or "src/%s.bpf.c" % entry["id"]
        data = self.bundle.read(src_name)
        if data is None:
            return None, "source %s is missing from the bundle" % src_name
        src = os.path.join(self.dir, entry["id"].replace("/", "__") + ".bpf.c")
        obj = src[:-2] + ".o"
        with open(src, "wb") as f:
            f.write(data)
        meta = entry.get("meta") or {}
        from .compile import compile_argv, own_diagnostics

        argv = compile_argv(meta.get("compiler", "clang"), src, obj,
                            [self.header_dir, "/usr/include"], self.arch,
                            meta.get("cflags") or [])
        if meta.get("compiler", "clang") == "clang":
            exe = _preflight.which("clang")
            if not exe:
                return None, "clang not found on the target"
            argv[0] = exe
        try:
            p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               timeout=600)
        except (OSError, subprocess.SubprocessError) as e:
            return None, "%s: %s" % (argv[0], e)
        text = own_diagnostics(p.stdout.decode("utf-8", "replace"), [self.dir, "/usr/include"])
        if p.returncode != 0:
            return None, "$ %s\n%s" % (" ".join(argv), text)
        return obj, text


class Agent(object):
    def __init__(self, bundle, plan, emitter, facts=None):
        self.bundle = bundle
        self.plan = plan
        self.emitter = emitter
        self.workdir = plan["workdir"]
        self.facts = LazyFacts(facts or {})
        self._btf_ids = None
        self.own = {"progs": [], "maps": [], "links": []}  # ids this run created
        self.probes = _probes.Probes(_probes.Context(self.btf_ids,
                                                     lambda: self.facts["kernel_config"]))
        self.lib = None
        self.lib_error = None
        self.cgroup_left = None  # main() moves a real run into its own cgroup
        # Each check in a child process (_isolated). False runs it in this process:
        # for tests that fake kernel calls in-process and count them.
        self.fork_checks = True
        try:
            # plan["libbpf"]: the bundled build, loaded by path, or the target's own
            self.lib = _libload.load(bundle, plan, self.workdir)
        except OSError as e:
            self.lib_error = str(e)
        arch = plan.get("arch") or platform.machine()
        self.remote = RemoteBuilder(bundle, self.workdir, arch) \
            if plan.get("build") == "remote" else None

    def btf_ids(self):
        # Parsed once per run, and only when a case or a probe asks for BTF functions.
        if self._btf_ids is None:
            self._btf_ids = _btf.vmlinux_func_ids()
        return self._btf_ids

    def btf_names(self):
        return self.btf_ids().keys()

    def hello(self):
        # What earlier runs whose controller died left here: reaped and removed now
        # (the controller reports it), unless a live run holds it.
        stale = _leftovers.sweep(self.workdir)
        self.emitter.emit({"event": "hello", "agent": AGENT_VERSION, "stale": stale,
                           "python": platform.python_version(),
                           "libbpf": self.lib.version() if self.lib else None,
                           "libbpf_error": self.lib_error, "pid": os.getpid(),
                           "run_id": self.plan.get("run_id"), "workdir": self.workdir})

    def run(self):
        self.hello()
        # Every probe once per host, so the report shows what this kernel offers even
        # for features no selected case needs; each costs a bpf(2) call or two.
        self.emitter.emit({"event": "probes", "probes": self.probes.all()})
        done = set(self.plan.get("resume_after") or [])
        count = 0
        for entry in self.plan.get("cases") or []:
            if entry["id"] in done:
                continue
            self.emitter.emit({"event": "start", "case": entry["id"]})
            ev = self.run_case(entry)
            if self._restore_workdir():
                ev = result_event(entry["id"], "error", "the check removed the agent's work "
                                  "directory %s (made again); its own verdict was %s: %s"
                                  % (self.workdir, ev.get("state"), ev.get("reason")),
                                  duration=ev.get("duration") or 0.0, details=ev.get("details"),
                                  output=ev.get("output") or "")
            self.emitter.emit(ev)
            count += 1
        if self.plan.get("clean_up"):
            self.clean_up()
        self.emitter.emit({"event": "done", "count": count})
        return 0

    def clean_up(self):
        """Reap this run's processes, take the leftover inventory, remove the work
        directory. While the controller is gone (the stream broke) the directory
        stays: its journal is what a reconnecting controller follows."""
        t0 = time.monotonic()
        after = _leftovers.snapshot(self.workdir, before=self.facts.get("inventory"))
        _leftovers.leave_cgroup(self.workdir, self.cgroup_left)
        after["seconds"] = round(time.monotonic() - t0, 3)  # what the check costs a run
        removed = False
        if self.emitter.fd is not None:
            self.emitter.close()  # the journal lives in the directory going away
            shutil.rmtree(self.workdir, ignore_errors=True)
            removed = not os.path.exists(self.workdir)
        self.emitter.emit({"event": "cleanup", "after": after, "removed": removed,
                           "workdir": self.workdir})

    def run_case(self, entry):
        cid = entry["id"]
        meta = entry.get("meta") or {}
        t0 = time.monotonic()
        try:
            why = _requires.evaluate(meta.get("requires") or {}, self.facts, self.btf_names,
                                     self.probes.get)
        except Exception:
            return result_event(cid, "error", "evaluating requires failed",
                                output=_traceback())
        if why is not None:
            # Before the compile error: a case for a feature the kernel lacks often
            # cannot even compile against that kernel's vmlinux.h.
            return result_event(cid, "skip", why[1], why[0], time.monotonic() - t0)
        if entry.get("build_error") is not None:
            return compile_failed(cid, "BPF object did not compile", entry["build_error"])
        obj_source = None
        details = {}
        if meta.get("build", True):
            if self.lib is None:
                return result_event(cid, "error", "libbpf is not usable on this target: %s"
                                    % self.lib_error)
            if self.remote is not None:
                c0 = time.monotonic()
                obj_source, out = self.remote.build(entry)
                details["compile_seconds"] = round(time.monotonic() - c0, 3)
                if obj_source is None:
                    return compile_failed(cid, "BPF object did not compile on the target", out,
                                          details)
            else:
                obj_name = entry.get("obj") or "objs/%s.bpf.o" % cid
                obj_source = self.bundle.read(obj_name)
                if obj_source is None:
                    return result_event(cid, "error", "object %s is missing from the bundle"
                                        % obj_name)
        return self._isolated(cid, lambda: self._import_and_execute(cid, meta, entry,
                                                                    obj_source, details),
                              float(entry.get("timeout") or 60))

    def _import_and_execute(self, cid, meta, entry, obj_source, details):
        try:
            ns = _load_check(self.bundle, entry)
        except Exception:
            return result_event(cid, "error", "the check module failed to import",
                                output=_traceback())
        return self._execute(cid, ns, meta, entry, obj_source, details)

    def _isolated(self, cid, work, timeout):
        """work() -> result event, run in a child process: a check that exits
        (sys.exit, os._exit), kills itself or closes the agent's descriptors ends
        only that child, and the case is an error naming what it did (docs/design.md:
        "One process per check"). The child loads, attaches and triggers itself, so
        kmx_ours() (its own tgid) and the objects it owns are its own."""
        if not self.fork_checks:
            return work()
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            code = _CHILD_CRASHED
            try:
                os.close(r)
                data = json.dumps(work(), sort_keys=True, default=str).encode("utf-8")
                code = _CHILD_NO_PIPE
                while data:
                    data = data[os.write(w, data):]
                code = 0
            except BaseException as e:  # sys.exit, KeyboardInterrupt: say which
                if code == _CHILD_CRASHED:
                    try:
                        data = json.dumps(result_event(
                            cid, "error", "the check ended its process: %s" % _what(e),
                            output=_traceback())).encode("utf-8")
                        while data:
                            data = data[os.write(w, data):]
                        code = 0
                    except BaseException:
                        pass
            finally:
                os._exit(code)
        os.close(w)
        t0 = time.monotonic()
        chunks, status = [], None
        try:
            chunks, status = _collect(r, pid, timeout + CHILD_GRACE)
        except KeyboardInterrupt:
            _stop_child(pid)  # SIGTERM: its `finally` releases what it holds
            raise
        finally:
            os.close(r)
        duration = time.monotonic() - t0
        data = b"".join(chunks)
        if data and status is not None and os.WIFEXITED(status) and \
                os.WEXITSTATUS(status) == 0:
            try:
                ev = json.loads(data.decode("utf-8", "replace"))
                if isinstance(ev, dict) and ev.get("case") == cid:
                    return ev
            except ValueError:
                pass
        return result_event(cid, "error", _death(status, timeout + CHILD_GRACE), duration=duration)

    def _restore_workdir(self):
        """True when a check removed the work directory: it comes back (mode 0700)
        with a new journal, so that case is named and the next is not blamed."""
        if os.path.isdir(self.workdir):
            return False
        os.makedirs(self.workdir, mode=0o700, exist_ok=True)
        self.bundle.restore()
        self.emitter.reopen(os.path.join(self.workdir, "journal.jsonl"))
        if self.remote is not None:
            self.remote.header_dir = None  # its build directory went with it
        return True

    def _remember(self, owned):
        """Append a case's new object ids to WORKDIR/own_objects.jsonl, which clean-up
        reads (kmatrix_agent.leftovers): on a shared target only our objects are
        leftovers. Appending, not replacing: a rename costs a flush (~20 ms a case
        under TCG), and a torn last line only loses that case's ids."""
        new = {}
        for kind, ids in owned.items():
            have = self.own.setdefault(kind, [])
            fresh = [i for i in ids if i not in have]
            have.extend(fresh)
            if fresh:
                new[kind] = fresh
        if new:
            with open(os.path.join(self.workdir, _leftovers.OWN_OBJECTS), "a") as f:
                f.write(json.dumps(new, sort_keys=True) + "\n")

    def _refusal(self, err):
        """(reason_class, sentence) when a load/attach refusal means the kernel lacks
        the feature (agent/refusals.py, golden-tested); None for a real failure."""
        from . import refusals as _refusals

        if isinstance(err, _libbpf.AttachFailed):
            return _refusals.classify_attach(err.section, err.errno, platform.machine())
        if isinstance(err, _libbpf.LoadFailed):
            return _refusals.classify_load(err.log or "", err.errno,
                                           self.lib.version() if self.lib else None,
                                           privileged=bpf_privileged())
        return None

    def _case_files(self, entry):
        """CASE["files"] as shipped in the bundle: relative path -> bytes."""
        out = {}
        for rel, name in sorted((entry.get("files") or {}).items()):
            data = self.bundle.read(name)
            if data is None:
                raise RuntimeError("case file %s is missing from the bundle" % name)
            out[rel] = data
        return out

    def _kmod_prebuilt(self, key):
        """The .ko bytes the controller cached for module key `key` (plan["kmods"]), or None."""
        member = (self.plan.get("kmods") or {}).get(key)
        return self.bundle.read(member) if member else None

    def _publish_artifact(self, event):
        """A fresh build for the controller's cache: one event line, before the result."""
        self.emitter.emit(dict(event, event="artifact"))

    def _execute(self, cid, ns, meta, entry, obj_source, details):
        timeout = float(entry.get("timeout") or 60)  # the plan's, not meta's: one channel
        t = _case.CaseContext(cid, meta, self.facts, self.workdir, self.lib, obj_source,
                              self.lib_error, files=lambda: self._case_files(entry),
                              prebuilt=self._kmod_prebuilt, publish=self._publish_artifact)
        t.details.update(details)
        if self.lib is not None:
            self.lib.take_log()
        watch = _dmesg.KmsgWatch()
        taint0 = _dmesg.tainted()
        captured = io.StringIO()
        state, reason, rclass, output, vlog = "pass", "", None, "", ""
        old_handler = signal.signal(signal.SIGALRM, _on_alarm)
        old_stdout, old_stderr = sys.stdout, sys.stderr
        t0 = time.monotonic()
        try:
            sys.stdout = sys.stderr = captured
            signal.setitimer(signal.ITIMER_REAL, timeout)
            try:
                ns["run"](t)
                t.finish()  # soft expectations (t.expect_eq ...) that failed fail the case
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
        except _case.Skip as e:
            state, reason, rclass = "skip", e.sentence, e.reason_class
        except _case.Fail as e:
            state, reason = "fail", e.sentence
        except CaseTimeout:
            state, reason = "fail", "the check timed out after %gs" % timeout
            output = _traceback()
        except _libbpf.LibbpfError as e:
            state, reason, vlog = "fail", str(e), e.log
            output = _traceback()
            why = self._refusal(e)
            if why is not None:  # the kernel does not know this: not a defect
                state, rclass, reason = "skip", why[0], "%s (%s)" % (why[1], e)
        except _libbpf.MissingSymbol as e:
            # `libbpf: system` with an old library: the target's userland, not the kernel.
            state, reason, rclass = "skip", "%s (use the bundled libbpf)" % e, \
                _reasons.ENVIRONMENT_BLOCKS
        except Exception as e:
            state, reason = "fail", "the check raised %s: %s" % (type(e).__name__, e)
            output = _traceback()
        finally:
            sys.stdout, sys.stderr = old_stdout, old_stderr
            problems = t.cleanup()
            self._remember(t.owned)
            signal.signal(signal.SIGALRM, old_handler)
        duration = time.monotonic() - t0
        lines = watch.drain()
        watch.close()
        taint1 = _dmesg.tainted()
        # The controller judges new bits against its allow-list (kmatrix.detectors).
        t.details["taint"] = {"before": taint0, "after": taint1}
        if problems:
            output += "\ncleanup problems:\n" + "\n".join(problems)
            if state == "pass":
                state, reason = "fail", "cleanup failed: %s" % problems[0]
        log = self.lib.take_log() if self.lib is not None else ""
        if state in ("fail", "error") or (state == "skip" and vlog):
            vlog = vlog or log  # a refusal skip keeps its evidence
        else:
            vlog = ""
        out_text = captured.getvalue()
        if out_text:
            output = out_text + ("\n" + output if output else "")
        return result_event(cid, state, reason, rclass, duration, t.details, vlog, lines,
                            output.strip("\n"))


# How a case's child process ends when it could not deliver a result itself.
_CHILD_CRASHED = 70
_CHILD_NO_PIPE = 71
CHILD_GRACE = 20.0  # past the case's timeout (its own SIGALRM), for its clean-up


def _what(exc):
    if isinstance(exc, SystemExit):
        return "sys.exit(%r)" % (exc.code,)
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted (SIGTERM or SIGINT)"
    return "%s: %s" % (type(exc).__name__, exc)


def _collect(r, pid, limit):
    """Read the child's result from `r` and reap the child; after `limit` seconds
    SIGKILL it. (chunks, wait status; ("killed", limit) if it had to be killed;
    None if it could not be reaped). EOF alone does not end the wait, nor does the
    child's exit wait for EOF: a process the check forked may hold the pipe."""
    import select

    deadline = time.monotonic() + limit
    chunks, eof, status, nap = [], False, None, 0.001
    while True:
        # After EOF the child is normally exiting: poll its status quickly, then
        # less often (a process it forked may also hold the pipe, so EOF can wait).
        ready, _, _ = select.select([] if eof else [r], [], [], nap if eof else 0.2)
        nap = min(nap * 2, 0.2)
        while ready and not eof:
            data = os.read(r, 1 << 16)
            eof = not data
            chunks.append(data)
            ready, _, _ = select.select([r], [], [], 0)
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            # What it wrote before it exited is in the pipe already.
            while not eof and select.select([r], [], [], 0)[0]:
                data = os.read(r, 1 << 16)
                eof = not data
                chunks.append(data)
            return chunks, status
        if time.monotonic() > deadline:
            _stop_child(pid, signal.SIGKILL)
            return chunks, ("killed", limit)


def _stop_child(pid, sig=signal.SIGTERM, wait=10.0):
    """Signal the case's child and reap it, SIGKILL after `wait` s; a child stuck in
    the kernel may never be reaped (then it is left, and clean-up reports it)."""
    try:
        os.kill(pid, sig)
    except OSError:
        return None
    deadline = time.monotonic() + wait
    while time.monotonic() < deadline:
        try:
            done, status = os.waitpid(pid, os.WNOHANG)
        except OSError:
            return None
        if done:
            return status
        time.sleep(0.1)
    if sig != signal.SIGKILL:
        return _stop_child(pid, signal.SIGKILL, wait)
    return None


def _death(status, limit):
    """Why a case's child gave no result, in one sentence."""
    if isinstance(status, tuple):
        return "the check did not end within %gs (its timeout and %gs of grace) and was " \
               "killed" % (status[1], CHILD_GRACE)
    if status is None:
        return "the check's process could not be reaped"
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        try:
            name = signal.Signals(sig).name
        except ValueError:
            name = "signal %d" % sig
        return "the check's process was killed by %s" % name
    code = os.WEXITSTATUS(status)
    if code == _CHILD_NO_PIPE:
        return "the check closed the agent's file descriptors: its result could not be sent"
    if code == _CHILD_CRASHED:
        return "the check's process failed before it had a result"
    return "the check ended its process with exit status %d (os._exit?) before its " \
           "result" % code


CAP_SYS_ADMIN, CAP_BPF = 21, 39


def bpf_privileged(status="/proc/self/status"):  # type: (str) -> object
    """True when this process's effective capabilities hold CAP_BPF or CAP_SYS_ADMIN,
    False when they hold neither, None when /proc does not say (a refused load's EPERM
    is then worded without a claim about our privileges)."""
    try:
        with open(status) as f:
            for line in f:
                if line.startswith("CapEff:"):
                    caps = int(line.split()[1], 16)
                    return bool(caps & (1 << CAP_BPF | 1 << CAP_SYS_ADMIN))
    except (OSError, ValueError, IndexError):
        pass
    return None


def compile_failed(cid, what, output, details=None):
    """A compile error: a kernel-lacks skip when every error names a kernel type or
    value the target's vmlinux.h lacks, else a fail with the compiler's words."""
    from . import refusals as _refusals

    why = _refusals.classify_compile(output or "")
    if why is not None:
        return result_event(cid, "skip", why[1], why[0], details=details, output=output)
    return result_event(cid, "fail", what, details=details, output=output)


def _read_facts(path):
    """The facts the launcher gathered before the bundle came, or {} (run by hand)."""
    if not path:
        return {}
    try:
        with open(path) as f:
            facts = json.load(f)
    except (OSError, ValueError):
        return {}
    return facts if isinstance(facts, dict) else {}


def _find_plan(archive, override):
    if override:
        with open(override) as f:
            return json.load(f)
    beside = os.path.join(os.path.dirname(os.path.abspath(archive)), "plan.json")
    if os.path.isfile(beside):
        with open(beside) as f:
            return json.load(f)
    data = Bundle(archive).read("plan.json")
    if data is None:
        raise RuntimeError("no plan.json next to %s or inside it" % archive)
    return json.loads(data.decode("utf-8"))


USAGE = "usage: agent.pyz run [--plan PLAN.json] [--workdir DIR] [--facts FACTS.json]\n"


def _parse_args(argv):
    """{"plan", "workdir", "facts"} or None on bad usage. What to run, and what
    already ran (resume_after), comes only from the plan."""
    if not argv or argv[0] != "run":
        return None
    opts = {"plan": None, "workdir": None, "facts": None}
    rest = list(argv[1:])
    while rest:
        key = rest.pop(0)
        if not key.startswith("--") or key[2:] not in opts or not rest:
            return None
        opts[key[2:]] = rest.pop(0)
    return opts


def main(argv=None, archive=None):
    argv = list(sys.argv[1:] if argv is None else argv)
    archive = archive or os.path.abspath(sys.argv[0])
    opts = _parse_args(argv)
    if opts is None:
        sys.stderr.write(USAGE)
        return 2
    try:
        plan = _find_plan(archive, opts["plan"])
    except (OSError, ValueError, RuntimeError) as e:
        sys.stderr.write("agent: cannot read the plan: %s\n" % e)
        return 2
    plan["workdir"] = opts["workdir"] or plan.get("workdir") or \
        os.path.dirname(os.path.abspath(archive))
    os.makedirs(plan["workdir"], mode=0o700, exist_ok=True)
    # Every process this run starts inherits the mark, even one a case detaches with
    # setsid: clean-up finds them by it (kmatrix_agent.leftovers.reap).
    os.environ[_leftovers.RUN_MARK] = os.path.abspath(plan["workdir"])
    # Events go to a private dup of stdout; fd 1 itself goes to a file so that
    # stray C-level prints (libbpf, children) cannot corrupt the JSON stream.
    sys.stdout.flush()
    event_fd = os.dup(1)
    stray = os.open(os.path.join(plan["workdir"], "agent.stdout"),
                    os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(stray, 1)
    os.close(stray)
    emitter = Emitter(event_fd, os.path.join(plan["workdir"], "journal.jsonl"))
    # SIGTERM (controller cleanup, Ctrl-C upstream) must unwind through the case's
    # `finally` so links, fds, netns and modules are released. SIGHUP and SIGPIPE
    # come with a dropped session: ignore them and carry on into the journal.
    signal.signal(signal.SIGTERM, _on_term)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)
    try:
        agent = Agent(Bundle(archive), plan, emitter, _read_facts(opts["facts"]))
        # Our processes carry the run's cgroup as well as its environment mark: a
        # daemon a case starts with `env -i` or setsid still counts as ours.
        agent.cgroup_left = _leftovers.join_cgroup(plan["workdir"])
        return agent.run()
    except KeyboardInterrupt:
        emitter.emit({"event": "interrupted"})
        return 130
    finally:
        emitter.close()
