// SPDX-License-Identifier: GPL-2.0
/* Negative kfunc case: a call to a kfunc that no BTF (vmlinux or module) has. */
#define BPF_NO_KFUNC_PROTOTYPES
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "kmatrix.h"

/* Not weak: libbpf must refuse to load rather than leave the call unresolved. */
extern u64 kmatrix_no_such_kfunc(u64 x) __ksym;

__u64 ret;

SEC("tp_btf/sys_enter")
__description("loading a program that calls a kfunc missing from vmlinux and module BTF "
	      "fails, and libbpf names the missing kfunc")
/* Any BTF function: the kernel must have BTF for the lookup to mean something. */
__requires("probes=kfunc_call")
__requires("btf_funcs=bpf_fentry_test1")
/* libbpf's message (its errno differs between libbpf versions); libbpf resolves
 * externs before any program reaches the kernel. */
__failure __msg("'kmatrix_no_such_kfunc': not found in kernel or module BTFs")
__rejected_by(libbpf)
int BPF_PROG(missing_kfunc, struct pt_regs *regs, long id)
{
	ret = kmatrix_no_such_kfunc(id);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
