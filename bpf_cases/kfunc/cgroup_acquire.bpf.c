// SPDX-License-Identifier: GPL-2.0
/* bpf_cgroup_from_id + bpf_cgroup_acquire/release on the current task's cgroup. */
#define BPF_NO_KFUNC_PROTOTYPES
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

extern struct cgroup *bpf_cgroup_from_id(u64 cgid) __ksym;
extern struct cgroup *bpf_cgroup_acquire(struct cgroup *cgrp) __ksym;
extern void bpf_cgroup_release(struct cgroup *cgrp) __ksym;

/* res[0] done, res[1] tgid filter (set by the check), res[2] current cgroup id
 * (helper), res[3] kn->id of the acquired cgroup, res[4] its level,
 * res[5] from_id returned NULL, res[6] acquire returned NULL */
__u64 res[7];

SEC("tp_btf/sys_enter")
int BPF_PROG(on_sys_enter, struct pt_regs *regs, long id)
{
	struct cgroup *cg, *ref;
	u64 cgid;

	if (!res[1] || (bpf_get_current_pid_tgid() >> 32) != res[1] || res[0])
		return 0;
	cgid = bpf_get_current_cgroup_id();
	res[2] = cgid;
	cg = bpf_cgroup_from_id(cgid);
	if (!cg) {
		res[5] = 1;
		res[0] = 1;
		return 0;
	}
	ref = bpf_cgroup_acquire(cg);
	if (!ref) {
		res[6] = 1;
	} else {
		res[3] = ref->kn->id;
		res[4] = ref->level;
		bpf_cgroup_release(ref);
	}
	bpf_cgroup_release(cg);
	res[0] = 1;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
