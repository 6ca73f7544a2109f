// SPDX-License-Identifier: GPL-2.0
/* tc ingress (clsact): the check's frames leave through veth target_ifindex
 * (bpf_redirect to its egress). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define KMX_ETHERTYPE 0x88B5	/* IEEE "local experimental" */
#define TC_ACT_OK 0

__u32 target_ifindex;	/* set by the check */
__u64 seen;
__s64 verdict;		/* the last bpf_redirect return: TC_ACT_REDIRECT */

SEC("tc")
int to_egress(struct __sk_buff *skb)
{
	if (skb->protocol != bpf_htons(KMX_ETHERTYPE))
		return TC_ACT_OK;
	__sync_fetch_and_add(&seen, 1);
	verdict = bpf_redirect(target_ifindex, 0);
	return verdict;
}

char LICENSE[] SEC("license") = "GPL";
