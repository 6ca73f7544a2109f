// SPDX-License-Identifier: GPL-2.0
/* Negative kfunc case: a call to a kfunc that no BTF (vmlinux or module) has. */
#define BPF_NO_KFUNC_PROTOTYPES
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

/* Not weak: libbpf must refuse to load rather than leave the call unresolved. */
extern u64 kmatrix_no_such_kfunc(u64 x) __ksym;

__u64 res[1];

SEC("tp_btf/sys_enter")
int BPF_PROG(call_missing, struct pt_regs *regs, long id)
{
	res[0] = kmatrix_no_such_kfunc(id);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
