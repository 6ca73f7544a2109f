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

__u64 runs;
__s64 from_skb_rc;
/* Header fields read through slices (addresses as on the wire, the rest in host order) */
__u16 h_proto;
char saddr[4], daddr[4];
__u8 protocol;
__u16 dport;
char payload[8];	/* the payload's first 8 bytes, read through a slice */
bool rdwr_in_place;	/* the rdwr slice pointed into the packet: written in place */
__s64 write_rc;		/* else: bpf_dynptr_write's return */
bool past_end_refused;	/* a slice past the end of the packet was NULL */

SEC("tc")
int skb_dynptr(struct __sk_buff *skb)
{
	struct bpf_dynptr ptr;
	struct ethhdr eb, *eth;
	struct iphdr ib, *iph;
	struct udphdr ub, *udp;
	__u64 pb, *pay, flipped;
	long rc;

	runs++;
	rc = bpf_dynptr_from_skb(skb, 0, &ptr);
	from_skb_rc = rc;
	if (rc)
		return 2; /* TC_ACT_SHOT: nothing else to check */
	eth = bpf_dynptr_slice(&ptr, 0, &eb, sizeof(eb));
	if (!eth)
		return 2;
	h_proto = bpf_ntohs(eth->h_proto);
	iph = bpf_dynptr_slice(&ptr, sizeof(eb), &ib, sizeof(ib));
	if (!iph)
		return 2;
	__builtin_memcpy(saddr, &iph->saddr, sizeof(saddr));
	__builtin_memcpy(daddr, &iph->daddr, sizeof(daddr));
	protocol = iph->protocol;
	udp = bpf_dynptr_slice(&ptr, sizeof(eb) + sizeof(ib), &ub, sizeof(ub));
	if (!udp)
		return 2;
	dport = bpf_ntohs(udp->dest);
	pay = bpf_dynptr_slice(&ptr, PAYLOAD_OFF, &pb, sizeof(pb));
	if (!pay)
		return 2;
	__builtin_memcpy(payload, pay, sizeof(payload));
	flipped = ~*pay;
	/* Writable slice: in place when linear, else write through the dynptr. */
	pay = bpf_dynptr_slice_rdwr(&ptr, PAYLOAD_OFF, &pb, sizeof(pb));
	if (pay) {
		if ((void *)pay != (void *)&pb) {
			*pay = flipped;
			rdwr_in_place = true;
		} else {
			write_rc = bpf_dynptr_write(&ptr, PAYLOAD_OFF, &flipped, sizeof(flipped), 0);
		}
	}
	past_end_refused = bpf_dynptr_slice(&ptr, skb->len - 4, &pb, sizeof(pb)) == NULL;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
