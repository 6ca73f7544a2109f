// SPDX-License-Identifier: GPL-2.0
/* tcx ingress (BPF_TCX_INGRESS link): the check's frames go to the ingress of the peer of veth
 * target_ifindex, in the other namespace (bpf_redirect_peer). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define KMX_ETHERTYPE 0x88B5	/* IEEE "local experimental" */
#define TC_ACT_OK 0

__u32 target_ifindex;	/* set by the check */
__u64 seen;
__s64 verdict;		/* the last bpf_redirect_peer return: TC_ACT_REDIRECT */

SEC("tc")
int tcx_to_peer(struct __sk_buff *skb)
{
	if (skb->protocol != bpf_htons(KMX_ETHERTYPE))
		return TC_ACT_OK;
	__sync_fetch_and_add(&seen, 1);
	verdict = bpf_redirect_peer(target_ifindex, 0);
	return verdict;
}

char LICENSE[] SEC("license") = "GPL";
