// SPDX-License-Identifier: GPL-2.0
/* bpf_task_acquire/bpf_task_release on the task passed to tp_btf/task_newtask. */
#define BPF_NO_KFUNC_PROTOTYPES /* newer bpftool emits kfunc prototypes; use ours */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

extern struct task_struct *bpf_task_acquire(struct task_struct *p) __ksym;
extern void bpf_task_release(struct task_struct *p) __ksym;

/* res[0] hits, res[1] pid of the acquired task, res[2] tgid filter (set by the
 * check), res[3] times bpf_task_acquire returned NULL */
__u64 res[4];

SEC("tp_btf/task_newtask")
int BPF_PROG(on_newtask, struct task_struct *task, u64 clone_flags)
{
	struct task_struct *acquired;

	/* Only forks done by the check's process count: other tasks fork too. */
	if (!res[2] || (bpf_get_current_pid_tgid() >> 32) != res[2])
		return 0;
	acquired = bpf_task_acquire(task);
	if (!acquired) {
		__sync_fetch_and_add(&res[3], 1);
		return 0;
	}
	res[1] = acquired->pid;
	__sync_fetch_and_add(&res[0], 1);
	bpf_task_release(acquired);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
