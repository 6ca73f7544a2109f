// SPDX-License-Identifier: GPL-2.0
/* fentry and fexit on bpf_fentry_test1..8. BPF_PROG_TEST_RUN of a tracing
 * program calls them with fixed arguments (test1(1), test2(2, 3), ...,
 * test8(&arg)) and checks their sums, so the check knows every value. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

/* Row n (1..8) of 8 u64: [0] fentry hits, [1..6] arguments fentry saw;
 * row 8 + n: [0] fexit hits, [1..6] arguments fexit saw, [7] return value. */
#define ROW 8
__u64 res[17 * ROW];

#define E(n, i) res[(n) * ROW + (i)]
#define X(n, i) res[(8 + (n)) * ROW + (i)]

SEC("fentry/bpf_fentry_test1")
int BPF_PROG(in1, int a)
{
	E(1, 1) = a;
	__sync_fetch_and_add(&E(1, 0), 1);
	return 0;
}

SEC("fexit/bpf_fentry_test1")
int BPF_PROG(out1, int a, int ret)
{
	X(1, 1) = a;
	X(1, 7) = ret;
	__sync_fetch_and_add(&X(1, 0), 1);
	return 0;
}

SEC("fentry/bpf_fentry_test2")
int BPF_PROG(in2, int a, __u64 b)
{
	E(2, 1) = a;
	E(2, 2) = b;
	__sync_fetch_and_add(&E(2, 0), 1);
	return 0;
}

SEC("fexit/bpf_fentry_test2")
int BPF_PROG(out2, int a, __u64 b, int ret)
{
	X(2, 1) = a;
	X(2, 2) = b;
	X(2, 7) = ret;
	__sync_fetch_and_add(&X(2, 0), 1);
	return 0;
}

SEC("fentry/bpf_fentry_test3")
int BPF_PROG(in3, char a, int b, __u64 c)
{
	E(3, 1) = a;
	E(3, 2) = b;
	E(3, 3) = c;
	__sync_fetch_and_add(&E(3, 0), 1);
	return 0;
}

SEC("fexit/bpf_fentry_test3")
int BPF_PROG(out3, char a, int b, __u64 c, int ret)
{
	X(3, 1) = a;
	X(3, 2) = b;
	X(3, 3) = c;
	X(3, 7) = ret;
	__sync_fetch_and_add(&X(3, 0), 1);
	return 0;
}

SEC("fentry/bpf_fentry_test4")
int BPF_PROG(in4, void *a, char b, int c, __u64 d)
{
	E(4, 1) = (long)a;
	E(4, 2) = b;
	E(4, 3) = c;
	E(4, 4) = d;
	__sync_fetch_and_add(&E(4, 0), 1);
	return 0;
}

SEC("fexit/bpf_fentry_test4")
int BPF_PROG(out4, void *a, char b, int c, __u64 d, int ret)
{
	X(4, 1) = (long)a;
	X(4, 2) = b;
	X(4, 3) = c;
	X(4, 4) = d;
	X(4, 7) = ret;
	__sync_fetch_and_add(&X(4, 0), 1);
	return 0;
}

SEC("fentry/bpf_fentry_test5")
int BPF_PROG(in5, __u64 a, void *b, short c, int d, __u64 e)
{
	E(5, 1) = a;
	E(5, 2) = (long)b;
	E(5, 3) = c;
	E(5, 4) = d;
	E(5, 5) = e;
	__sync_fetch_and_add(&E(5, 0), 1);
	return 0;
}

SEC("fexit/bpf_fentry_test5")
int BPF_PROG(out5, __u64 a, void *b, short c, int d, __u64 e, int ret)
{
	X(5, 1) = a;
	X(5, 2) = (long)b;
	X(5, 3) = c;
	X(5, 4) = d;
	X(5, 5) = e;
	X(5, 7) = ret;
	__sync_fetch_and_add(&X(5, 0), 1);
	return 0;
}

SEC("fentry/bpf_fentry_test6")
int BPF_PROG(in6, __u64 a, void *b, short c, int d, void *e, __u64 f)
{
	E(6, 1) = a;
	E(6, 2) = (long)b;
	E(6, 3) = c;
	E(6, 4) = d;
	E(6, 5) = (long)e;
	E(6, 6) = f;
	__sync_fetch_and_add(&E(6, 0), 1);
	return 0;
}

SEC("fexit/bpf_fentry_test6")
int BPF_PROG(out6, __u64 a, void *b, short c, int d, void *e, __u64 f, int ret)
{
	X(6, 1) = a;
	X(6, 2) = (long)b;
	X(6, 3) = c;
	X(6, 4) = d;
	X(6, 5) = (long)e;
	X(6, 6) = f;
	X(6, 7) = ret;
	__sync_fetch_and_add(&X(6, 0), 1);
	return 0;
}

/* test7 gets NULL, test8 a pointer to a zeroed struct: record the pointer
 * being non-NULL and, through BTF, the struct's first field. */
SEC("fentry/bpf_fentry_test7")
int BPF_PROG(in7, struct bpf_fentry_test_t *arg)
{
	E(7, 1) = arg != 0;
	__sync_fetch_and_add(&E(7, 0), 1);
	return 0;
}

SEC("fexit/bpf_fentry_test7")
int BPF_PROG(out7, struct bpf_fentry_test_t *arg, int ret)
{
	X(7, 1) = arg != 0;
	X(7, 7) = ret;
	__sync_fetch_and_add(&X(7, 0), 1);
	return 0;
}

SEC("fentry/bpf_fentry_test8")
int BPF_PROG(in8, struct bpf_fentry_test_t *arg)
{
	E(8, 1) = arg != 0;
	E(8, 2) = (long)arg->a;
	__sync_fetch_and_add(&E(8, 0), 1);
	return 0;
}

SEC("fexit/bpf_fentry_test8")
int BPF_PROG(out8, struct bpf_fentry_test_t *arg, int ret)
{
	X(8, 1) = arg != 0;
	X(8, 2) = (long)arg->a;
	X(8, 7) = ret;
	__sync_fetch_and_add(&X(8, 0), 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
