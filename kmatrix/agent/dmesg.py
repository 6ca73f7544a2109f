"""Kernel log lines gained during a case (/dev/kmsg) and the taint mask.

The agent only collects; kmatrix.detectors on the controller judges both.

Stdlib only, Python 3.7. Reading /dev/kmsg needs CAP_SYSLOG (or
dmesg_restrict=0); without it the watcher silently yields nothing.
"""

import errno
import os

MAX_LINES = 200


def tainted():
    try:
        with open("/proc/sys/kernel/tainted") as f:
            return int(f.read().strip())
    except (OSError, ValueError):
        return None


class KmsgWatch(object):
    """Open /dev/kmsg at its end; drain() returns messages logged since."""

    def __init__(self, path="/dev/kmsg", kernel_only=True):
        # kernel_only: drop records user space wrote (facility >= 1); the kernel
        # refuses facility 0 from /dev/kmsg writers, so these cannot fake a splat.
        self.kernel_only = kernel_only
        self.fd = None
        try:
            self.fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
            os.lseek(self.fd, 0, os.SEEK_END)
        except OSError:
            self.close()

    def drain(self):
        lines = []
        if self.fd is None:
            return lines
        while len(lines) < MAX_LINES:
            try:
                rec = os.read(self.fd, 8192)
            except OSError as e:
                if e.errno == errno.EPIPE:  # records overwritten while we read: go on
                    continue
                break  # EAGAIN: nothing more; anything else: give up quietly
            if not rec:
                break
            text = rec.decode("utf-8", "replace")
            head, _, body = text.partition(";")
            try:
                # Facility >= 1 (priority >= 8): written by user space, not a kernel splat.
                if self.kernel_only and head and int(head.split(",")[0]) >> 3:
                    continue
            except ValueError:
                pass
            # Continuation lines (" KEY=value") carry device metadata: drop them.
            msg = body.split("\n", 1)[0]
            lines.append(msg if head else text.rstrip("\n"))
        return lines

    def close(self):
        if self.fd is not None:
            try:
                os.close(self.fd)
            except OSError:
                pass
            self.fd = None
