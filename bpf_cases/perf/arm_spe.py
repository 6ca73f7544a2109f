"""perf: Arm SPE (Statistical Profiling Extension) records into the AUX area.

No BPF object: this checks that the PMU the perf/BPF tooling relies on starts,
that what it writes decodes as SPE packets, and that snapshot (overwrite) and
discard modes behave. Skips as hardware-missing where no arm_spe_* PMU exists,
and as environment-blocks where it exists but refuses (e.g. KPTI on).
"""

import errno
import fcntl
import mmap
import os
import struct
import time

CASE = {
    "description": "arm_spe records into the AUX area, the data decodes as SPE packets, "
                   "snapshot (overwrite) mode keeps running, discard mode writes nothing",
    "requires": {"pmu": ["arm_spe_*"]},
    "timeout": 60,
    "build": False,
}

PMU_DIR = "/sys/bus/event_source/devices"
PERF_EVENT_IOC_ENABLE = 0x2400
PERF_EVENT_IOC_DISABLE = 0x2401
# Offsets in struct perf_event_mmap_page.
AUX_HEAD, AUX_OFFSET, AUX_SIZE = 1056, 1072, 1080
DATA_PAGES = 4
AUX_PAGES = 64


def _read(path, default=None):
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return default


def _format_bit(pmu, name):
    """Bit of attr.config that the PMU's format/<name> names ("config:35"), or None."""
    spec = _read(os.path.join(PMU_DIR, pmu, "format", name))
    if not spec or not spec.startswith("config:"):
        return None
    try:
        return int(spec.split(":", 1)[1].split("-")[0])
    except ValueError:
        return None


def decode(buf):
    """Walk SPE packets; returns counts. Headers per the Arm SPE packet format:
    0x00 padding, 0x01 end of record, 0x71 timestamp (8 bytes, also ends a
    record), 0b001000xx extended header (size from the second byte), other
    headers carry 1 << bits[5:4] payload bytes."""
    i, n = 0, len(buf)
    counts = {"records": 0, "packets": 0, "pad": 0, "address": 0, "truncated": False}
    while i < n:
        h = buf[i]
        if h == 0x00:
            counts["pad"] += 1
            i += 1
            continue
        if h == 0x01:
            counts["records"] += 1
            counts["packets"] += 1
            i += 1
            continue
        if (h & 0xFC) == 0x20:
            if i + 1 >= n:
                counts["truncated"] = True
                break
            h2 = buf[i + 1]
            size = 2 + (1 << ((h2 >> 4) & 3))
            if (h2 & 0xF8) == 0xB0:
                counts["address"] += 1
        else:
            size = 1 + (1 << ((h >> 4) & 3))
            if h == 0x71:
                counts["records"] += 1
            elif (h & 0xF8) == 0xB0:
                counts["address"] += 1
        if i + size > n:
            counts["truncated"] = True
            break
        counts["packets"] += 1
        i += size
    return counts


def _burn(seconds):
    x = 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        for i in range(5000):
            x += i * i
    return x


def _session(t, pmu, ptype, period, config, writable_aux):
    """One profiling session; returns (aux_head, bytes of AUX written)."""
    attr = t.perf_attr(ptype, config, sample_period=period, disabled=True, exclude_kernel=True,
                       exclude_hv=True)
    try:
        fd = t.perf_event_open(attr, pid=0, cpu=-1)
    except OSError as e:
        why = ""
        if e.errno == errno.EPERM and _read("/sys/devices/system/cpu/vulnerabilities/meltdown",
                                            "").startswith("Mitigation: PTI"):
            why = " (KPTI is on; the SPE driver needs kpti=off)"
        t.skip("environment-blocks", "%s is present but perf_event_open refuses it: %s%s"
               % (pmu, e, why))
    page = mmap.PAGESIZE
    try:
        ring = mmap.mmap(fd, (1 + DATA_PAGES) * page, mmap.MAP_SHARED,
                         mmap.PROT_READ | mmap.PROT_WRITE)
    except OSError as e:
        t.skip("environment-blocks", "%s: mmap of the perf ring failed: %s" % (pmu, e))
    t.defer(ring.close)
    aux_off = (1 + DATA_PAGES) * page
    ring[AUX_OFFSET:AUX_OFFSET + 8] = struct.pack("=Q", aux_off)
    ring[AUX_SIZE:AUX_SIZE + 8] = struct.pack("=Q", AUX_PAGES * page)
    # A read-only AUX mapping puts the buffer in overwrite (snapshot) mode.
    prot = mmap.PROT_READ | (mmap.PROT_WRITE if writable_aux else 0)
    try:
        aux = mmap.mmap(fd, AUX_PAGES * page, mmap.MAP_SHARED, prot, offset=aux_off)
    except OSError as e:
        t.skip("environment-blocks", "%s: mmap of the AUX area failed: %s" % (pmu, e))
    t.defer(aux.close)
    try:
        fcntl.ioctl(fd, PERF_EVENT_IOC_ENABLE, 0)
    except OSError as e:
        t.skip("environment-blocks", "%s refuses to start: %s"
               % (pmu, errno.errorcode.get(e.errno, e)))
    _burn(1.0)
    fcntl.ioctl(fd, PERF_EVENT_IOC_DISABLE, 0)
    head = struct.unpack_from("=Q", ring, AUX_HEAD)[0]
    return head, aux[:min(head, AUX_PAGES * page)]


def run(t):
    names = sorted(n for n in os.listdir(PMU_DIR) if n.startswith("arm_spe_"))
    pmu = names[0]
    ptype = int(_read(os.path.join(PMU_DIR, pmu, "type")))
    min_interval = int(_read(os.path.join(PMU_DIR, pmu, "caps", "min_interval"), "256") or 256)
    period = max(min_interval, 1024)
    t.detail("pmu", pmu)
    t.detail("period", period)

    head, data = _session(t, pmu, ptype, period, 0, writable_aux=True)
    counts = decode(data)
    t.detail("record", {"aux_head": head, "decoded": counts})
    t.expect(head > 0, "%s started but wrote no AUX data in 1s of CPU burn" % pmu)
    t.expect(counts["records"] > 0, "%d AUX bytes hold no complete SPE record" % len(data))
    t.expect(counts["address"] > 0, "the SPE records carry no address packet")

    head, data = _session(t, pmu, ptype, period, 0, writable_aux=False)
    t.detail("snapshot", {"aux_head": head, "decoded": decode(data[-4096:]) if data else {}})
    t.expect(head > 0, "in snapshot (overwrite) mode %s wrote no AUX data" % pmu)

    bit = _format_bit(pmu, "discard")
    if bit is None:
        t.detail("discard", "this kernel's %s has no format/discard" % pmu)
        return
    head, _data = _session(t, pmu, ptype, period, 1 << bit, writable_aux=True)
    t.detail("discard", {"config_bit": bit, "aux_head": head})
    t.expect(head == 0, "in discard mode %s still wrote %d AUX bytes" % (pmu, head))
