// SPDX-License-Identifier: GPL-2.0
/* A classic tracepoint program (perf-event attached): the syscall enter/exit
 * tracepoints of getppid, with the record layout of struct trace_event_raw_sys_enter/
 * sys_exit from the kernel's BTF. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "kmatrix.h"

__u64 enters, exits;
__s64 enter_nr, exit_nr, exit_ret;

SEC("tracepoint/syscalls/sys_enter_getppid")
int getppid_enter(struct trace_event_raw_sys_enter *ctx)
{
	if (!kmx_ours())
		return 0;
	enter_nr = ctx->id;
	__sync_fetch_and_add(&enters, 1);
	return 0;
}

SEC("tracepoint/syscalls/sys_exit_getppid")
int getppid_exit(struct trace_event_raw_sys_exit *ctx)
{
	if (!kmx_ours())
		return 0;
	exit_nr = ctx->id;
	exit_ret = ctx->ret;
	__sync_fetch_and_add(&exits, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
