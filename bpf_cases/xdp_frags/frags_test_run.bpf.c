// SPDX-License-Identifier: GPL-2.0
/* An xdp.frags program on a multi-buffer packet from BPF_PROG_TEST_RUN: reads
 * 8-byte markers that straddle the head->frag and frag->frag boundaries and
 * writes their complements back across the same boundaries. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

/* in: the offsets of the head->frag and frag->frag boundaries (0: just measure) */
__u32 boundary_a, boundary_b;

__u64 runs;
__u64 buff_len;			/* bpf_xdp_get_buff_len */
__u64 linear_len;		/* data_end - data */
char read_a[8], read_b[8];	/* the markers read across boundary a and b */
__s64 load_a_rc, load_b_rc, store_a_rc, store_b_rc;

SEC("xdp.frags")
int xdp_frags(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	__u32 oa = boundary_a, ob = boundary_b;
	__u64 a = 0, b = 0;

	runs++;
	buff_len = bpf_xdp_get_buff_len(ctx);
	linear_len = data_end - data;
	if (oa < 4 || ob < 4)
		return XDP_PASS;
	load_a_rc = bpf_xdp_load_bytes(ctx, oa - 4, &a, sizeof(a));
	load_b_rc = bpf_xdp_load_bytes(ctx, ob - 4, &b, sizeof(b));
	__builtin_memcpy(read_a, &a, sizeof(a));
	__builtin_memcpy(read_b, &b, sizeof(b));
	a = ~a;
	b = ~b;
	store_a_rc = bpf_xdp_store_bytes(ctx, oa - 4, &a, sizeof(a));
	store_b_rc = bpf_xdp_store_bytes(ctx, ob - 4, &b, sizeof(b));
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
