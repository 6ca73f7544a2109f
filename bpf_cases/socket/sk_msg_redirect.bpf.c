// SPDX-License-Identifier: GPL-2.0
/* sk_msg (BPF_SK_MSG_VERDICT on a sockmap): what the socket at key 0 sends is put on
 * the receive queue of the socket at key 1 (bpf_msg_redirect_map, BPF_F_INGRESS). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} socks SEC(".maps");

__u64 msgs, msg_bytes;
__s64 verdict;		/* the last bpf_msg_redirect_map return */

SEC("sk_msg")
int redirect_msg(struct sk_msg_md *msg)
{
	__sync_fetch_and_add(&msgs, 1);
	__sync_fetch_and_add(&msg_bytes, msg->size);
	verdict = bpf_msg_redirect_map(msg, &socks, 1, BPF_F_INGRESS);
	return verdict;
}

char LICENSE[] SEC("license") = "GPL";
