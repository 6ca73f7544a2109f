// SPDX-License-Identifier: GPL-2.0
/* BPF LSM (Linux 5.7): a program on the file_open hook denies opening one inode, the
 * check's own file, with -EPERM; every other open of the check passes and is counted. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "kmatrix.h"

#define EPERM 1

__u64 target_ino;	/* set by the check */
__u64 opens, denied;

SEC("lsm/file_open")
int BPF_PROG(deny_one, struct file *file, int ret)
{
	if (ret || !kmx_ours())
		return ret;	/* an earlier refusal stands */
	__sync_fetch_and_add(&opens, 1);
	if (file->f_inode->i_ino == target_ino) {
		__sync_fetch_and_add(&denied, 1);
		return -EPERM;
	}
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
