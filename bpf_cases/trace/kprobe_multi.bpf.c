// SPDX-License-Identifier: GPL-2.0
/* kprobe_multi (fprobe-based, one link for many functions): a glob that matches
 * do_sys_openat2 and the path of the check's open(2). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "kmatrix.h"

__u64 hits;
__s32 last_dfd;
char last_path[64];

SEC("kprobe.multi/do_sys_openat2")
int BPF_KPROBE(open_enter, int dfd, const char *filename)
{
	if (!kmx_ours())
		return 0;
	last_dfd = dfd;
	bpf_probe_read_user_str(last_path, sizeof(last_path), filename);
	__sync_fetch_and_add(&hits, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
