// SPDX-License-Identifier: GPL-2.0
/* kprobe and kretprobe on the open(2) path: the arguments the check passed and the fd
 * it got back. do_sys_openat2 is the common path of open(2), openat(2) and openat2(2)
 * since 5.6; where a compiler inlined it (arm64 5.10) its caller do_sys_open takes the
 * same first two arguments. The check attaches the pair whose function the kernel has. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "kmatrix.h"

__u64 enters, exits;
__s32 last_dfd;
__s64 last_ret;
char last_path[64];

static __always_inline int entered(int dfd, const char *filename)
{
	if (!kmx_ours())
		return 0;
	last_dfd = dfd;
	bpf_probe_read_user_str(last_path, sizeof(last_path), filename);
	__sync_fetch_and_add(&enters, 1);
	return 0;
}

static __always_inline int returned(long ret)
{
	if (!kmx_ours())
		return 0;
	last_ret = ret;
	__sync_fetch_and_add(&exits, 1);
	return 0;
}

SEC("kprobe/do_sys_openat2")
int BPF_KPROBE(openat2_enter, int dfd, const char *filename)
{
	return entered(dfd, filename);
}

SEC("kretprobe/do_sys_openat2")
int BPF_KRETPROBE(openat2_exit, long ret)
{
	return returned(ret);
}

SEC("kprobe/do_sys_open")
int BPF_KPROBE(open_enter, int dfd, const char *filename)
{
	return entered(dfd, filename);
}

SEC("kretprobe/do_sys_open")
int BPF_KRETPROBE(open_exit, long ret)
{
	return returned(ret);
}

char LICENSE[] SEC("license") = "GPL";
