// SPDX-License-Identifier: GPL-2.0
/* cgroup/connect4 (BPF_CGROUP_INET4_CONNECT): a connect() to 127.0.0.1:from_port by a
 * process of the case's cgroup is sent to to_port instead, where the check listens. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>

#define AF_INET 2
#define SOCK_STREAM 1

__u16 from_port, to_port;	/* host order, set by the check */
__u64 hits;			/* every connect() in the cgroup */
__u64 rewritten;		/* connects sent to to_port */
__u32 seen_ip4;		/* the destination the caller asked for (network order) */

SEC("cgroup/connect4")
int redirect_connect(struct bpf_sock_addr *ctx)
{
	__sync_fetch_and_add(&hits, 1);
	if (ctx->user_family != AF_INET || ctx->type != SOCK_STREAM)
		return 1;
	if (bpf_ntohs((__u16)ctx->user_port) != from_port)
		return 1;
	seen_ip4 = ctx->user_ip4;
	ctx->user_port = bpf_htons(to_port);
	__sync_fetch_and_add(&rewritten, 1);
	return 1;	/* allow the (rewritten) connect */
}

char LICENSE[] SEC("license") = "GPL";
