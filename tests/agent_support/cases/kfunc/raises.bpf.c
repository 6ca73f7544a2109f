// SPDX-License-Identifier: GPL-2.0
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

__u64 res[1];

SEC("raw_tp/sys_enter")
int on_sys_enter(void *ctx)
{
	__sync_fetch_and_add(&res[0], 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
