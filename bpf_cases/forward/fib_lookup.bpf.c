// SPDX-License-Identifier: GPL-2.0
/* bpf_fib_lookup from XDP: the kernel's IPv4 route and neighbour for dst_ip, as a
 * forwarding program would ask for them (run by BPF_PROG_TEST_RUN in the case's netns). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#define AF_INET 2
#define IPPROTO_UDP 17

__u32 in_ifindex;		/* set by the check: the device the packet "came in" on */
char src_ip[4], dst_ip[4];	/* set by the check, network order */
__u64 runs;
__s64 rc;			/* BPF_FIB_LKUP_RET_* */
__u32 out_ifindex;
char smac[6], dmac[6];

SEC("xdp")
int lookup(struct xdp_md *ctx)
{
	struct bpf_fib_lookup p = {};

	p.family = AF_INET;
	p.l4_protocol = IPPROTO_UDP;
	p.tot_len = 100;
	p.ifindex = in_ifindex;
	__builtin_memcpy(&p.ipv4_src, src_ip, 4);
	__builtin_memcpy(&p.ipv4_dst, dst_ip, 4);
	rc = bpf_fib_lookup(ctx, &p, sizeof(p), 0);
	out_ifindex = p.ifindex;
	__builtin_memcpy(smac, p.smac, 6);
	__builtin_memcpy(dmac, p.dmac, 6);
	__sync_fetch_and_add(&runs, 1);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
