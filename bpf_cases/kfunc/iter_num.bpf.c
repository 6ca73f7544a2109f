// SPDX-License-Identifier: GPL-2.0
/* The bpf_iter_num_* open-coded iterator over a range the verifier cannot know. */
#define BPF_NO_KFUNC_PROTOTYPES
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

/* Same layout as the kernel's struct bpf_iter_num (one opaque u64); own name so
 * this compiles against a vmlinux.h from a kernel without iterators. */
struct kmx_iter_num {
	__u64 __opaque[1];
} __attribute__((aligned(8)));

extern int bpf_iter_num_new(struct kmx_iter_num *it, int start, int end) __ksym;
extern int *bpf_iter_num_next(struct kmx_iter_num *it) __ksym;
extern void bpf_iter_num_destroy(struct kmx_iter_num *it) __ksym;

/* res[0] done, res[1] tgid filter, res[2] start, res[3] end (both set by the
 * check), res[4] iterations, res[5] sum of the values, res[6] last value,
 * res[7] bpf_iter_num_new rc, res[8] iterations of an empty range (end < start) */
__u64 res[9];

SEC("tp_btf/sys_enter")
int BPF_PROG(on_sys_enter, struct pt_regs *regs, long id)
{
	struct kmx_iter_num it;
	__u64 n = 0, sum = 0, last = 0;
	int *v;

	if (!res[1] || (bpf_get_current_pid_tgid() >> 32) != res[1] || res[0])
		return 0;
	res[7] = bpf_iter_num_new(&it, (int)res[2], (int)res[3]);
	while ((v = bpf_iter_num_next(&it))) {
		n++;
		sum += *v;
		last = *v;
	}
	bpf_iter_num_destroy(&it);
	res[4] = n;
	res[5] = sum;
	res[6] = last;
	n = 0;
	bpf_iter_num_new(&it, (int)res[3], (int)res[2]);
	while (bpf_iter_num_next(&it))
		n++;
	bpf_iter_num_destroy(&it);
	res[8] = n;
	res[0] = 1;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
