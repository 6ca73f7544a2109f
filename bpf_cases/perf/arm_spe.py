"""perf: Arm SPE (Statistical Profiling Extension) records into an AUX buffer.

No BPF object: this checks that the PMU the perf/BPF tooling relies on starts
and produces data. Skips as hardware-missing where no arm_spe_* PMU exists.
"""

import errno
import fcntl
import mmap
import os
import struct
import time

CASE = {
    "description": "arm_spe PMU opens with perf_event_open and records into the AUX area",
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


def run(t):
    names = sorted(n for n in os.listdir(PMU_DIR) if n.startswith("arm_spe_"))
    pmu = names[0]
    ptype = int(_read(os.path.join(PMU_DIR, pmu, "type")))
    min_interval = int(_read(os.path.join(PMU_DIR, pmu, "caps", "min_interval"), "256") or 256)
    period = max(min_interval, 1024)
    t.detail("pmu", pmu)
    t.detail("type", ptype)
    t.detail("period", period)
    attr = t.perf_attr(ptype, 0, sample_period=period, disabled=True, exclude_kernel=True,
                       exclude_hv=True)
    try:
        fd = t.perf_event_open(attr, pid=0, cpu=-1)
    except OSError as e:
        t.skip("environment-blocks", "%s is present but perf_event_open refuses it: %s"
               % (pmu, e))
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
    try:
        aux = mmap.mmap(fd, AUX_PAGES * page, mmap.MAP_SHARED, mmap.PROT_READ,
                        offset=aux_off)
    except OSError as e:
        t.skip("environment-blocks", "%s: mmap of the AUX area failed: %s" % (pmu, e))
    t.defer(aux.close)
    try:
        fcntl.ioctl(fd, PERF_EVENT_IOC_ENABLE, 0)
    except OSError as e:
        t.skip("environment-blocks", "%s refuses to start: %s" % (pmu, errno.errorcode.get(
            e.errno, e)))
    x = 0
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        for i in range(5000):
            x += i * i
    fcntl.ioctl(fd, PERF_EVENT_IOC_DISABLE, 0)
    head = struct.unpack_from("=Q", ring, AUX_HEAD)[0]
    t.detail("aux_head", head)
    t.expect(head > 0, "%s started but wrote no AUX data in 1s of CPU burn" % pmu)
