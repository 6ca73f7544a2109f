// SPDX-License-Identifier: GPL-2.0
/* kprobe and kretprobe on do_sys_openat2, the common path of open(2), openat(2) and
 * openat2(2) since 5.6: the arguments the check passed and the fd it got back. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "kmatrix.h"

__u64 enters, exits;
__s32 last_dfd;
__s64 last_ret;
char last_path[64];

SEC("kprobe/do_sys_openat2")
int BPF_KPROBE(open_enter, int dfd, const char *filename)
{
	if (!kmx_ours())
		return 0;
	last_dfd = dfd;
	bpf_probe_read_user_str(last_path, sizeof(last_path), filename);
	__sync_fetch_and_add(&enters, 1);
	return 0;
}

SEC("kretprobe/do_sys_openat2")
int BPF_KRETPROBE(open_exit, long ret)
{
	if (!kmx_ours())
		return 0;
	last_ret = ret;
	__sync_fetch_and_add(&exits, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
