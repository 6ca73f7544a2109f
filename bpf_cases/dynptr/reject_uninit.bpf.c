// SPDX-License-Identifier: GPL-2.0
/* Must be rejected: a dynptr that was never initialized is passed to bpf_dynptr_read. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

__u64 res[1];

SEC("raw_tp/sys_enter")
int read_uninit(void *ctx)
{
	struct bpf_dynptr ptr;
	__u64 v = 0;

	bpf_dynptr_read(&v, sizeof(v), &ptr, 0, 0);
	res[0] = v;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
