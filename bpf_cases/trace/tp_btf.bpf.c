// SPDX-License-Identifier: GPL-2.0
/* A BTF-typed raw tracepoint (tp_btf, BPF_PROG_TYPE_TRACING): sys_enter's arguments
 * arrive typed, so the program reads the syscall number and dereferences the
 * struct pt_regs pointer directly, as Falco's modern probe does. No trampoline. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "kmatrix.h"

/* Where each arch's pt_regs keeps the syscall number (read through BTF, no helper). */
#if defined(__TARGET_ARCH_x86)
#define SYSCALL_NR(regs) ((regs)->orig_ax)
#elif defined(__TARGET_ARCH_arm64)
#define SYSCALL_NR(regs) ((regs)->syscallno)
#elif defined(__TARGET_ARCH_riscv)
#define SYSCALL_NR(regs) ((regs)->a7)
#endif

__u64 nr_wanted;	/* set by the check: getppid's number on this arch */
__u64 hits;
__u64 regs_nr;		/* the syscall number read from pt_regs itself */

SEC("tp_btf/sys_enter")
int BPF_PROG(on_enter, struct pt_regs *regs, long id)
{
	if (!kmx_ours() || id != nr_wanted)
		return 0;
	regs_nr = SYSCALL_NR(regs);
	__sync_fetch_and_add(&hits, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
