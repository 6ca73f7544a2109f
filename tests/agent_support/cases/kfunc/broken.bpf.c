// SPDX-License-Identifier: GPL-2.0
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

SEC("raw_tp/sys_enter")
int on_sys_enter(void *ctx)
{
	return this_symbol_does_not_exist_kmatrix;
}

char LICENSE[] SEC("license") = "GPL";
