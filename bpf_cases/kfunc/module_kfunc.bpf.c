// SPDX-License-Identifier: GPL-2.0
/* Calls kmatrix_kfunc_mix, a kfunc that the kmatrix_kfunc test module registers.
 * It is in no vmlinux.h: libbpf resolves it in the module's BTF at load time. */
#define BPF_NO_KFUNC_PROTOTYPES
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "kmatrix.h"

extern u64 kmatrix_kfunc_mix(u64 a, u64 b) __ksym;

__u64 a, b;	/* in (set by the check) */
bool done;
__u64 result;	/* kmatrix_kfunc_mix(a, b) */

SEC("tp_btf/sys_enter")
int BPF_PROG(call_module_kfunc, struct pt_regs *regs, long id)
{
	if (!kmx_ours() || done)
		return 0;
	result = kmatrix_kfunc_mix(a, b);
	done = true;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
