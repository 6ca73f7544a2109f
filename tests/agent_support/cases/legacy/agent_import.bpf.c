// SPDX-License-Identifier: GPL-2.0
/* Two programs that differ only in frags awareness: plain "xdp" must be
 * refused on a veth whose peer has MTU 9000, "xdp.frags" accepted. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

__u64 res[2]; /* res[0] runs of the unaware program, res[1] of the aware one */

SEC("xdp")
int unaware(struct xdp_md *ctx)
{
	__sync_fetch_and_add(&res[0], 1);
	return XDP_PASS;
}

SEC("xdp.frags")
int aware(struct xdp_md *ctx)
{
	__sync_fetch_and_add(&res[1], 1);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
