// SPDX-License-Identifier: GPL-2.0
/* An xdp.frags program on a multi-buffer packet from BPF_PROG_TEST_RUN: reads
 * 8-byte markers that straddle the head->frag and frag->frag boundaries and
 * writes their complements back across the same boundaries. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

/* inputs (set by the check): res[0] offset of the head->frag boundary,
 * res[1] offset of the frag->frag boundary (0 = just measure);
 * outputs: res[2] bpf_xdp_get_buff_len, res[3] linear length, res[4]/res[5]
 * markers read across boundary a/b, res[6]/res[7] load rcs, res[8]/res[9]
 * store rcs, res[10] runs */
__u64 res[11];

SEC("xdp.frags")
int xdp_frags(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 oa = res[0], ob = res[1];
	__u64 a = 0, b = 0;

	res[10]++;
	res[2] = bpf_xdp_get_buff_len(ctx);
	res[3] = data_end - data;
	if (oa < 4 || ob < 4)
		return XDP_PASS;
	res[6] = bpf_xdp_load_bytes(ctx, oa - 4, &a, sizeof(a));
	res[7] = bpf_xdp_load_bytes(ctx, ob - 4, &b, sizeof(b));
	res[4] = a;
	res[5] = b;
	a = ~a;
	b = ~b;
	res[8] = bpf_xdp_store_bytes(ctx, oa - 4, &a, sizeof(a));
	res[9] = bpf_xdp_store_bytes(ctx, ob - 4, &b, sizeof(b));
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
