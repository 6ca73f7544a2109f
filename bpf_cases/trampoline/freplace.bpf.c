// SPDX-License-Identifier: GPL-2.0
/* freplace: an XDP program whose verdict comes from a global subprogram, and
 * an extension program that replaces that subprogram in the loaded program. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

__u64 main_runs;		/* runs of xdp_main */
__u64 original_runs;		/* runs of the original verdict */
__u64 replacement_runs;		/* runs of the replacement (in the extension object's .bss) */

/* Global and noinline: verified on its own, so an extension can take its place. */
__attribute__((noinline)) int kmx_verdict(struct xdp_md *ctx)
{
	if (!ctx)
		return XDP_ABORTED;
	__sync_fetch_and_add(&original_runs, 1);
	return XDP_PASS;
}

SEC("xdp")
int xdp_main(struct xdp_md *ctx)
{
	__sync_fetch_and_add(&main_runs, 1);
	return kmx_verdict(ctx);
}

SEC("freplace/kmx_verdict")
int new_verdict(struct xdp_md *ctx)
{
	__sync_fetch_and_add(&replacement_runs, 1);
	return XDP_DROP;
}

char LICENSE[] SEC("license") = "GPL";
