"""Target facts in one round trip: piped to `python3 -`, prints one JSON object.

Stdlib only, Python 3.7, and no imports from the kmatrix package: the file is
sent as a script, after reasons.py (bundle.agent_source()). The agent also
imports it to compute facts lazily.
"""

import ctypes
import errno
import gzip
import hashlib
import json
import os
import platform
import re
import shutil
import struct
import subprocess
import sys
import tempfile

try:
    from .reasons import ENVIRONMENT_BLOCKS, KERNEL_LACKS
except ImportError:  # a script: bundle.agent_source() put reasons.py before this file
    if "KERNEL_LACKS" not in globals():
        from reasons import ENVIRONMENT_BLOCKS, KERNEL_LACKS  # type: ignore

BTF_PATH = "/sys/kernel/btf/vmlinux"
PMU_DIR = "/sys/bus/event_source/devices"
TRACEFS_CANDIDATES = ("/sys/kernel/tracing", "/sys/kernel/debug/tracing")
EXTRA_PATH = ("/usr/sbin", "/sbin", "/usr/local/sbin")


def which(name):
    found = shutil.which(name)
    if found:
        return found
    for d in EXTRA_PATH:  # non-login SSH sessions often lack sbin in PATH
        p = os.path.join(d, name)
        if os.access(p, os.X_OK):
            return p
    return None


def _run(argv, timeout=20):
    try:
        p = subprocess.run(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=timeout)
    except (OSError, subprocess.SubprocessError):
        return None
    if p.returncode != 0:
        return None
    return p.stdout.decode("utf-8", "replace")


def uname():
    u = os.uname()
    return {"sysname": u.sysname, "release": u.release, "version": u.version,
            "machine": u.machine}


def os_release():
    out = {}
    for path in ("/etc/os-release", "/usr/lib/os-release"):
        try:
            with open(path) as f:
                for line in f:
                    line = line.strip()
                    if not line or line.startswith("#") or "=" not in line:
                        continue
                    k, v = line.split("=", 1)
                    v = v.strip()
                    if len(v) >= 2 and v[0] == v[-1] and v[0] in "\"'":
                        v = v[1:-1]
                    out[k] = v
            return out
        except OSError:
            continue
    return out


def _parse_config(text):
    cfg = {}
    for line in text.splitlines():
        if line.startswith("CONFIG_") and "=" in line:
            k, v = line.split("=", 1)
            cfg[k] = v.strip().strip('"')
    return cfg


def kernel_config(release=None):
    """(dict of CONFIG_* or None, source path or None)."""
    release = release or os.uname().release
    try:
        with gzip.open("/proc/config.gz", "rt") as f:
            return _parse_config(f.read()), "/proc/config.gz"
    except (OSError, EOFError):
        pass
    for path in ("/boot/config-%s" % release, "/lib/modules/%s/config" % release,
                 "/lib/modules/%s/build/.config" % release):
        try:
            with open(path) as f:
                return _parse_config(f.read()), path
        except OSError:
            continue
    return None, None


def btf_info(hash_blob=True):
    info = {"present": False, "size": None, "sha256": None}
    try:
        with open(BTF_PATH, "rb") as f:
            data = f.read()
    except OSError:
        return info
    info["present"] = True
    info["size"] = len(data)
    if hash_blob:
        info["sha256"] = hashlib.sha256(data).hexdigest()
    return info


def libbpf_version():
    """Version from the real file name of libbpf.so.1 (e.g. 1.1.2), or None."""
    for soname in ("libbpf.so.1", "libbpf.so.0"):
        try:
            ctypes.CDLL(soname)
        except OSError:
            continue
        try:
            with open("/proc/self/maps") as f:
                for line in f:
                    path = line.rsplit(None, 1)[-1]
                    if os.path.basename(path).startswith("libbpf.so."):
                        real = os.path.basename(os.path.realpath(path))
                        return real[len("libbpf.so."):]
        except OSError:
            pass
        return soname[len("libbpf.so."):]
    return None


# A library the bundled libbpf needs -> (Debian package, openEuler/rpm package).
LIB_PACKAGES = {
    "libelf.so.1": ("libelf1", "elfutils-libelf"),
    "libz.so.1": ("zlib1g", "zlib"),
    "libc.so.6": ("libc6", "glibc"),
}
_RPM_IDS = ("rhel", "fedora", "centos", "openeuler", "suse", "opensuse", "anolis", "kylin")


def _glibc_version():
    """"2.36", or None when the C library is not glibc."""
    try:
        v = os.confstr("CS_GNU_LIBC_VERSION")  # "glibc 2.36"; no fork, no file read
    except (AttributeError, ValueError, OSError):
        v = None
    if v and v.startswith("glibc "):
        return v.split()[1]
    lib, ver = platform.libc_ver()
    return ver if lib == "glibc" and ver else None


def _package_hint(soname):
    deb, rpm = LIB_PACKAGES.get(soname, (None, None))
    if deb is None:
        return "the package that provides %s" % soname
    rel = os_release()
    ids = (rel.get("ID", "") + " " + rel.get("ID_LIKE", "")).lower().split()
    if "debian" in ids or "ubuntu" in ids:
        return deb
    if any(i in _RPM_IDS for i in ids) or os.path.exists("/usr/bin/rpm"):
        return "%s (openEuler/rpm; Debian: %s)" % (rpm, deb)
    return "%s (Debian) or %s (openEuler/rpm)" % (deb, rpm)


def _vtuple(v):
    return tuple(int(x) for x in str(v).split(".") if x.isdigit())


def libbpf_loadable(needs, path=None):
    """None when this machine can load the bundled libbpf, else one sentence naming
    what is missing and the package that provides it. `needs` is plan.json's libbpf
    block ("version", "glibc", "needed"); with `path`, that file is also dlopen'ed.
    Shared by the agent (kmatrix_agent/libload.py) and this preflight."""
    what = "the bundled libbpf %s" % (needs.get("version") or "")
    want = needs.get("glibc")
    if want:
        have = _glibc_version()
        if have is None:
            return ("%s needs glibc >= %s, but this target's C library is not glibc; "
                    "set `libbpf: system` for this host" % (what, want))
        if _vtuple(have) < _vtuple(want):
            return ("%s needs glibc >= %s (GLIBC_%s) but this target has glibc %s; "
                    "set `libbpf: system` for this host or upgrade %s"
                    % (what, want, want, have, _package_hint("libc.so.6")))
    for soname in needs.get("needed") or []:
        if soname.startswith(("libc.so", "ld-linux", "ld64.so")):
            continue  # glibc itself, checked above
        try:
            ctypes.CDLL(soname)  # the loader's own search; find_library would fork ldconfig
        except OSError:
            return "%s needs %s, which this target lacks: install %s" % (
                what, soname, _package_hint(soname))
    if path is None:
        return None
    st = os.statvfs(os.path.dirname(path))
    if st.f_flag & getattr(os, "ST_NOEXEC", 8):
        return ("%s cannot be mapped from %s: that file system is mounted noexec; "
                "set `libbpf: system` for this host" % (what, os.path.dirname(path)))
    try:
        ctypes.CDLL(path)
    except OSError as e:
        m = re.search(r"([^\s:]+): version `([^']+)' not found", str(e))
        if m:
            lib = os.path.basename(m.group(1))
            return "%s needs %s from %s, which this target's %s lacks: upgrade %s" % (
                what, m.group(2), lib, lib, _package_hint(lib))
        return "%s does not load: %s" % (what, e)
    return None


def clang_version():
    exe = which("clang")
    if not exe:
        return None
    out = _run([exe, "--version"])
    return out.splitlines()[0].strip() if out else None


def bpftool_version():
    exe = which("bpftool")
    if not exe:
        return None
    out = _run([exe, "-j", "version"])
    if out:
        try:
            return json.loads(out).get("version")
        except ValueError:
            pass
    out = _run([exe, "version"])
    return out.splitlines()[0].strip() if out else None


def pmus():
    try:
        return sorted(os.listdir(PMU_DIR))
    except OSError:
        return []


LSM_PATH = "/sys/kernel/security/lsm"


def active_lsms():
    """The active LSMs in order (securityfs), or None when unreadable (not mounted)."""
    try:
        with open(LSM_PATH) as f:
            return [x for x in f.read().strip().split(",") if x]
    except OSError:
        return None


def bpf_jit_enable():
    try:
        with open("/proc/sys/net/core/bpf_jit_enable") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


def _probe_filter_functions(path):
    """None if readable, else the OSError."""
    try:
        with open(path, "rb") as f:
            f.read(64)
        return None
    except OSError as e:
        return e


def _describe(e):
    name = errno.errorcode.get(e.errno, "E?")
    return "%s (%s)" % (name, os.strerror(e.errno) if e.errno else e)


def _mounted_tracefs():
    try:
        with open("/proc/mounts") as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 3 and parts[2] == "tracefs":
                    return parts[1]
    except OSError:
        pass
    return None


def _probe_private_tracefs():
    """Mount tracefs on a private temp dir to probe it; None when we cannot mount."""
    libc = ctypes.CDLL(None, use_errno=True)  # the process's own libc; find_library forks ldconfig
    d = tempfile.mkdtemp(prefix="kmatrix.tracefs.")
    try:
        if libc.mount(b"nodev", d.encode(), b"tracefs", 0, None) != 0:
            return None
        try:
            return ("mounted", _probe_filter_functions(os.path.join(d, "available_filter_functions")))
        finally:
            libc.umount2(d.encode(), 2)  # MNT_DETACH: never leave it behind
    finally:
        try:
            os.rmdir(d)
        except OSError:
            pass


def ftrace(config=None):
    """{"usable": bool|None, "reason": sentence, "class": reason class when unusable}.

    fentry/fexit/fmod_ret need ftrace; when tracefs refuses access (lockdown,
    a seccomp/LSM policy, a sandbox) the loads fail with EPERM, so probe it.
    """
    if config is not None and config.get("CONFIG_FUNCTION_TRACER") != "y":
        return {"usable": False, "class": KERNEL_LACKS,
                "reason": "kernel built without CONFIG_FUNCTION_TRACER"}
    try:
        with open("/proc/sys/kernel/ftrace_enabled") as f:
            if f.read().strip() == "0":
                return {"usable": False, "class": ENVIRONMENT_BLOCKS,
                        "reason": "ftrace is disabled (/proc/sys/kernel/ftrace_enabled=0)"}
    except OSError:
        pass
    paths = []
    m = _mounted_tracefs()
    if m:
        paths.append(m)
    paths.extend(p for p in TRACEFS_CANDIDATES if p not in paths)
    for base in paths:
        path = os.path.join(base, "available_filter_functions")
        if not os.path.exists(path):
            continue
        err = _probe_filter_functions(path)
        if err is None:
            return {"usable": True, "class": None, "reason": "%s is readable" % path}
        return {"usable": False, "class": ENVIRONMENT_BLOCKS,
                "reason": "ftrace unusable: reading %s fails with %s" % (path, _describe(err))}
    if os.geteuid() == 0:
        res = None
        try:
            res = _probe_private_tracefs()
        except OSError:
            res = None
        if res is not None:
            err = res[1]
            if err is None:
                return {"usable": True, "class": None,
                        "reason": "tracefs available_filter_functions is readable"}
            return {"usable": False, "class": ENVIRONMENT_BLOCKS,
                    "reason": "ftrace unusable: reading tracefs available_filter_functions "
                              "fails with %s" % _describe(err)}
    return {"usable": None, "class": None,
            "reason": "tracefs is not mounted and could not be probed"}


RUN_LOCK = "run.lock"  # in every work directory; flock'd while its run lives
_HELD = []  # that lock's fd: open for the life of the launcher and the agent it becomes


def make_workdir():
    """A 0700 work directory holding RUN_LOCK, locked by this process: a later run
    removes a kmatrix.* directory only if it has the file and nobody holds the lock
    (kmatrix_agent.leftovers.sweep), so a controller that died leaves nothing for good."""
    import fcntl

    d = tempfile.mkdtemp(prefix="kmatrix.")
    os.chmod(d, 0o700)
    fd = os.open(os.path.join(d, RUN_LOCK), os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    fcntl.flock(fd, fcntl.LOCK_EX)
    _HELD.append(fd)
    return d


def _bpftool_ids(exe, kind):
    out = _run([exe, "-j", kind, "show"])
    if out is None:
        return None
    try:
        items = json.loads(out or "[]")
    except ValueError:
        return None
    return sorted(int(i["id"]) for i in items if isinstance(i, dict) and "id" in i)


# bpf(2) syscall numbers, and the *_GET_NEXT_ID commands: the ids bpftool lists.
_BPF_SYSCALL = {"x86_64": 321, "aarch64": 280, "riscv64": 280}
_NEXT_ID = {"progs": 11, "maps": 12, "links": 31}


def bpf_ids(key):
    """Ids of every BPF program, map or link (`key`), walked with bpf(2)'s
    *_GET_NEXT_ID: what `bpftool KIND show` lists, without a process per listing
    (three of them cost about a second at start and at end under TCG). None when
    the kernel refuses (no privilege, or no BPF links before Linux 5.8)."""
    nr = _BPF_SYSCALL.get(platform.machine())
    if nr is None:
        return None
    libc = ctypes.CDLL(None, use_errno=True)
    attr = ctypes.create_string_buffer(16)  # start_id, next_id, open_flags
    ids, start = [], 0
    for _ in range(1 << 20):
        struct.pack_into("=III", attr, 0, start, 0, 0)
        if libc.syscall(nr, _NEXT_ID[key], attr, 12) != 0:
            return sorted(ids) if ctypes.get_errno() == errno.ENOENT else None
        start = struct.unpack_from("=I", attr, 4)[0]
        ids.append(start)
    return None


def inventory():
    inv = {"progs": None, "maps": None, "links": None, "pinned": None,
           "netns": None, "veths": None, "modules": None}
    exe = which("bpftool")
    if exe:  # without bpftool nobody can say who holds a new object: not compared
        for key, kind in (("progs", "prog"), ("maps", "map"), ("links", "link")):
            got = bpf_ids(key)
            inv[key] = got if got is not None else _bpftool_ids(exe, kind)
    if os.path.isdir("/sys/fs/bpf"):
        pinned = []
        for root, _dirs, files in os.walk("/sys/fs/bpf"):
            for f in files:
                pinned.append(os.path.join(root, f))
        inv["pinned"] = sorted(pinned)
    try:
        inv["netns"] = sorted(os.listdir("/run/netns"))
    except OSError:
        inv["netns"] = [] if os.path.isdir("/run") else None
    ip = which("ip")
    if ip:
        out = _run([ip, "-o", "link", "show", "type", "veth"])
        if out is not None:
            inv["veths"] = sorted(line.split(":")[1].strip().split("@")[0]
                                  for line in out.splitlines() if ":" in line)
    try:
        with open("/proc/modules") as f:
            inv["modules"] = sorted(line.split()[0] for line in f if line.strip())
    except OSError:
        pass
    return inv


def _strip(name, prefix, suffix):
    if name.startswith(prefix):
        name = name[len(prefix):]
    if suffix and name.endswith(suffix):
        name = name[:-len(suffix)]
    return name


def parse_features(doc):
    """The useful part of `bpftool -j feature probe kernel` output (a dict)."""
    prog = doc.get("program_types") or {}
    maps = doc.get("map_types") or {}
    helpers = set()
    for names in (doc.get("helpers") or {}).values():
        if isinstance(names, list):
            helpers.update(n for n in names if isinstance(n, str))
    return {
        "program_types": sorted(_strip(k, "have_", "_prog_type") for k, v in prog.items()
                                if v is True),
        "map_types": sorted(_strip(k, "have_", "_map_type") for k, v in maps.items()
                            if v is True),
        # Union over program types: which helpers this kernel has at all.
        "helpers": sorted(helpers),
        "misc": sorted(_strip(k, "have_", "") for k, v in (doc.get("misc") or {}).items()
                       if v is True),
    }


def features():
    """Program/map types and helpers from bpftool, or None without a working bpftool."""
    exe = which("bpftool")
    if not exe:
        return None
    out = _run([exe, "-j", "feature", "probe", "kernel"], timeout=120)
    if not out:
        return None
    try:
        doc = json.loads(out)
    except ValueError:
        return None
    return parse_features(doc) if isinstance(doc, dict) else None


def _config_facts(facts):
    cfg, src = kernel_config()
    return {"kernel_config": cfg, "kernel_config_source": src}


# The facts a case's requirements are judged by: the one table the preflight, the
# bundle (which ships these keys to the agent in plan.json) and the agent's LazyFacts
# (which computes a key the plan lacks) all use. Each entry: key -> function of the
# facts known so far returning {key: value, ...} (kernel_config brings its source).
AGENT_FACTS = {
    "uname": lambda f: {"uname": uname()},
    "kernel_config": _config_facts,
    "kernel_config_source": _config_facts,
    "btf": lambda f: {"btf": btf_info(hash_blob=False)},
    "pmus": lambda f: {"pmus": pmus()},
    "bpf_jit_enable": lambda f: {"bpf_jit_enable": bpf_jit_enable()},
    "lsm": lambda f: {"lsm": active_lsms()},
    "ftrace": lambda f: {"ftrace": ftrace(f["kernel_config"])},
}


def collect(workdir=True, with_inventory=True, hash_btf=True):
    u = uname()
    cfg, cfg_src = kernel_config(u["release"])
    return {
        "uname": u,
        "os_release": os_release(),
        "kernel_config": cfg,
        "kernel_config_source": cfg_src,
        "btf": btf_info(hash_btf),
        "python": platform.python_version(),
        "libbpf": libbpf_version(),
        "clang": clang_version(),
        "bpftool": bpftool_version(),
        "pmus": pmus(),
        "bpf_jit_enable": bpf_jit_enable(),
        "lsm": active_lsms(),
        "ftrace": ftrace(cfg),
        "workdir": make_workdir() if workdir else None,
        "inventory": inventory() if with_inventory else None,
    }


def main(argv):
    probe = "--probe" in argv  # `kmatrix probe`: what the kernel offers, per bpftool
    facts = collect(workdir=not probe)  # a probe runs nothing there: no workdir to remove
    if probe:
        facts["features"] = features()
    sys.stdout.write(json.dumps(facts, sort_keys=True) + "\n")
    sys.stdout.flush()


if __name__ == "__main__":
    main(sys.argv[1:])
