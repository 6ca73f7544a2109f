// SPDX-License-Identifier: GPL-2.0
/* Raw tracepoint programs on sys_enter/sys_exit: the untyped arguments
 * (struct pt_regs *, syscall nr) and (struct pt_regs *, return value). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "kmatrix.h"

__u64 nr_wanted;	/* set by the check: getppid's number on this arch */
__u64 enters, exits;
__s64 exit_ret;
bool regs_seen;

SEC("raw_tp/sys_enter")
int on_enter(struct bpf_raw_tracepoint_args *ctx)
{
	if (!kmx_ours() || ctx->args[1] != nr_wanted)
		return 0;
	regs_seen = ctx->args[0] != 0;
	__sync_fetch_and_add(&enters, 1);
	return 0;
}

SEC("raw_tp/sys_exit")
int on_exit(struct bpf_raw_tracepoint_args *ctx)
{
	if (!kmx_ours() || !enters)
		return 0;
	/* sys_exit carries no nr: only the return of the getppid() seen at entry counts */
	if (enters == exits)
		return 0;
	exit_ret = ctx->args[1];
	__sync_fetch_and_add(&exits, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
