// SPDX-License-Identifier: GPL-2.0
/* Negative kfunc case: a kernel function that is in BTF but in no kfunc set.
 * libbpf resolves it; the verifier must refuse the call and name it. */
#define BPF_NO_KFUNC_PROTOTYPES
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "kmatrix.h"

extern int bpf_fentry_test1(int a) __ksym;

__u64 ret;

SEC("tp_btf/sys_enter")
__description("a call to bpf_fentry_test1 (in vmlinux BTF, in no kfunc set) as a kfunc is "
	      "refused by the verifier")
__requires("probes=kfunc_call")
__requires("btf_funcs=bpf_fentry_test1")
__failure __msg("calling kernel function bpf_fentry_test1 is not allowed") __errno(EACCES)
__rejected_by(verifier)
int BPF_PROG(not_a_kfunc, struct pt_regs *regs, long id)
{
	ret = bpf_fentry_test1((int)id);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
