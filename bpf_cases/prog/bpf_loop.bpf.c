// SPDX-License-Identifier: GPL-2.0
/* bpf_loop(): the kernel calls a callback n times; the callback's context is a
 * stack variable of the caller, and returning 1 stops the loop early. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "kmatrix.h"

struct loop_ctx {
	__u64 sum;
	__u32 calls;
	__u32 stop_at;
};

__u32 nr_loops;		/* set by the check */
__u32 stop_at;		/* set by the check: the callback returns 1 at this index */
__s64 full_ret, early_ret;
__u64 full_sum, early_sum;
__u32 full_calls, early_calls;
bool done;

static int add_index(__u32 index, void *data)
{
	struct loop_ctx *c = data;

	c->calls++;
	c->sum += index;
	return c->stop_at && index == c->stop_at ? 1 : 0;
}

SEC("raw_tp/sys_enter")
int loop(void *ctx)
{
	struct loop_ctx full = {}, early = {};

	if (!kmx_ours() || done)
		return 0;
	full_ret = bpf_loop(nr_loops, add_index, &full, 0);
	early.stop_at = stop_at;
	early_ret = bpf_loop(nr_loops, add_index, &early, 0);
	full_sum = full.sum;
	full_calls = full.calls;
	early_sum = early.sum;
	early_calls = early.calls;
	done = true;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
