// SPDX-License-Identifier: GPL-2.0
/* sk_reuseport: picks the socket of a SO_REUSEPORT group from a REUSEPORT_SOCKARRAY by
 * the first byte of the UDP payload (bpf_sk_select_reuseport). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#define IPPROTO_UDP 17
#define BPF_HDR_START_NET 1
#define PAYLOAD_OFF (20 + 8)	/* IPv4 without options, UDP */

struct {
	__uint(type, BPF_MAP_TYPE_REUSEPORT_SOCKARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
} group SEC(".maps");

__u64 runs, selected;
__s64 select_rc;
__u32 last_key;

SEC("sk_reuseport")
int select_by_payload(struct sk_reuseport_md *md)
{
	__u8 first = 0;
	__u32 key;

	__sync_fetch_and_add(&runs, 1);
	if (md->ip_protocol != IPPROTO_UDP ||
	    bpf_skb_load_bytes_relative(md, PAYLOAD_OFF, &first, 1, BPF_HDR_START_NET))
		return SK_DROP;
	key = first;
	select_rc = bpf_sk_select_reuseport(md, &group, &key, 0);
	if (select_rc)
		return SK_DROP;
	last_key = key;
	__sync_fetch_and_add(&selected, 1);
	return SK_PASS;
}

char LICENSE[] SEC("license") = "GPL";
