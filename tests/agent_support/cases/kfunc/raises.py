"""Test support: attaches, then raises half-way; the agent must still clean up."""

import os

CASE = {"description": "attach then raise"}


def _my_bpf_ids():
    ids = {"prog": [], "link": []}
    for fd in os.listdir("/proc/self/fd"):
        try:
            with open("/proc/self/fdinfo/" + fd) as f:
                for line in f:
                    for kind in ids:
                        if line.startswith(kind + "_id:"):
                            ids[kind].append(int(line.split()[1]))
        except OSError:
            pass
    return ids


def run(t):
    obj = t.load()
    t.attach(obj, "on_sys_enter")
    os.getppid()
    t.detail("seen", _my_bpf_ids())
    t.detail("hits", obj.bss_u64(1)[0])
    raise RuntimeError("deliberate failure after attach")
