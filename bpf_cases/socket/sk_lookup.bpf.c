// SPDX-License-Identifier: GPL-2.0
/* sk_lookup (BPF_SK_LOOKUP, attached to a netns): TCP connections to any port in
 * [port_lo, port_hi] go to the one listening socket in the sockmap. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#define IPPROTO_TCP 6

struct {
	__uint(type, BPF_MAP_TYPE_SOCKMAP);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, __u64);
} target SEC(".maps");

__u32 port_lo, port_hi;	/* host order, set by the check */
__u64 lookups, steered;
__s64 assign_rc;
__u32 last_port;

SEC("sk_lookup")
int steer(struct bpf_sk_lookup *ctx)
{
	struct bpf_sock *sk;
	__u32 zero = 0;
	long rc;

	__sync_fetch_and_add(&lookups, 1);
	if (ctx->protocol != IPPROTO_TCP || ctx->local_port < port_lo ||
	    ctx->local_port > port_hi)
		return SK_PASS;	/* the regular lookup decides */
	sk = bpf_map_lookup_elem(&target, &zero);
	if (!sk)
		return SK_PASS;
	rc = bpf_sk_assign(ctx, sk, 0);
	bpf_sk_release(sk);
	assign_rc = rc;
	if (rc == 0) {
		last_port = ctx->local_port;
		__sync_fetch_and_add(&steered, 1);
	}
	return SK_PASS;
}

char LICENSE[] SEC("license") = "GPL";
