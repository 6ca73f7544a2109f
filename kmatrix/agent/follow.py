"""Follow an agent's journal after a reconnect (stdlib only, Python 3.7).

Run as ``python3 - JOURNAL PID`` with this file on stdin. Prints every journal
line from the start, then keeps printing new lines until the agent PID is gone
and the journal is drained. The controller de-duplicates by case id, so lines it
already has do no harm.
"""

import os
import sys
import time


def alive(pid):
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie still answers kill(0); its state in /proc says it is done.
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def follow(path, pid, poll=0.2):
    pos = 0
    buf = b""
    while True:
        running = alive(pid)
        try:
            with open(path, "rb") as f:
                f.seek(pos)
                chunk = f.read()
        except OSError:
            chunk = b""
        if chunk:
            pos += len(chunk)
            buf += chunk
            *lines, buf = buf.split(b"\n")
            for line in lines:
                sys.stdout.write(line.decode("utf-8", "replace") + "\n")
            sys.stdout.flush()
            continue
        if not running:
            return 0
        time.sleep(poll)


if __name__ == "__main__":
    sys.exit(follow(sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 0))
