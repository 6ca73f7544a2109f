// SPDX-License-Identifier: GPL-2.0
/* Native-mode xdp.frags program on a veth with MTU 9000: counts the check's
 * jumbo frames (their own EtherType) and their bytes, and reads each frame's
 * trailer, which sits in the last frag. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define KMX_ETHERTYPE 0x88B5 /* IEEE "local experimental" */

/* res[0] frames, res[1] bytes (bpf_xdp_get_buff_len), res[2] frames longer
 * than their linear part, res[3] largest frame, res[4] smallest linear part,
 * res[5] trailers that matched, res[6] other frames seen */
__u64 res[7];

SEC("xdp.frags")
int count_jumbo(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u64 len, linear, trailer = 0;

	if ((void *)(eth + 1) > data_end) {
		__sync_fetch_and_add(&res[6], 1);
		return XDP_PASS;
	}
	if (eth->h_proto != bpf_htons(KMX_ETHERTYPE)) {
		__sync_fetch_and_add(&res[6], 1);
		return XDP_PASS;
	}
	len = bpf_xdp_get_buff_len(ctx);
	linear = data_end - data;
	__sync_fetch_and_add(&res[0], 1);
	__sync_fetch_and_add(&res[1], len);
	if (len > linear)
		__sync_fetch_and_add(&res[2], 1);
	if (len > res[3])
		res[3] = len;
	if (res[4] == 0 || linear < res[4])
		res[4] = linear;
	/* The frame ends with its own length as a u64. */
	if (len >= 22 && bpf_xdp_load_bytes(ctx, len - 8, &trailer, sizeof(trailer)) == 0 &&
	    trailer == len)
		__sync_fetch_and_add(&res[5], 1);
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
