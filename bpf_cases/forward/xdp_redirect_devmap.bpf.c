// SPDX-License-Identifier: GPL-2.0
/* Native XDP on veths: `redirect` sends the check's frames out of the device in
 * slot 0 of a devmap (bpf_redirect_map); `catch_redirected` on that device's peer
 * counts them. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define KMX_ETHERTYPE 0x88B5	/* IEEE "local experimental" */

struct {
	__uint(type, BPF_MAP_TYPE_DEVMAP);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u32);	/* an ifindex: the form every kernel since 4.14 takes */
} tx_port SEC(".maps");

__u64 redirected, caught, caught_bytes;
__s64 verdict;		/* the last bpf_redirect_map return: XDP_REDIRECT */

SEC("xdp")
int redirect(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) > data_end || eth->h_proto != bpf_htons(KMX_ETHERTYPE))
		return XDP_PASS;
	__sync_fetch_and_add(&redirected, 1);
	verdict = bpf_redirect_map(&tx_port, 0, 0);
	return verdict;
}

SEC("xdp")
int catch_redirected(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct ethhdr *eth = data;

	if ((void *)(eth + 1) <= data_end && eth->h_proto == bpf_htons(KMX_ETHERTYPE)) {
		__sync_fetch_and_add(&caught, 1);
		__sync_fetch_and_add(&caught_bytes, data_end - data);
	}
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
