// SPDX-License-Identifier: GPL-2.0
/* Native XDP on the receiving veth: it gives the device NAPI instances (older veths
 * have NAPI only with XDP) and counts the check's frames as they are polled. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define KMX_ETHERTYPE 0x88B5	/* IEEE "local experimental" */

__u64 frames, bytes;

SEC("xdp")
int count_rx(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) <= data_end && eth->h_proto == bpf_htons(KMX_ETHERTYPE)) {
		__sync_fetch_and_add(&frames, 1);
		__sync_fetch_and_add(&bytes, data_end - data);
	}
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
