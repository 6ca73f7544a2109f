// SPDX-License-Identifier: GPL-2.0
/* A classic tracepoint program (perf-event attached): the syscall enter/exit
 * tracepoints of getppid. The record is the event's own format (tracefs
 * events/syscalls/<event>/format), which the check compares with these structs: the
 * kernel refuses (EACCES) a program that reads past the record's end. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "kmatrix.h"

struct enter_getppid {
	__u64 common;		/* common_type, _flags, _preempt_count, _pid */
	int syscall_nr;		/* __syscall_nr; getppid has no arguments */
};

struct exit_getppid {
	__u64 common;
	int syscall_nr;
	long ret;
};

__u64 enters, exits;
__s64 enter_nr, exit_nr, exit_ret;

SEC("tracepoint/syscalls/sys_enter_getppid")
int getppid_enter(struct enter_getppid *ctx)
{
	if (!kmx_ours())
		return 0;
	enter_nr = ctx->syscall_nr;
	__sync_fetch_and_add(&enters, 1);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_getppid")
int getppid_exit(struct exit_getppid *ctx)
{
	if (!kmx_ours())
		return 0;
	exit_nr = ctx->syscall_nr;
	exit_ret = ctx->ret;
	__sync_fetch_and_add(&exits, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
