// SPDX-License-Identifier: GPL-2.0
/* cgroup_skb/egress (BPF_CGROUP_INET_EGRESS): counts the UDP datagrams to dport that
 * the processes of the case's cgroup send, and their bytes from the IPv4 header on. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define IPPROTO_UDP 17

__u16 dport;		/* host order, set by the check */
__u64 packets, bytes;	/* the datagrams to dport */
__u64 others;		/* anything else the group sent */

SEC("cgroup_skb/egress")
int count_egress(struct __sk_buff *skb)
{
	struct iphdr iph;
	struct udphdr udp;

	/* A cgroup skb program sees the packet from its network header on. */
	if (bpf_skb_load_bytes(skb, 0, &iph, sizeof(iph)) || iph.version != 4 ||
	    iph.protocol != IPPROTO_UDP ||
	    bpf_skb_load_bytes(skb, iph.ihl * 4, &udp, sizeof(udp)) ||
	    bpf_ntohs(udp.dest) != dport) {
		__sync_fetch_and_add(&others, 1);
		return 1;
	}
	__sync_fetch_and_add(&packets, 1);
	__sync_fetch_and_add(&bytes, skb->len);
	return 1;	/* let it go */
}

char LICENSE[] SEC("license") = "GPL";
