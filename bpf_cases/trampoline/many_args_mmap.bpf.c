// SPDX-License-Identifier: GPL-2.0
/* fentry/fexit on do_mmap, which has 8 arguments up to 6.4 and 9 after: more
 * than x86 (6), arm64 and riscv64 (8) pass in registers, so the trampoline
 * must fetch the rest from the stack. The program reads every argument with
 * bpf_get_func_arg, so one object fits any arity. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "kmatrix.h"

#define MAXARGS 12

/* What fentry and fexit saw of our mmap: hits, bpf_get_func_arg_cnt, the
 * arguments and (fexit) the return value. */
struct kmx_seen {
	__u64 hits;
	__u64 nargs;
	__u64 args[MAXARGS];
	__u64 ret;
};

__u64 length;		/* in: the mmap length to match (argument 2) */
struct kmx_seen entry_seen, exit_seen;

static int ours(void *ctx)
{
	__u64 len = 0;

	return kmx_ours() && bpf_get_func_arg(ctx, 2, &len) == 0 && len == length;
}

static __always_inline void record(void *ctx, struct kmx_seen *s)
{
	__u64 v;
	int i;

	s->nargs = bpf_get_func_arg_cnt(ctx);
	for (i = 0; i < MAXARGS; i++) {
		v = 0;
		bpf_get_func_arg(ctx, i, &v);
		s->args[i] = v;
	}
	__sync_fetch_and_add(&s->hits, 1);
}

SEC("fentry/do_mmap")
int BPF_PROG(on_entry)
{
	if (ours(ctx))
		record(ctx, &entry_seen);
	return 0;
}

SEC("fexit/do_mmap")
int BPF_PROG(on_exit)
{
	__u64 v = 0;

	if (!ours(ctx))
		return 0;
	bpf_get_func_ret(ctx, &v);
	exit_seen.ret = v;
	record(ctx, &exit_seen);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
