// SPDX-License-Identifier: GPL-2.0
/* bpf_task_acquire/bpf_task_release on the task passed to tp_btf/task_newtask. */
#define BPF_NO_KFUNC_PROTOTYPES /* newer bpftool emits kfunc prototypes; use ours */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "kmatrix.h"

extern struct task_struct *bpf_task_acquire(struct task_struct *p) __ksym;
extern void bpf_task_release(struct task_struct *p) __ksym;

__u64 hits;		/* forks whose new task was acquired */
__s32 acquired_pid;	/* pid of the task bpf_task_acquire returned */
__u64 acquire_null;	/* times bpf_task_acquire returned NULL */

SEC("tp_btf/task_newtask")
int BPF_PROG(on_newtask, struct task_struct *task, u64 clone_flags)
{
	struct task_struct *acquired;

	/* Only forks done by the check's process count: other tasks fork too. */
	if (!kmx_ours())
		return 0;
	acquired = bpf_task_acquire(task);
	if (!acquired) {
		__sync_fetch_and_add(&acquire_null, 1);
		return 0;
	}
	acquired_pid = acquired->pid;
	__sync_fetch_and_add(&hits, 1);
	bpf_task_release(acquired);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
