// SPDX-License-Identifier: GPL-2.0
/* Native-mode xdp.frags program on a veth with MTU 9000: counts the check's
 * jumbo frames (their own EtherType) and their bytes, and reads each frame's
 * trailer, which sits in the last frag. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "kmatrix.h"


__u64 frames;
__u64 bytes;		/* sum of bpf_xdp_get_buff_len */
__u64 multi_buffer;	/* frames longer than their linear part */
__u64 largest;		/* the longest frame */
__u64 smallest_linear;	/* the shortest linear part */
__u64 trailers_ok;	/* frames whose trailer (their own length) read back right */
__u64 other_frames;	/* frames that are not ours */

SEC("xdp.frags")
int count_jumbo(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	__u64 len, linear, trailer = 0;

	if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(KMX_ETHERTYPE)) {
		__sync_fetch_and_add(&other_frames, 1);
		return XDP_PASS;
	}
	len = bpf_xdp_get_buff_len(ctx);
	linear = data_end - data;
	__sync_fetch_and_add(&frames, 1);
	__sync_fetch_and_add(&bytes, len);
	if (len > linear)
		__sync_fetch_and_add(&multi_buffer, 1);
	if (len > largest)
		largest = len;
	if (smallest_linear == 0 || linear < smallest_linear)
		smallest_linear = linear;
	/* The frame ends with its own length as a u64. */
	if (len >= 22 && bpf_xdp_load_bytes(ctx, len - 8, &trailer, sizeof(trailer)) == 0 &&
	    trailer == len)
		__sync_fetch_and_add(&trailers_ok, 1);
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
