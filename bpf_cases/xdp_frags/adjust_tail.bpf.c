// SPDX-License-Identifier: GPL-2.0
/* bpf_xdp_adjust_tail on a multi-buffer packet: the check picks deltas that
 * free a whole frag, cut back into the head, and grow the last frag. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

__s32 delta;		/* in: the delta to adjust the tail by (set by the check) */
__u64 runs;
__s64 rc;		/* bpf_xdp_adjust_tail's return */
__u64 len_before, len_after;		/* bpf_xdp_get_buff_len */
__u64 linear_before, linear_after;	/* data_end - data */

SEC("xdp.frags")
int adjust(struct xdp_md *ctx)
{
	runs++;
	len_before = bpf_xdp_get_buff_len(ctx);
	linear_before = ctx->data_end - ctx->data;
	rc = bpf_xdp_adjust_tail(ctx, delta);
	len_after = bpf_xdp_get_buff_len(ctx);
	linear_after = ctx->data_end - ctx->data;
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
