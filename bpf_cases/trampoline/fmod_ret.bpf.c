// SPDX-License-Identifier: GPL-2.0
/* fmod_ret on bpf_modify_return_test(a, b), which does *b += 1 and returns
 * a + *b. fentry/fexit around it show whether the body ran (*b changed) and
 * what the caller got back. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

/* in: res[0] value fmod_ret returns (0 = let the function run);
 * out: res[1] fentry hits, res[2] a, res[3] *b at entry, res[4] fmod_ret hits,
 * res[5] ret fmod_ret was handed, res[6] fexit hits, res[7] *b at exit,
 * res[8] return value fexit saw */
__u64 res[9];

static __u64 deref(int *p)
{
	int v = -1;

	bpf_probe_read_kernel(&v, sizeof(v), p);
	return (__u64)(__s64)v;
}

SEC("fentry/bpf_modify_return_test")
int BPF_PROG(on_entry, int a, int *b)
{
	res[2] = a;
	res[3] = deref(b);
	__sync_fetch_and_add(&res[1], 1);
	return 0;
}

SEC("fmod_ret/bpf_modify_return_test")
int BPF_PROG(modify, int a, int *b, int ret)
{
	res[5] = (__u64)(__s64)ret;
	__sync_fetch_and_add(&res[4], 1);
	return (int)res[0];
}

SEC("fexit/bpf_modify_return_test")
int BPF_PROG(on_exit, int a, int *b, int ret)
{
	res[7] = deref(b);
	res[8] = (__u64)(__s64)ret;
	__sync_fetch_and_add(&res[6], 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
