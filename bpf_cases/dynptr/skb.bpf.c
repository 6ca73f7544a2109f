// SPDX-License-Identifier: GPL-2.0
/* bpf_dynptr_from_skb + bpf_dynptr_slice/slice_rdwr in a tc program, run by
 * BPF_PROG_TEST_RUN on an Ethernet/IPv4/UDP packet the check builds. */
#define BPF_NO_KFUNC_PROTOTYPES
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

extern int bpf_dynptr_from_skb(struct __sk_buff *skb, __u64 flags,
			       struct bpf_dynptr *ptr__uninit) __ksym;
extern void *bpf_dynptr_slice(const struct bpf_dynptr *ptr, __u32 offset,
			      void *buffer__opt, __u32 buffer__szk) __ksym;
extern void *bpf_dynptr_slice_rdwr(const struct bpf_dynptr *ptr, __u32 offset,
				   void *buffer__opt, __u32 buffer__szk) __ksym;

#define PAYLOAD_OFF (sizeof(struct ethhdr) + sizeof(struct iphdr) + sizeof(struct udphdr))

/* res[0] runs, res[1] from_skb rc, res[2] h_proto, res[3] saddr, res[4] daddr,
 * res[5] ip protocol, res[6] udp dest port, res[7] payload read through a slice,
 * res[8] 1 if the rdwr slice was writable in place, res[9] 1 if a slice past
 * the end was refused (NULL), res[10] bpf_dynptr_write rc (fallback path) */
__u64 res[11];

SEC("tc")
int skb_dynptr(struct __sk_buff *skb)
{
	struct bpf_dynptr ptr;
	struct ethhdr eb, *eth;
	struct iphdr ib, *iph;
	struct udphdr ub, *udp;
	__u64 pb, *pay, flipped;
	long rc;

	res[0]++;
	rc = bpf_dynptr_from_skb(skb, 0, &ptr);
	res[1] = rc;
	if (rc)
		return 2; /* TC_ACT_SHOT: nothing else to check */
	eth = bpf_dynptr_slice(&ptr, 0, &eb, sizeof(eb));
	if (!eth)
		return 2;
	res[2] = bpf_ntohs(eth->h_proto);
	iph = bpf_dynptr_slice(&ptr, sizeof(eb), &ib, sizeof(ib));
	if (!iph)
		return 2;
	res[3] = bpf_ntohl(iph->saddr);
	res[4] = bpf_ntohl(iph->daddr);
	res[5] = iph->protocol;
	udp = bpf_dynptr_slice(&ptr, sizeof(eb) + sizeof(ib), &ub, sizeof(ub));
	if (!udp)
		return 2;
	res[6] = bpf_ntohs(udp->dest);
	pay = bpf_dynptr_slice(&ptr, PAYLOAD_OFF, &pb, sizeof(pb));
	if (!pay)
		return 2;
	res[7] = *pay;
	flipped = ~*pay;
	/* Writable slice: in place when linear, else write through the dynptr. */
	pay = bpf_dynptr_slice_rdwr(&ptr, PAYLOAD_OFF, &pb, sizeof(pb));
	if (pay) {
		if ((void *)pay != (void *)&pb) {
			*pay = flipped;
			res[8] = 1;
		} else {
			res[10] = bpf_dynptr_write(&ptr, PAYLOAD_OFF, &flipped, sizeof(flipped), 0);
		}
	}
	/* Past the end of the packet: no slice. */
	res[9] = bpf_dynptr_slice(&ptr, skb->len - 4, &pb, sizeof(pb)) == NULL;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
