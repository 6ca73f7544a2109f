// SPDX-License-Identifier: GPL-2.0
/* Native XDP on a veth pair: `bounce` sends the check's frames back out of the device
 * they came in on (XDP_TX) with MACs swapped and a new EtherType; `catch_bounced` on
 * the peer counts them as they come back. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define KMX_ETHERTYPE 0x88B5	/* IEEE "local experimental" */
#define KMX_BOUNCED 0x88B6	/* the other one */
#define ETH_ALEN 6

__u64 bounced, caught, caught_bytes;

SEC("xdp")
int bounce(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;
	unsigned char tmp[ETH_ALEN];

	if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(KMX_ETHERTYPE))
		return XDP_PASS;
	__builtin_memcpy(tmp, eth->h_dest, ETH_ALEN);
	__builtin_memcpy(eth->h_dest, eth->h_source, ETH_ALEN);
	__builtin_memcpy(eth->h_source, tmp, ETH_ALEN);
	eth->h_proto = bpf_htons(KMX_BOUNCED);
	__sync_fetch_and_add(&bounced, 1);
	return XDP_TX;
}

SEC("xdp")
int catch_bounced(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) <= data_end && eth->h_proto == bpf_htons(KMX_BOUNCED)) {
		__sync_fetch_and_add(&caught, 1);
		__sync_fetch_and_add(&caught_bytes, data_end - data);
	}
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
