"""The launcher: the first stage of the one exec per host.

The controller starts ``python3 -c LOADER N`` (kmatrix/launch.py) and writes to
its stdin, in order: N bytes of source (preflight.py followed by this file, which
uses the preflight's ``collect``), one JSON line of set-up, and later, once it has
built the cases against the facts, a JSON header and the agent bundle. So the
facts, the requirement checks and the cases share one interpreter start and one
SSH exec:

    stdin                                   stdout
    source, {"clock":..,"entropy":..}\\n  ->
                                         <-  {"event": "facts", "facts": {...}}
    {"bundle": SIZE, "sha256": HEX}\\n     ->
    SIZE bytes of agent.pyz              ->  the agent's events (hello ... done)
    (or {"abort": WHY}\\n, or EOF)         ->  {"event": "aborted", ...}; workdir removed

The set-up line exists for lab guests restored from a VM snapshot: their clock
is the snapshot's and their entropy pool is the same in every restore, so the
controller sends the time and fresh random bytes (over stdin, never in argv
where `ps` and logs would show them). Stdlib only, Python 3.7; no package
imports (the file runs concatenated after preflight.py).
"""

import fcntl
import hashlib
import json
import os
import runpy
import shutil
import signal
import struct
import sys
import time

RNDADDENTROPY = 0x40085203  # _IOW('R', 0x03, int[2])
MAX_HEADER = 4096
FACTS_FILE = "facts.json"  # the agent's LazyFacts starts from it (--facts): facts travel once


def _emit(obj):
    data = (json.dumps(obj, sort_keys=True, default=str) + "\n").encode("utf-8")
    while data:
        data = data[os.write(1, data):]


def _read_line(inp):
    line = inp.readline(MAX_HEADER)
    if not line:
        return None
    try:
        doc = json.loads(line.decode("utf-8"))
    except ValueError:
        return None
    return doc if isinstance(doc, dict) else None


def add_entropy(data):
    """Credit `data` to the kernel's pool (root: RNDADDENTROPY), else mix it in."""
    try:
        fd = os.open("/dev/random", os.O_WRONLY)
    except OSError as e:
        return "no /dev/random: %s" % e
    try:
        req = struct.pack("ii", len(data) * 8, len(data)) + data
        fcntl.ioctl(fd, RNDADDENTROPY, req)
        return "credited %d bytes" % len(data)
    except OSError:
        try:
            os.write(fd, data)  # mixed, not credited
            return "mixed %d bytes" % len(data)
        except OSError as e:
            return "could not add entropy: %s" % e
    finally:
        os.close(fd)


def apply_setup(setup):
    """Fix the clock and re-seed the RNG of a guest restored from a snapshot;
    returns what was done, for the facts (never the bytes themselves)."""
    notes = {}
    clock = setup.get("clock")
    if isinstance(clock, (int, float)) and clock > 0:
        before = time.time()
        try:
            time.clock_settime(time.CLOCK_REALTIME, float(clock))
            notes["clock"] = "set, was %+.1f s off" % (before - float(clock))
        except (OSError, AttributeError) as e:
            notes["clock"] = "not set: %s" % e
    entropy = setup.get("entropy")
    if isinstance(entropy, str) and entropy:
        try:
            notes["entropy"] = add_entropy(bytes.fromhex(entropy))
        except ValueError:
            notes["entropy"] = "not hex"
    return notes


def _read_exact(inp, size, digest):
    """Read `size` bytes in chunks into a hash; None on a short read."""
    chunks = []
    left = size
    while left > 0:
        chunk = inp.read(min(left, 1 << 20))
        if not chunk:
            return None
        digest.update(chunk)
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _write_private(path, data):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(data)


def _interrupted(signum, frame):
    raise KeyboardInterrupt()


def launch(collect, argv=None, inp=None):
    """Gather the facts, then run the bundle the controller sends (see above)."""
    inp = inp or sys.stdin.buffer
    # A controller interrupted right after it started us closes the session: the
    # work directory must still go (the agent installs its own handlers later).
    for sig in (signal.SIGHUP, signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, _interrupted)
    setup = _read_line(inp) or {}
    notes = apply_setup(setup)
    facts = collect()  # makes the 0700 work directory
    workdir = facts["workdir"]
    try:
        return _launch(facts, workdir, notes, inp, argv)
    except (KeyboardInterrupt, OSError, ValueError):
        if not os.path.exists(os.path.join(workdir, "agent.pyz")):
            shutil.rmtree(workdir, ignore_errors=True)  # the agent never ran: nothing to keep
            return 130
        raise


def _launch(facts, workdir, notes, inp, argv):
    if notes:
        facts["setup"] = notes
    with open(os.path.join(workdir, FACTS_FILE), "w") as f:
        json.dump(facts, f, sort_keys=True)
    _emit({"event": "facts", "facts": facts})
    header = _read_line(inp)
    size = (header or {}).get("bundle")
    if not isinstance(size, int) or size <= 0:
        shutil.rmtree(workdir, ignore_errors=True)
        why = (header or {}).get("abort") or "no bundle came (the controller went away?)"
        _emit({"event": "aborted", "reason": str(why)[:300],
               "removed": not os.path.exists(workdir)})
        return 0
    digest = hashlib.sha256()
    data = _read_exact(inp, size, digest)
    if data is None or digest.hexdigest() != header.get("sha256"):
        shutil.rmtree(workdir, ignore_errors=True)
        sys.stderr.write("kmatrix launcher: the bundle arrived %s\n"
                         % ("short" if data is None else "corrupted (sha256 differs)"))
        return 3
    pyz = os.path.join(workdir, "agent.pyz")
    _write_private(pyz, data)
    del data
    # Cases must not read what is left of the controller's stream.
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.close(null)
    sys.argv = [pyz, "run", "--workdir", workdir,
                "--facts", os.path.join(workdir, FACTS_FILE)] + list(argv or [])
    runpy.run_path(pyz, run_name="__main__")  # exits with the agent's status
    return 0


if __name__ == "kmatrix_launch":
    sys.exit(launch(collect))  # noqa: F821 - defined by preflight.py, concatenated before
