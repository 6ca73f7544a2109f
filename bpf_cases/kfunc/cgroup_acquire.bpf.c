// SPDX-License-Identifier: GPL-2.0
/* bpf_cgroup_from_id + bpf_cgroup_acquire/release on the current task's cgroup. */
#define BPF_NO_KFUNC_PROTOTYPES
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "kmatrix.h"

extern struct cgroup *bpf_cgroup_from_id(u64 cgid) __ksym;
extern struct cgroup *bpf_cgroup_acquire(struct cgroup *cgrp) __ksym;
extern void bpf_cgroup_release(struct cgroup *cgrp) __ksym;

bool done;
__u64 cgroup_id;	/* bpf_get_current_cgroup_id() */
__u64 kn_id;		/* kn->id of the acquired cgroup */
__s32 level;		/* its level */
bool from_id_null;	/* bpf_cgroup_from_id returned NULL */
bool acquire_null;	/* bpf_cgroup_acquire returned NULL */

SEC("tp_btf/sys_enter")
int BPF_PROG(on_sys_enter, struct pt_regs *regs, long id)
{
	struct cgroup *cg, *ref;

	if (!kmx_ours() || done)
		return 0;
	cgroup_id = bpf_get_current_cgroup_id();
	cg = bpf_cgroup_from_id(cgroup_id);
	if (!cg) {
		from_id_null = true;
		done = true;
		return 0;
	}
	ref = bpf_cgroup_acquire(cg);
	if (!ref) {
		acquire_null = true;
	} else {
		kn_id = ref->kn->id;
		level = ref->level;
		bpf_cgroup_release(ref);
	}
	bpf_cgroup_release(cg);
	done = true;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
