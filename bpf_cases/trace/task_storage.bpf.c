// SPDX-License-Identifier: GPL-2.0
/* Task local storage (BPF_MAP_TYPE_TASK_STORAGE, Linux 5.11; tracing programs 5.12):
 * a counter that lives with the task, created on first use, counted on each of the
 * check's getppid() calls; before the first create a plain lookup and a delete find
 * nothing (the delete's -ENOENT also says the storage lock was free, not -EBUSY). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "kmatrix.h"

struct {
	__uint(type, BPF_MAP_TYPE_TASK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, __u64);
} counts SEC(".maps");

__u64 nr_wanted;	/* set by the check: getppid's number on this arch */
__u64 calls, stored, creates_failed;
bool first_lookup_found;
__s64 first_delete_rc = 1;

SEC("tp_btf/sys_enter")
int BPF_PROG(on_enter, struct pt_regs *regs, long id)
{
	struct task_struct *task;
	__u64 *count;

	if (!kmx_ours() || id != nr_wanted)
		return 0;
	task = bpf_get_current_task_btf();
	if (first_delete_rc == 1) {
		first_lookup_found = bpf_task_storage_get(&counts, task, 0, 0) != 0;
		first_delete_rc = bpf_task_storage_delete(&counts, task);
	}
	count = bpf_task_storage_get(&counts, task, 0, BPF_LOCAL_STORAGE_GET_F_CREATE);
	if (!count) {
		creates_failed++;
		return 0;
	}
	*count += 1;
	stored = *count;
	calls++;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
