"""trace: CO-RE offset, existence and size relocations against the kernel's BTF."""

import os

CASE = {
    "description": "CO-RE: BPF_CORE_READ of the current task's pid, tgid, parent's tgid and "
                   "comm, bpf_core_field_exists on a real and a missing field, field size",
}


def run(t):
    obj = t.load()
    t.attach(obj, "read_task")
    t.expect_true(t.wait(lambda: obj.bss.done), "fired")
    with open("/proc/self/comm", "rb") as f:
        comm = f.read().strip()
    t.expect_values(obj.bss, pid=os.getpid(), tgid=os.getpid(), parent_tgid=os.getppid(),
                    pid_exists=1, bogus_exists=0, comm_size=16)
    t.expect_eq(obj.bss.comm.split(b"\0", 1)[0], comm, "comm")
