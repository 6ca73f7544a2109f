// SPDX-License-Identifier: GPL-2.0
/* The bpf_iter_num_* open-coded iterator over a range the verifier cannot know. */
#define BPF_NO_KFUNC_PROTOTYPES
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "kmatrix.h"

/* Same layout as the kernel's struct bpf_iter_num (one opaque u64); own name so
 * this compiles against a vmlinux.h from a kernel without iterators. */
struct kmx_iter_num {
	__u64 __opaque[1];
} __attribute__((aligned(8)));

extern int bpf_iter_num_new(struct kmx_iter_num *it, int start, int end) __ksym;
extern int *bpf_iter_num_next(struct kmx_iter_num *it) __ksym;
extern void bpf_iter_num_destroy(struct kmx_iter_num *it) __ksym;

__s32 start, end;		/* in: the range [start, end) (set by the check) */
bool done;
__s32 new_rc;			/* bpf_iter_num_new's return */
__u64 iterations, sum;
__s64 last;			/* the last value */
__u64 empty_iterations;		/* over [end, start): none */

SEC("tp_btf/sys_enter")
int BPF_PROG(on_sys_enter, struct pt_regs *regs, long id)
{
	struct kmx_iter_num it;
	__u64 n = 0, total = 0;
	__s64 final = 0;
	int *v;

	if (!kmx_ours() || done)
		return 0;
	new_rc = bpf_iter_num_new(&it, start, end);
	while ((v = bpf_iter_num_next(&it))) {
		n++;
		total += *v;
		final = *v;
	}
	bpf_iter_num_destroy(&it);
	iterations = n;
	sum = total;
	last = final;
	n = 0;
	bpf_iter_num_new(&it, end, start);
	while (bpf_iter_num_next(&it))
		n++;
	bpf_iter_num_destroy(&it);
	empty_iterations = n;
	done = true;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
