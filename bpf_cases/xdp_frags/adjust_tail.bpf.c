// SPDX-License-Identifier: GPL-2.0
/* bpf_xdp_adjust_tail on a multi-buffer packet: the check picks deltas that
 * free a whole frag, cut back into the head, and grow the last frag. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

/* in: res[0] delta (s64 in a u64); out: res[1] helper rc, res[2]/res[3] buff
 * length before/after, res[4]/res[5] linear length before/after, res[6] runs */
__u64 res[7];

SEC("xdp.frags")
int adjust(struct xdp_md *ctx)
{
	int delta = (int)(__s64)res[0];

	res[6]++;
	res[2] = bpf_xdp_get_buff_len(ctx);
	res[4] = ctx->data_end - ctx->data;
	res[1] = (__u64)(__s64)bpf_xdp_adjust_tail(ctx, delta);
	res[3] = bpf_xdp_get_buff_len(ctx);
	res[5] = ctx->data_end - ctx->data;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
