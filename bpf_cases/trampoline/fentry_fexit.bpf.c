// SPDX-License-Identifier: GPL-2.0
/* fentry and fexit on bpf_fentry_test1..8. BPF_PROG_TEST_RUN of a tracing
 * program calls them with fixed arguments (test1(1), test2(2, 3), ...,
 * test8(&arg)) and checks their sums, so the check knows every value. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

/* What a program saw of one call: its hits, the arguments (pointers as their
 * value; test7/test8: whether the pointer is non-NULL, then arg->a) and, for
 * fexit, the return value. Index n is bpf_fentry_test<n> (0 is unused). */
struct kmx_call {
	__u64 hits;
	__u64 args[6];
	__s64 ret;
};

struct kmx_call fentry_seen[9], fexit_seen[9];

SEC("fentry/bpf_fentry_test1")
int BPF_PROG(in1, int a)
{
	struct kmx_call *s = &fentry_seen[1];

	s->args[0] = a;
	__sync_fetch_and_add(&s->hits, 1);
	return 0;
}

SEC("fexit/bpf_fentry_test1")
int BPF_PROG(out1, int a, int ret)
{
	struct kmx_call *s = &fexit_seen[1];

	s->args[0] = a;
	s->ret = ret;
	__sync_fetch_and_add(&s->hits, 1);
	return 0;
}

SEC("fentry/bpf_fentry_test2")
int BPF_PROG(in2, int a, __u64 b)
{
	struct kmx_call *s = &fentry_seen[2];

	s->args[0] = a;
	s->args[1] = b;
	__sync_fetch_and_add(&s->hits, 1);
	return 0;
}

SEC("fexit/bpf_fentry_test2")
int BPF_PROG(out2, int a, __u64 b, int ret)
{
	struct kmx_call *s = &fexit_seen[2];

	s->args[0] = a;
	s->args[1] = b;
	s->ret = ret;
	__sync_fetch_and_add(&s->hits, 1);
	return 0;
}

SEC("fentry/bpf_fentry_test3")
int BPF_PROG(in3, char a, int b, __u64 c)
{
	struct kmx_call *s = &fentry_seen[3];

	s->args[0] = a;
	s->args[1] = b;
	s->args[2] = c;
	__sync_fetch_and_add(&s->hits, 1);
	return 0;
}

SEC("fexit/bpf_fentry_test3")
int BPF_PROG(out3, char a, int b, __u64 c, int ret)
{
	struct kmx_call *s = &fexit_seen[3];

	s->args[0] = a;
	s->args[1] = b;
	s->args[2] = c;
	s->ret = ret;
	__sync_fetch_and_add(&s->hits, 1);
	return 0;
}

SEC("fentry/bpf_fentry_test4")
int BPF_PROG(in4, void *a, char b, int c, __u64 d)
{
	struct kmx_call *s = &fentry_seen[4];

	s->args[0] = (long)a;
	s->args[1] = b;
	s->args[2] = c;
	s->args[3] = d;
	__sync_fetch_and_add(&s->hits, 1);
	return 0;
}

SEC("fexit/bpf_fentry_test4")
int BPF_PROG(out4, void *a, char b, int c, __u64 d, int ret)
{
	struct kmx_call *s = &fexit_seen[4];

	s->args[0] = (long)a;
	s->args[1] = b;
	s->args[2] = c;
	s->args[3] = d;
	s->ret = ret;
	__sync_fetch_and_add(&s->hits, 1);
	return 0;
}

SEC("fentry/bpf_fentry_test5")
int BPF_PROG(in5, __u64 a, void *b, short c, int d, __u64 e)
{
	struct kmx_call *s = &fentry_seen[5];

	s->args[0] = a;
	s->args[1] = (long)b;
	s->args[2] = c;
	s->args[3] = d;
	s->args[4] = e;
	__sync_fetch_and_add(&s->hits, 1);
	return 0;
}

SEC("fexit/bpf_fentry_test5")
int BPF_PROG(out5, __u64 a, void *b, short c, int d, __u64 e, int ret)
{
	struct kmx_call *s = &fexit_seen[5];

	s->args[0] = a;
	s->args[1] = (long)b;
	s->args[2] = c;
	s->args[3] = d;
	s->args[4] = e;
	s->ret = ret;
	__sync_fetch_and_add(&s->hits, 1);
	return 0;
}

SEC("fentry/bpf_fentry_test6")
int BPF_PROG(in6, __u64 a, void *b, short c, int d, void *e, __u64 f)
{
	struct kmx_call *s = &fentry_seen[6];

	s->args[0] = a;
	s->args[1] = (long)b;
	s->args[2] = c;
	s->args[3] = d;
	s->args[4] = (long)e;
	s->args[5] = f;
	__sync_fetch_and_add(&s->hits, 1);
	return 0;
}

SEC("fexit/bpf_fentry_test6")
int BPF_PROG(out6, __u64 a, void *b, short c, int d, void *e, __u64 f, int ret)
{
	struct kmx_call *s = &fexit_seen[6];

	s->args[0] = a;
	s->args[1] = (long)b;
	s->args[2] = c;
	s->args[3] = d;
	s->args[4] = (long)e;
	s->args[5] = f;
	s->ret = ret;
	__sync_fetch_and_add(&s->hits, 1);
	return 0;
}

/* test7 gets NULL, test8 a pointer to a zeroed struct. */
SEC("fentry/bpf_fentry_test7")
int BPF_PROG(in7, struct bpf_fentry_test_t *arg)
{
	struct kmx_call *s = &fentry_seen[7];

	s->args[0] = arg != 0;
	__sync_fetch_and_add(&s->hits, 1);
	return 0;
}

SEC("fexit/bpf_fentry_test7")
int BPF_PROG(out7, struct bpf_fentry_test_t *arg, int ret)
{
	struct kmx_call *s = &fexit_seen[7];

	s->args[0] = arg != 0;
	s->ret = ret;
	__sync_fetch_and_add(&s->hits, 1);
	return 0;
}

SEC("fentry/bpf_fentry_test8")
int BPF_PROG(in8, struct bpf_fentry_test_t *arg)
{
	struct kmx_call *s = &fentry_seen[8];

	s->args[0] = arg != 0;
	s->args[1] = (long)arg->a;
	__sync_fetch_and_add(&s->hits, 1);
	return 0;
}

SEC("fexit/bpf_fentry_test8")
int BPF_PROG(out8, struct bpf_fentry_test_t *arg, int ret)
{
	struct kmx_call *s = &fexit_seen[8];

	s->args[0] = arg != 0;
	s->args[1] = (long)arg->a;
	s->ret = ret;
	__sync_fetch_and_add(&s->hits, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
