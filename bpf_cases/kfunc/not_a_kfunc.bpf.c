// SPDX-License-Identifier: GPL-2.0
/* Negative kfunc case: a kernel function that is in BTF but in no kfunc set.
 * libbpf resolves it; the verifier must refuse the call. */
#define BPF_NO_KFUNC_PROTOTYPES
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

extern int bpf_fentry_test1(int a) __ksym;

__u64 res[1];

SEC("tp_btf/sys_enter")
int BPF_PROG(call_unregistered, struct pt_regs *regs, long id)
{
	res[0] = bpf_fentry_test1((int)id);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
