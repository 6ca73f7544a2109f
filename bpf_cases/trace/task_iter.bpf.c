// SPDX-License-Identifier: GPL-2.0
/* A task iterator (Linux 5.8): one line per task, "tgid pid comm", read by the check
 * through bpf_iter_create() + read(); the check finds its own process in it. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "kmatrix.h"

__u64 tasks_seen;
__u32 own_pid_seen;

SEC("iter/task")
int dump_task(struct bpf_iter__task *ctx)
{
	struct seq_file *seq = ctx->meta->seq;
	struct task_struct *task = ctx->task;
	__u64 args[3];

	if (!task)
		return 0;	/* the end of the iteration */
	tasks_seen++;
	if (task->tgid == kmx_tgid && task->pid == kmx_tgid)
		own_pid_seen = task->pid;
	args[0] = task->tgid;
	args[1] = task->pid;
	args[2] = (__u64)(long)task->comm;
	bpf_seq_printf(seq, "%d %d %s\n", sizeof("%d %d %s\n"), args, sizeof(args));
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
