"""Which libbpf the agent loads: the one plan.json names. Stdlib only, Python 3.7.

"bundled": lib/libbpf.so.1 from agent.pyz, written to WORKDIR/lib/libbpf.so.X.Y.Z
(the file name carries the version, which the agent reports from /proc/self/maps),
checked against the plan's sha256 and loaded by path, so every target runs the same
libbpf and differences come from the kernel alone. "system" (or no block): the
target's own libbpf.so.1 / .so.0, as before.
"""

import hashlib
import os
import re
import stat

from . import libbpf as _libbpf
from . import preflight as _preflight

MEMBER = "lib/libbpf.so.1"
_VERSION_RE = re.compile(r"^[0-9]+(\.[0-9]+){1,3}$")


class LibbpfUnavailable(OSError):
    """The plan's libbpf cannot be used here; the message is one sentence."""


def load(bundle, plan, workdir):
    """A Libbpf for this plan, or LibbpfUnavailable saying what is missing."""
    spec = plan.get("libbpf") or {}
    mode = spec.get("mode") or "system"
    if mode == "system":
        return _libbpf.Libbpf()
    if mode != "bundled":
        raise LibbpfUnavailable("plan.json names libbpf mode %r; expected bundled or system"
                                % (mode,))
    path = extract(bundle, spec, workdir)
    why = _preflight.libbpf_loadable(spec, path)
    if why:
        raise LibbpfUnavailable(why)
    try:
        return _libbpf.Libbpf(path=path)
    except OSError as e:
        raise LibbpfUnavailable("the bundled libbpf %s does not load: %s"
                                % (spec.get("version"), e)) from None


def extract(bundle, spec, workdir):
    """Write the bundled libbpf into WORKDIR/lib (0700) and return its path, after
    checking that the file on disk has the sha256 the plan names."""
    version = str(spec.get("version") or "")
    if not _VERSION_RE.match(version):
        raise LibbpfUnavailable("plan.json names a bundled libbpf with a bad version %r"
                                % (version,))
    want = str(spec.get("sha256") or "").lower()
    member = spec.get("path") or MEMBER
    try:
        data = bundle.read(member)
    except Exception as e:  # a damaged zip member (CRC, inflate) is just as fatal
        raise LibbpfUnavailable("cannot read %s from the bundle: %s" % (member, e)) from None
    if data is None:
        raise LibbpfUnavailable("the bundle lacks %s, which plan.json names" % member)
    got = hashlib.sha256(data).hexdigest()
    if got != want:
        raise LibbpfUnavailable("%s in the bundle has sha256 %s, plan.json says %s; "
                                "refusing to load it" % (member, got, want or "nothing"))
    libdir = _private_dir(os.path.join(workdir, "lib"))
    path = os.path.join(libdir, "libbpf.so." + version)
    if _file_sha256(path) != want:  # a rerun in the same workdir reuses a good copy
        _write(path, data)
    got = _file_sha256(path)
    if got != want:  # the file we load is the file we checked
        raise LibbpfUnavailable("%s has sha256 %s after writing, expected %s"
                                % (path, got, want))
    return path


def _private_dir(path):
    try:
        os.mkdir(path, 0o700)
    except FileExistsError:
        pass
    st = os.lstat(path)
    if not stat.S_ISDIR(st.st_mode) or st.st_uid != os.geteuid():
        raise LibbpfUnavailable("%s is not a directory of ours; refusing to load libbpf "
                                "from it" % path)
    os.chmod(path, 0o700)
    return path


def _write(path, data):
    # A fresh file renamed over the old one: never write through a link.
    tmp = "%s.%d.tmp" % (path, os.getpid())
    if os.path.lexists(tmp):
        os.unlink(tmp)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0),
                 0o600)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fchmod(fd, 0o500)  # read + map executable; nobody writes it again
    finally:
        os.close(fd)
    os.rename(tmp, path)


def _file_sha256(path):
    """sha256 of a regular file (not a link), or None."""
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return None
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        return h.hexdigest()
    except OSError:
        return None
