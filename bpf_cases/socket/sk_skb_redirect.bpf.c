// SPDX-License-Identifier: GPL-2.0
/* sk_skb (stream parser + verdict on a sockmap): what the socket at key 0 receives is
 * sent out of the socket at key 1 (bpf_sk_redirect_map to its egress). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} socks SEC(".maps");

__u64 parsed, verdicts, verdict_bytes;
__s64 verdict;		/* the last bpf_sk_redirect_map return */

SEC("sk_skb/stream_parser")
int parse(struct __sk_buff *skb)
{
	__sync_fetch_and_add(&parsed, 1);
	return skb->len;	/* each skb is a whole message */
}

SEC("sk_skb/stream_verdict")
int redirect_skb(struct __sk_buff *skb)
{
	__sync_fetch_and_add(&verdicts, 1);
	__sync_fetch_and_add(&verdict_bytes, skb->len);
	verdict = bpf_sk_redirect_map(skb, &socks, 1, 0);
	return verdict;
}

char LICENSE[] SEC("license") = "GPL";
