// SPDX-License-Identifier: GPL-2.0
/* bpf_obj_new_impl/bpf_obj_drop_impl: allocate a program-defined object, use it, free it. */
#define BPF_NO_KFUNC_PROTOTYPES
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include "kmatrix.h"

extern void *bpf_obj_new_impl(__u64 local_type_id, void *meta) __ksym;
extern void bpf_obj_drop_impl(void *kptr, void *meta) __ksym;

/* The type lives only in this object's BTF: the kernel sizes the allocation from it. */
struct kmx_node {
	__u64 key;
	__u64 val;
	__u64 pad[6];
};

__u64 key;		/* in (set by the check) */
bool done;
bool new_null;		/* bpf_obj_new returned NULL */
__u64 got_key, got_val;	/* read back through the object */
__u64 dropped;		/* objects allocated and dropped */
__u64 nonzero;		/* OR of the fresh object's words: 0, bpf_obj_new zeroes */

SEC("tp_btf/sys_enter")
int BPF_PROG(on_sys_enter, struct pt_regs *regs, long id)
{
	struct kmx_node *n;
	__u64 nz = 0;
	int i;

	if (!kmx_ours() || done)
		return 0;
	n = bpf_obj_new_impl(bpf_core_type_id_local(struct kmx_node), NULL);
	if (!n) {
		new_null = true;
		done = true;
		return 0;
	}
	nz |= n->key | n->val;
	for (i = 0; i < 6; i++)
		nz |= n->pad[i];
	n->key = key;
	n->val = key * 7 + 3;
	n->pad[5] = n->key ^ n->val;
	got_key = n->key;
	got_val = n->pad[5] ^ n->key; /* = val again, read back through the object */
	nonzero = nz;
	bpf_obj_drop_impl(n, NULL);
	dropped++;
	done = true;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
