// SPDX-License-Identifier: GPL-2.0
/* freplace: an XDP program whose verdict comes from a global subprogram, and
 * an extension program that replaces that subprogram in the loaded program. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

/* res[0] runs of xdp_main, res[1] runs of the original verdict,
 * res[2] runs of the replacement (in the extension object's own .bss) */
__u64 res[3];

/* Global and noinline: verified on its own, so an extension can take its place. */
__attribute__((noinline)) int kmx_verdict(struct xdp_md *ctx)
{
	if (!ctx)
		return XDP_ABORTED;
	__sync_fetch_and_add(&res[1], 1);
	return XDP_PASS;
}

SEC("xdp")
int xdp_main(struct xdp_md *ctx)
{
	__sync_fetch_and_add(&res[0], 1);
	return kmx_verdict(ctx);
}

SEC("freplace/kmx_verdict")
int new_verdict(struct xdp_md *ctx)
{
	__sync_fetch_and_add(&res[2], 1);
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
