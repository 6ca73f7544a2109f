"""Evaluate a case's CASE["requires"] against target facts.

Returns None when the case may run, else (reason_class, sentence). Stdlib only,
Python 3.7; the controller's catalogue imports KEYS and validate() from here so
both sides agree on what a requirement is.
"""

import fnmatch

from .kversion import VersionRange, parse_release
from .probes import PROBES
from .reasons import ENVIRONMENT_BLOCKS, HARDWARE_MISSING, KERNEL_LACKS

# key -> expected type description (for the catalogue's validation messages)
KEYS = {
    "arch": "list of arch names",
    "kfuncs": "list of kfunc names",
    "btf_funcs": "list of BTF FUNC names",
    "pmu": "list of PMU name globs",
    "config": "list of CONFIG_* names",
    "ftrace": "bool",
    "jit": "bool",
    "kernel": "version range such as '>=6.1', '>=5.15,<6.9' or '6.6' (any 6.6.x)",
    "probes": "list of capability probe names (%s)" % ", ".join(sorted(PROBES)),
}

_LIST_KEYS = ("arch", "kfuncs", "btf_funcs", "pmu", "config", "probes")
_BOOL_KEYS = ("ftrace", "jit")
_ARCHES = ("x86_64", "aarch64", "riscv64")


def validate(req):
    """Problems in a requires mapping: list of (key, message); empty when fine."""
    problems = []
    if not isinstance(req, dict):
        return [("requires", "must be a mapping")]
    for key, val in req.items():
        if key not in KEYS:
            problems.append((key, "unknown requirement (known: %s)" % ", ".join(sorted(KEYS))))
        elif key in _LIST_KEYS:
            if not isinstance(val, list) or not all(isinstance(x, str) and x for x in val):
                problems.append((key, "must be a %s" % KEYS[key]))
            elif key == "arch":
                bad = [a for a in val if a not in _ARCHES]
                if bad:
                    problems.append((key, "unknown arch %s (canonical: %s)"
                                     % (", ".join(bad), ", ".join(_ARCHES))))
            elif key == "probes":
                bad = [p for p in val if p not in PROBES]
                if bad:
                    problems.append((key, "unknown probe %s (known: %s)"
                                     % (", ".join(bad), ", ".join(sorted(PROBES)))))
            elif key == "config":
                bad = [c for c in val if not c.startswith("CONFIG_")]
                if bad:
                    problems.append((key, "names must start with CONFIG_: %s" % ", ".join(bad)))
        elif key in _BOOL_KEYS:
            if not isinstance(val, bool):
                problems.append((key, "must be true or false"))
        elif key == "kernel":
            if not isinstance(val, str):
                problems.append((key, "must be a string such as '>=6.1'"))
            else:
                try:
                    VersionRange.parse(val)
                except ValueError as e:
                    problems.append((key, str(e)))
    return problems


def _fact(facts, key):
    try:
        return facts[key]  # facts may compute a value lazily (agent's LazyFacts)
    except KeyError:
        return None


def evaluate(req, facts, btf_names=None, probe=None):
    """None if every requirement holds; else (reason_class, sentence).

    `btf_names` is a callable returning the set of BTF FUNC names (or raising
    OSError when there is no BTF); it is only called when the case asks for it.
    `probe(name)` returns a capability probe's result (agent/probes.py); a probe
    that found the feature missing ("no") or blocked decides the skip, with its
    evidence as the sentence. Requirements are checked most fundamental first:
    arch, kernel, config, probes, BTF functions, hardware, then environment.
    """
    if not req:
        return None
    uname = _fact(facts, "uname") or {}
    machine = uname.get("machine", "")
    if req.get("arch"):
        if machine not in req["arch"]:
            return (ENVIRONMENT_BLOCKS, "case is for %s; this target is %s"
                    % (", ".join(req["arch"]), machine or "an unknown arch"))
    if req.get("kernel"):
        release = uname.get("release", "")
        # An unreadable release does not decide the skip: the case runs and the
        # kernel's answer decides.
        if parse_release(release) is not None and \
                not VersionRange.parse(req["kernel"]).contains(release):
            return (KERNEL_LACKS, "needs kernel %s; this target runs %s"
                    % (req["kernel"], release))
    if req.get("config"):
        cfg = _fact(facts, "kernel_config")
        if cfg is not None:  # unreadable config: do not guess, let the case decide
            missing = [c for c in req["config"] if cfg.get(c) not in ("y", "m")]
            if missing:
                return (KERNEL_LACKS, "kernel config lacks %s (from %s)"
                        % (", ".join(missing), _fact(facts, "kernel_config_source") or "config"))
    blocked = None  # a blocked probe speaks last: ftrace/jit facts say more precisely why
    for name in req.get("probes") or []:
        got = probe(name) if probe is not None else None
        if not got or not got.get("class"):
            continue
        if got.get("state") == "no":
            return (got["class"], "%s probe: %s" % (name, got.get("sentence")))
        if got.get("state") == "blocked" and blocked is None:
            blocked = (got["class"], "%s probe: %s" % (name, got.get("sentence")))
    wanted = list(req.get("kfuncs") or []) + list(req.get("btf_funcs") or [])
    if wanted:
        btf = _fact(facts, "btf") or {}
        if btf.get("present") is False or btf_names is None:
            return (KERNEL_LACKS, "needs %s, but the kernel has no BTF (/sys/kernel/btf/vmlinux)"
                    % ", ".join(wanted))
        try:
            names = btf_names()
        except (OSError, ValueError) as e:
            return (KERNEL_LACKS, "needs %s, but kernel BTF is unreadable: %s"
                    % (", ".join(wanted), e))
        for key, what in (("kfuncs", "kfunc"), ("btf_funcs", "function")):
            missing = [n for n in (req.get(key) or []) if n not in names]
            if missing:
                return (KERNEL_LACKS, "kernel BTF has no %s %s" % (
                    what + ("s" if len(missing) > 1 else ""), ", ".join(missing)))
    if req.get("pmu"):
        have = _fact(facts, "pmus") or []
        for pattern in req["pmu"]:
            if not any(fnmatch.fnmatchcase(p, pattern) for p in have):
                return (HARDWARE_MISSING, "no PMU matching %s in /sys/bus/event_source/devices "
                        "(have: %s)" % (pattern, ", ".join(have) or "none"))
    if req.get("jit"):
        jit = _fact(facts, "bpf_jit_enable")
        if jit == 0:
            return (ENVIRONMENT_BLOCKS, "the BPF JIT is off (net.core.bpf_jit_enable=0)")
    if req.get("ftrace"):
        ft = _fact(facts, "ftrace") or {}
        if ft.get("usable") is False:
            return (ft.get("class") or ENVIRONMENT_BLOCKS,
                    ft.get("reason") or "ftrace is not usable on this target")
    return blocked
