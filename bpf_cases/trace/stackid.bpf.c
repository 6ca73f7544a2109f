// SPDX-License-Identifier: GPL-2.0
/* bpf_get_stackid into a BPF_MAP_TYPE_STACK_TRACE map: the kernel stack of the
 * check's getppid() at sys_enter, and the user stack of the same moment. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "kmatrix.h"

#define MAX_DEPTH 32

/* One map per stack kind: two stacks in one map can hash to one bucket, and
 * bpf_get_stackid then says -EEXIST (seen once on x86_64 trixie). */
struct stack_map {
	__uint(type, BPF_MAP_TYPE_STACK_TRACE);
	__uint(max_entries, 64);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, MAX_DEPTH * sizeof(__u64));
};
struct stack_map kstacks SEC(".maps");
struct stack_map ustacks SEC(".maps");

__s64 kstack_id = -1, ustack_id = -1;
bool done;

SEC("raw_tp/sys_enter")
int on_enter(void *ctx)
{
	if (!kmx_ours() || done)
		return 0;
	kstack_id = bpf_get_stackid(ctx, &kstacks, 0);
	ustack_id = bpf_get_stackid(ctx, &ustacks, BPF_F_USER_STACK);
	done = true;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
