// SPDX-License-Identifier: GPL-2.0
/* Seven arguments through a trampoline: fentry, fmod_ret and fexit on
 * bpf_modify_return_test2(a, b, c, d, e, f, g), which the kernel calls as
 * (1, &b, 3, 4, (void *)5, 6, 7) from BPF_PROG_TEST_RUN of an fmod_ret
 * program. x86 moved arguments 7+ onto the stack, the trampoline must too. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

/* res[0] fentry hits, res[1..7] a, *b, c, d, e, f, g at entry;
 * res[8] fmod_ret hits, res[9] g it saw; res[10] fexit hits, res[11..17]
 * a, *b, c, d, e, f, g at exit, res[18] return value */
__u64 res[19];

static __u64 deref(int *p)
{
	int v = -1;

	bpf_probe_read_kernel(&v, sizeof(v), p);
	return (__u64)(__s64)v;
}

SEC("fentry/bpf_modify_return_test2")
int BPF_PROG(on_entry, int a, int *b, short c, int d, void *e, char f, int g)
{
	res[1] = a;
	res[2] = deref(b);
	res[3] = c;
	res[4] = d;
	res[5] = (long)e;
	res[6] = f;
	res[7] = g;
	__sync_fetch_and_add(&res[0], 1);
	return 0;
}

SEC("fmod_ret/bpf_modify_return_test2")
int BPF_PROG(passive, int a, int *b, short c, int d, void *e, char f, int g, int ret)
{
	res[9] = g;
	__sync_fetch_and_add(&res[8], 1);
	return 0;
}

SEC("fexit/bpf_modify_return_test2")
int BPF_PROG(on_exit, int a, int *b, short c, int d, void *e, char f, int g, int ret)
{
	res[11] = a;
	res[12] = deref(b);
	res[13] = c;
	res[14] = d;
	res[15] = (long)e;
	res[16] = f;
	res[17] = g;
	res[18] = (__u64)(__s64)ret;
	__sync_fetch_and_add(&res[10], 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
