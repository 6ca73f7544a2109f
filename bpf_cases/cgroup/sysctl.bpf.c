// SPDX-License-Identifier: GPL-2.0
/* cgroup/sysctl (BPF_CGROUP_SYSCTL): refuses writes to net.ipv4.ip_forward and rewrites
 * what is written to net.ipv4.ip_default_ttl, for the processes of the case's cgroup. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#define BPF_F_SYSCTL_BASE_NAME 1

__u64 reads, writes, refused, rewritten;
char refused_value[8];	/* what the refused write carried */
__s64 set_rc;		/* bpf_sysctl_set_new_value */

static const char forward[] = "ip_forward";
static const char ttl[] = "ip_default_ttl";
static const char new_ttl[] = "77";

static __always_inline int same(const char *a, const char *b, int n)
{
	int i;

#pragma unroll
	for (i = 0; i < 16; i++)
		if (i < n && a[i] != b[i])
			return 0;
	return 1;
}

SEC("cgroup/sysctl")
int guard_sysctl(struct bpf_sysctl *ctx)
{
	char name[16] = {};
	long n;

	if (!ctx->write) {
		__sync_fetch_and_add(&reads, 1);
		return 1;
	}
	__sync_fetch_and_add(&writes, 1);
	n = bpf_sysctl_get_name(ctx, name, sizeof(name), BPF_F_SYSCTL_BASE_NAME);
	if (n == sizeof(forward) - 1 && same(name, forward, sizeof(forward) - 1)) {
		bpf_sysctl_get_new_value(ctx, refused_value, sizeof(refused_value));
		__sync_fetch_and_add(&refused, 1);
		return 0;	/* the write fails with EPERM */
	}
	if (n == sizeof(ttl) - 1 && same(name, ttl, sizeof(ttl) - 1)) {
		set_rc = bpf_sysctl_set_new_value(ctx, (char *)new_ttl, sizeof(new_ttl) - 1);
		__sync_fetch_and_add(&rewritten, 1);
	}
	return 1;
}

char LICENSE[] SEC("license") = "GPL";
