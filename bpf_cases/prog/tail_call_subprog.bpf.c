// SPDX-License-Identifier: GPL-2.0
/* A tail call made from inside a bpf-to-bpf subprogram (called from the entry program),
 * into a program that itself calls a subprogram. The JIT must keep the tail-call
 * counter and the stack across both kinds of call: x86-64 since 5.10, other arches
 * later; a kernel whose JIT cannot says so at load time (the check classifies it). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "kmatrix.h"

struct {
	__uint(type, BPF_MAP_TYPE_PROG_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u32);
} jmp_table SEC(".maps");

__u64 sub_before, callee_runs, callee_sum;
__s32 after_tail_call;
bool done;

static __noinline int add3(int x)
{
	volatile int y = x;	/* keep it a real call with a frame of its own */

	return y + 3;
}

static __noinline int jump(void *ctx, __u32 seed)
{
	sub_before = seed;
	bpf_tail_call(ctx, &jmp_table, 0);
	after_tail_call = 1;	/* only when slot 0 is empty */
	return 0;
}

SEC("raw_tp/sys_enter")
int entry(void *ctx)
{
	if (!kmx_ours() || done)
		return 0;
	return jump(ctx, 39);
}

SEC("raw_tp/sys_enter")
int callee(void *ctx)
{
	callee_runs++;
	callee_sum = add3(sub_before);
	done = true;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
