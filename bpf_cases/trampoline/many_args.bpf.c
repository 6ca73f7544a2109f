// SPDX-License-Identifier: GPL-2.0
/* Seven arguments through a trampoline: fentry, fmod_ret and fexit on
 * bpf_modify_return_test2(a, b, c, d, e, f, g), which the kernel calls as
 * (1, &b, 3, 4, (void *)5, 6, 7) from BPF_PROG_TEST_RUN of an fmod_ret
 * program. x86 moved arguments 7+ onto the stack, the trampoline must too. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

/* What fentry and fexit saw: hits, a, *b, c, d, e, f, g and (fexit) the return value. */
struct kmx_seen {
	__u64 hits;
	__s64 args[7];
	__s64 ret;
};

struct kmx_seen entry_seen, exit_seen;
__u64 modret_hits;
__s64 modret_g;		/* the 7th argument as fmod_ret saw it */

static __s64 deref(int *p)
{
	int v = -1;

	bpf_probe_read_kernel(&v, sizeof(v), p);
	return v;
}

SEC("fentry/bpf_modify_return_test2")
int BPF_PROG(on_entry, int a, int *b, short c, int d, void *e, char f, int g)
{
	struct kmx_seen *s = &entry_seen;

	s->args[0] = a;
	s->args[1] = deref(b);
	s->args[2] = c;
	s->args[3] = d;
	s->args[4] = (long)e;
	s->args[5] = f;
	s->args[6] = g;
	__sync_fetch_and_add(&s->hits, 1);
	return 0;
}

SEC("fmod_ret/bpf_modify_return_test2")
int BPF_PROG(passive, int a, int *b, short c, int d, void *e, char f, int g, int ret)
{
	modret_g = g;
	__sync_fetch_and_add(&modret_hits, 1);
	return 0;
}

SEC("fexit/bpf_modify_return_test2")
int BPF_PROG(on_exit, int a, int *b, short c, int d, void *e, char f, int g, int ret)
{
	struct kmx_seen *s = &exit_seen;

	s->args[0] = a;
	s->args[1] = deref(b);
	s->args[2] = c;
	s->args[3] = d;
	s->args[4] = (long)e;
	s->args[5] = f;
	s->args[6] = g;
	s->ret = ret;
	__sync_fetch_and_add(&s->hits, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
