"""perf: kernel lock contention (lock:contention_begin/end) read by BPF, per lock type."""

import os
import threading
import time

CASE = {
    "description": "tp_btf on lock:contention_begin/end pairs the waits of the check's own "
                   "threads on a pipe mutex and an inode rwsem, counting them and the time "
                   "waited per lock type",
    "timeout": 60,
}

CHUNK = 1 << 16
SECONDS = 8.0


def _pipe_writers(stop):
    """Two writers and a reader on one pipe: writers meet on the pipe's mutex."""
    r, w = os.pipe()
    data = b"k" * CHUNK

    def write():
        while not stop.is_set():
            os.write(w, data)

    def read():
        while not stop.is_set():
            os.read(r, CHUNK)

    threads = [threading.Thread(target=f) for f in (write, write, read, read)]
    return threads, (r, w)


def _file_writers(stop, path):
    """Two writers of one file: each write(2) holds the inode's rwsem for writing."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    data = b"m" * (4 * CHUNK)

    def write():
        while not stop.is_set():
            os.pwrite(fd, data, 0)

    return [threading.Thread(target=write) for _ in range(3)], (fd,)


def contend(bss, workdir):
    """Run both workloads until each lock type was seen waiting, or SECONDS pass
    (spinlock waits come with the mutex slow path: its wait_lock)."""
    stop = threading.Event()
    pt, pfds = _pipe_writers(stop)
    ft, ffds = _file_writers(stop, os.path.join(workdir, "contend.dat"))
    for th in pt + ft:
        th.daemon = True
        th.start()
    deadline = time.monotonic() + SECONDS
    while time.monotonic() < deadline and not (bss.mutex_waits and bss.rwsem_waits
                                               and bss.spin_waits):
        time.sleep(0.05)
    stop.set()
    for fd in pfds[1:] + ffds:  # closing the write end ends a blocked reader
        os.close(fd)
    for th in pt + ft:
        th.join(2.0)
    os.close(pfds[0])


def run(t):
    obj = t.load()
    t.attach(obj, "on_begin")
    t.attach(obj, "on_end")
    contend(obj.bss, t.workdir)
    b = obj.bss
    t.detail("waits", {"mutex": b.mutex_waits, "rwsem": b.rwsem_waits, "spin": b.spin_waits,
                       "other": b.other_waits, "wait_ns": b.wait_ns, "max_wait_ns": b.max_wait_ns})
    t.expect_ge(b.begins, 1, "contention_begin events of our threads")
    t.expect_ge(b.ends, 1, "contention_end events paired with a begin")
    t.expect_le(b.ends, b.begins, "ends paired (never more than begins)")
    t.expect_ge(b.mutex_waits, 1, "mutex waits (pipe)")
    t.expect_ge(b.rwsem_waits, 1, "rwsem waits (inode)")
    t.expect_gt(b.wait_ns, 0, "time waited (ns)")
