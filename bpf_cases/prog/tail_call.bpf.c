// SPDX-License-Identifier: GPL-2.0
/* Tail calls through a BPF_MAP_TYPE_PROG_ARRAY: entry -> step (slot 0) -> last (slot 1).
 * Each program of the chain records the depth it ran at, so the values prove that
 * every callee ran and in which order; a tail call into an empty slot falls through. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "kmatrix.h"

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u32);
} jmp_table SEC(".maps");

__u64 entry_runs, step_runs, last_runs;
__u32 depth, step_depth, last_depth;
__s32 empty_slot_fell_through;
bool done;

SEC("raw_tp/sys_enter")
int entry(void *ctx)
{
	if (!kmx_ours() || done)
		return 0;
	entry_runs++;
	/* slot 3 is empty: the call returns and the program goes on */
	bpf_tail_call(ctx, &jmp_table, 3);
	empty_slot_fell_through = 1;
	depth = 1;
	bpf_tail_call(ctx, &jmp_table, 0);
	return 0;	/* only reached when slot 0 is empty */
}

SEC("raw_tp/sys_enter")
int step(void *ctx)
{
	step_runs++;
	step_depth = ++depth;
	bpf_tail_call(ctx, &jmp_table, 1);
	return 0;
}

SEC("raw_tp/sys_enter")
int last(void *ctx)
{
	last_runs++;
	last_depth = ++depth;
	done = true;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
