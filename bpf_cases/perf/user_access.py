"""perf: reading a hardware counter from user space (rdpmc on x86, perf_user_access on arm64)."""

import json
import os
import signal

CASE = {
    "description": "self-monitoring: a hardware counter's mmap'd user page allows rdpmc "
                   "(cap_user_rdpmc, index) and the value read in user space tracks read(2)",
    "requires": {"arch": ["x86_64", "aarch64"]},
    "timeout": 60,
    "build": False,
}

SYSCTL = "/proc/sys/kernel/perf_user_access"  # arm64 (5.17+)
X86_RDPMC = "/sys/bus/event_source/devices/cpu/rdpmc"


def _burn(n=200000):
    x = 0
    for i in range(n):
        x += i
    return x


def _probe(t, attr, say):
    """Runs in a child that opens its own event: self-monitoring means the reading
    thread is the counted one. A bad counter read kills only the child."""
    perfev = t.perfev
    fd = t.lib.perf_event_open(attr, 0, -1, -1, 0)
    page = perfev.UserPage(fd)
    reader = perfev.CounterReader(t.workdir)
    perfev.ioctl(fd, perfev.PERF_EVENT_IOC_ENABLE)
    say({"stage": "enabled", "page": page.fields()})
    first, idx = perfev.user_read(page, reader)
    say({"stage": "first read", "value": first, "index": idx})
    _burn()
    second, _ = perfev.user_read(page, reader)
    kernel = perfev.counter_value(fd)
    third, _ = perfev.user_read(page, reader)
    say({"stage": "done", "index": idx, "page_running": page.fields(),
         "reads": [first, kernel, third], "second": second})


def _in_child(t, attr):
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never return into the agent
        code = 0

        def say(obj):
            os.write(w, (json.dumps(obj) + "\n").encode())

        try:
            os.close(r)
            _probe(t, attr, say)
        except BaseException as e:  # report anything, then leave without cleanup
            say({"stage": "error", "error": "%s: %s" % (type(e).__name__, e)})
            code = 1
        os._exit(code)
    os.close(w)
    chunks = []
    while True:
        b = os.read(r, 65536)
        if not b:
            break
        chunks.append(b)
    os.close(r)
    _pid, status = os.waitpid(pid, 0)
    lines = [json.loads(ln) for ln in b"".join(chunks).decode().splitlines() if ln.strip()]
    t.detail("stages", lines)
    if os.WIFSIGNALED(status):
        sig = os.WTERMSIG(status)
        last = lines[-1] if lines else {}
        t.fail("reading the counter from user space killed the process with %s after stage "
               "%r although the user page allowed it" % (signal.Signals(sig).name,
                                                         last.get("stage")))
    return lines[-1] if lines else {"error": "the probe process reported nothing"}


def run(t):
    perfev = t.perfev
    arch = t.arch
    restore = None
    attr_kw = {"disabled": True, "exclude_kernel": True, "exclude_hv": True}
    if arch == "aarch64":
        setting = perfev.read_text(SYSCTL)
        if setting is None:
            t.skip("kernel-lacks", "no %s: this kernel has no arm64 user-space counter access "
                   "(5.17+)" % SYSCTL)
        t.detail("perf_user_access", setting)
        if setting == "0":
            try:  # the case turns it on for itself and puts it back
                with open(SYSCTL, "w") as f:
                    f.write("1")
                restore = setting
            except OSError as e:
                t.skip("environment-blocks", "kernel.perf_user_access=0 and cannot be set: %s" % e)
        attr_kw["config1"] = 0x2  # the arm64 PMU's "rdpmc" format bit: ask for user access
    else:
        setting = perfev.read_text(X86_RDPMC)
        t.detail("rdpmc_sysfs", setting)
        if setting == "0":
            t.skip("environment-blocks", "%s is 0: user-space rdpmc is disabled" % X86_RDPMC)
    if restore is not None:
        def put_back():
            with open(SYSCTL, "w") as f:
                f.write(restore)
        t.defer(put_back)
    # Cycles: every PMU has them (QEMU's TCG PMU counts instructions only with icount).
    # Opened here only to classify a refusal precisely; the child opens its own.
    perfev.open_hardware(t, perfev.PERF_COUNT_HW_CPU_CYCLES, "cpu-cycles, user only",
                         **attr_kw)
    out = _in_child(t, t.perf_attr(perfev.PERF_TYPE_HARDWARE, perfev.PERF_COUNT_HW_CPU_CYCLES,
                                   **attr_kw))
    t.detail("probe", out)
    if "error" in out:
        if "mmap(PROT_EXEC)" in out["error"]:
            t.skip("environment-blocks", "cannot map the counter-read stub executable: %s"
                   % out["error"])
        t.fail("user-space counter probe failed: %s" % out["error"])
    page = out["page_running"]
    if not page["cap_user_rdpmc"] or not out["index"]:
        t.fail("the PMU counts cycles but the user page does not allow user-space reads "
               "(cap_user_rdpmc=%s, index=%d)" % (page["cap_user_rdpmc"], out["index"]))
    first, kernel, third = out["reads"]
    t.expect(out["second"] > first, "the user-space count did not grow over a CPU burn "
             "(%d -> %d)" % (first, out["second"]))
    t.expect(first <= kernel <= third, "user-space reads %d and %d do not bracket read(2)'s %d"
             % (first, third, kernel))


