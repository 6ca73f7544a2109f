// SPDX-License-Identifier: GPL-2.0
/* Two programs that differ only in frags awareness: plain "xdp" must be
 * refused on a veth whose peer has MTU 9000, "xdp.frags" accepted. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

__u64 unaware_runs, aware_runs;

SEC("xdp")
int unaware(struct xdp_md *ctx)
{
	__sync_fetch_and_add(&unaware_runs, 1);
	return XDP_PASS;
}

SEC("xdp.frags")
int aware(struct xdp_md *ctx)
{
	__sync_fetch_and_add(&aware_runs, 1);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
