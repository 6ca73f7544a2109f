// SPDX-License-Identifier: GPL-2.0
/* CO-RE relocations against the running kernel's BTF: field offsets (BPF_CORE_READ
 * through task_struct pointers), field existence (a field every kernel has, and one
 * none has, through a local "flavor" of task_struct), field size, and a string read. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_core_read.h>
#include "kmatrix.h"

/* A flavor: libbpf matches it to the kernel's task_struct by name (before "___");
 * this field is in no kernel, so its existence relocation resolves to 0. */
struct task_struct___kmx {
	int kmx_no_such_field;
	int pid;
} __attribute__((preserve_access_index));

__u32 pid, tgid, parent_tgid;
__u32 pid_exists, bogus_exists, comm_size;
char comm[16];
bool done;

SEC("raw_tp/sys_enter")
int read_task(void *ctx)
{
	struct task_struct *task;
	struct task_struct___kmx *flavor;

	if (!kmx_ours() || done)
		return 0;
	task = (struct task_struct *)bpf_get_current_task();
	flavor = (void *)task;
	pid = BPF_CORE_READ(task, pid);
	tgid = BPF_CORE_READ(task, tgid);
	parent_tgid = BPF_CORE_READ(task, real_parent, tgid);
	BPF_CORE_READ_STR_INTO(&comm, task, comm);
	pid_exists = bpf_core_field_exists(flavor->pid);
	bogus_exists = bpf_core_field_exists(flavor->kmx_no_such_field);
	comm_size = bpf_core_field_size(task->comm);
	done = true;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
