// SPDX-License-Identifier: GPL-2.0
/* uprobe and uretprobe on libc's getpid() in the check's own process: Python's
 * os.getpid() calls it, so hits count those calls and the return value is our pid. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "kmatrix.h"

__u64 enters, exits;
__s64 last_ret;
__u32 enter_tgid;

SEC("uprobe")
int BPF_KPROBE(getpid_enter)
{
	enter_tgid = bpf_get_current_pid_tgid() >> 32;
	__sync_fetch_and_add(&enters, 1);
	return 0;
}

SEC("uretprobe")
int BPF_KRETPROBE(getpid_exit, long ret)
{
	last_ret = ret;
	__sync_fetch_and_add(&exits, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
