// SPDX-License-Identifier: GPL-2.0
/* fentry/fexit on do_mmap, which has 8 arguments up to 6.4 and 9 after: more
 * than x86 (6), arm64 and riscv64 (8) pass in registers, so the trampoline
 * must fetch the rest from the stack. The program reads every argument with
 * bpf_get_func_arg, so one object fits any arity. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

#define MAXARGS 12

/* in: res[0] tgid to watch, res[1] the mmap length to match (argument 2);
 * out: res[2] fentry hits, res[3] argument count, res[4..15] arguments,
 * res[16] fexit hits, res[17] return value, res[18..29] fexit's arguments */
__u64 res[30];

static int ours(void *ctx)
{
	__u64 len = 0;

	if ((bpf_get_current_pid_tgid() >> 32) != res[0])
		return 0;
	return bpf_get_func_arg(ctx, 2, &len) == 0 && len == res[1];
}

SEC("fentry/do_mmap")
int BPF_PROG(on_entry)
{
	__u64 v;
	int i;

	if (!ours(ctx))
		return 0;
	res[3] = bpf_get_func_arg_cnt(ctx);
	for (i = 0; i < MAXARGS; i++) {
		v = 0;
		bpf_get_func_arg(ctx, i, &v);
		res[4 + i] = v;
	}
	__sync_fetch_and_add(&res[2], 1);
	return 0;
}

SEC("fexit/do_mmap")
int BPF_PROG(on_exit)
{
	__u64 v = 0;
	int i;

	if (!ours(ctx))
		return 0;
	bpf_get_func_ret(ctx, &v);
	res[17] = v;
	for (i = 0; i < MAXARGS; i++) {
		v = 0;
		bpf_get_func_arg(ctx, i, &v);
		res[18 + i] = v;
	}
	__sync_fetch_and_add(&res[16], 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
