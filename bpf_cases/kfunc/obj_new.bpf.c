// SPDX-License-Identifier: GPL-2.0
/* bpf_obj_new_impl/bpf_obj_drop_impl: allocate a program-defined object, use it, free it. */
#define BPF_NO_KFUNC_PROTOTYPES
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>

extern void *bpf_obj_new_impl(__u64 local_type_id, void *meta) __ksym;
extern void bpf_obj_drop_impl(void *kptr, void *meta) __ksym;

/* The type lives only in this object's BTF: the kernel sizes the allocation from it. */
struct kmx_node {
	__u64 key;
	__u64 val;
	__u64 pad[6];
};

/* res[0] done, res[1] tgid filter (set by the check), res[2] input (set by the
 * check), res[3] key read back, res[4] val read back, res[5] bpf_obj_new
 * returned NULL, res[6] objects allocated and dropped, res[7] nonzero bytes
 * seen in the fresh object (must be 0: bpf_obj_new zeroes) */
__u64 res[8];

SEC("tp_btf/sys_enter")
int BPF_PROG(on_sys_enter, struct pt_regs *regs, long id)
{
	struct kmx_node *n;
	__u64 nz = 0;
	int i;

	if (!res[1] || (bpf_get_current_pid_tgid() >> 32) != res[1] || res[0])
		return 0;
	n = bpf_obj_new_impl(bpf_core_type_id_local(struct kmx_node), NULL);
	if (!n) {
		res[5] = 1;
		res[0] = 1;
		return 0;
	}
	nz |= n->key | n->val;
	for (i = 0; i < 6; i++)
		nz |= n->pad[i];
	n->key = res[2];
	n->val = res[2] * 7 + 3;
	n->pad[5] = n->key ^ n->val;
	res[3] = n->key;
	res[4] = n->pad[5] ^ n->key; /* = val again, read back through the object */
	res[7] = nz;
	bpf_obj_drop_impl(n, NULL);
	res[6]++;
	res[0] = 1;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
