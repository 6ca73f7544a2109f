// SPDX-License-Identifier: GPL-2.0
/* bpf_rcu_read_lock/unlock around an RCU-protected pointer walk, plus a program
 * that never unlocks, which the verifier must refuse. */
#define BPF_NO_KFUNC_PROTOTYPES
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

extern void bpf_rcu_read_lock(void) __ksym;
extern void bpf_rcu_read_unlock(void) __ksym;

/* res[0] done, res[1] tgid filter (set by the check), res[2] real_parent->tgid
 * read inside the RCU section, res[3] real_parent was NULL, res[4] sections run
 * (2 per hit), res[5] real_parent->tgid read in the second section */
__u64 res[6];

SEC("tp_btf/sys_enter")
int BPF_PROG(on_sys_enter, struct pt_regs *regs, long id)
{
	struct task_struct *task, *parent;

	if (!res[1] || (bpf_get_current_pid_tgid() >> 32) != res[1] || res[0])
		return 0;
	task = bpf_get_current_task_btf();
	bpf_rcu_read_lock();
	parent = task->real_parent; /* __rcu: read under the lock */
	if (parent)
		res[2] = parent->tgid;
	else
		res[3] = 1;
	res[4]++;
	bpf_rcu_read_unlock();
	/* A second section after the first closed: the pointer must be re-read. */
	bpf_rcu_read_lock();
	parent = task->real_parent;
	if (parent)
		res[5] = parent->tgid;
	res[4]++;
	bpf_rcu_read_unlock();
	res[0] = 1;
	return 0;
}

/* Never loaded for the run: leaves the section open, so it must be rejected. */
SEC("tp_btf/sys_enter")
int BPF_PROG(unbalanced, struct pt_regs *regs, long id)
{
	bpf_rcu_read_lock();
	if (res[1])
		bpf_rcu_read_unlock();
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
