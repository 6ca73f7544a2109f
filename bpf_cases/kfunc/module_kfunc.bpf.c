// SPDX-License-Identifier: GPL-2.0
/* Calls kmatrix_kfunc_mix, a kfunc that the kmatrix_kfunc test module registers.
 * It is in no vmlinux.h: libbpf resolves it in the module's BTF at load time. */
#define BPF_NO_KFUNC_PROTOTYPES
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

extern u64 kmatrix_kfunc_mix(u64 a, u64 b) __ksym;

/* res[0] done, res[1] tgid filter, res[2] a, res[3] b (set by the check),
 * res[4] the kfunc's result */
__u64 res[5];

SEC("tp_btf/sys_enter")
int BPF_PROG(call_module_kfunc, struct pt_regs *regs, long id)
{
	if (!res[1] || (bpf_get_current_pid_tgid() >> 32) != res[1] || res[0])
		return 0;
	res[4] = kmatrix_kfunc_mix(res[2], res[3]);
	res[0] = 1;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
