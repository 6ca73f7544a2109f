// SPDX-License-Identifier: GPL-2.0
/* bpf_rcu_read_lock/unlock around an RCU-protected pointer walk, plus a program
 * that never unlocks, which the verifier must refuse. */
#define BPF_NO_KFUNC_PROTOTYPES
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "kmatrix.h"

extern void bpf_rcu_read_lock(void) __ksym;
extern void bpf_rcu_read_unlock(void) __ksym;

bool done;
bool parent_null;		/* real_parent was NULL */
__s32 parent_tgid;		/* real_parent->tgid read inside the first section */
__s32 parent_tgid2;		/* and inside the second */
__u32 sections;			/* sections run (2 per hit) */

SEC("tp_btf/sys_enter")
int BPF_PROG(on_sys_enter, struct pt_regs *regs, long id)
{
	struct task_struct *task, *parent;

	if (!kmx_ours() || done)
		return 0;
	task = bpf_get_current_task_btf();
	bpf_rcu_read_lock();
	parent = task->real_parent; /* __rcu: read under the lock */
	if (parent)
		parent_tgid = parent->tgid;
	else
		parent_null = true;
	sections++;
	bpf_rcu_read_unlock();
	/* A second section after the first closed: the pointer must be re-read. */
	bpf_rcu_read_lock();
	parent = task->real_parent;
	if (parent)
		parent_tgid2 = parent->tgid;
	sections++;
	bpf_rcu_read_unlock();
	done = true;
	return 0;
}

/* Leaves the section open on one path, so it must be rejected (t.load() leaves it
 * out). 6.2-6.7 say "... is missing"; later kernels name the exit inside the region. */
SEC("tp_btf/sys_enter")
__failure __msg("bpf_rcu_read_unlock is missing") __msg_or("inside bpf_rcu_read_lock-ed region")
__errno(EINVAL)
int BPF_PROG(unbalanced, struct pt_regs *regs, long id)
{
	bpf_rcu_read_lock();
	if (kmx_tgid)
		bpf_rcu_read_unlock();
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
