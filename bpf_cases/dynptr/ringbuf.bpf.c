// SPDX-License-Identifier: GPL-2.0
/* bpf_ringbuf_reserve_dynptr + bpf_dynptr_write + bpf_ringbuf_submit_dynptr, and a
 * second reservation that bpf_ringbuf_discard_dynptr throws away. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

#define REC_MAGIC 0x6b6d617472697821ULL /* "!xirtamk" little-endian */

struct kmx_rec {
	__u64 magic;
	__u32 tgid;
	__u32 len;
	char comm[16];
	__u64 seq;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024); /* a page multiple also on 64K-page kernels */
} rb SEC(".maps");

/* res[0] submitted flag, res[1] reserve rc, res[2] tgid filter (set by the
 * check), res[3] dynptr write rc, res[4] rc of the reservation that is
 * discarded, res[5] write rc into it */
__u64 res[6];

SEC("raw_tp/sys_enter")
int on_sys_enter(void *ctx)
{
	struct bpf_dynptr ptr, junk;
	struct kmx_rec r = {};
	__u32 tgid = bpf_get_current_pid_tgid() >> 32;
	long rc;

	if (!res[2] || tgid != res[2] || res[0])
		return 0;
	rc = bpf_ringbuf_reserve_dynptr(&rb, sizeof(r), 0, &ptr);
	res[1] = rc;
	if (rc) {
		/* The verifier wants the dynptr released even when reserve failed. */
		bpf_ringbuf_discard_dynptr(&ptr, 0);
		res[0] = 1;
		return 0;
	}
	r.magic = REC_MAGIC;
	r.tgid = tgid;
	r.len = sizeof(r);
	bpf_get_current_comm(r.comm, sizeof(r.comm));
	r.seq = 42;
	res[3] = bpf_dynptr_write(&ptr, 0, &r, sizeof(r), 0);
	/* A second record, filled like the first but discarded: must never arrive. */
	res[4] = bpf_ringbuf_reserve_dynptr(&rb, sizeof(r), 0, &junk);
	r.seq = 666;
	if (!res[4])
		res[5] = bpf_dynptr_write(&junk, 0, &r, sizeof(r), 0);
	bpf_ringbuf_submit_dynptr(&ptr, 0);
	bpf_ringbuf_discard_dynptr(&junk, 0);
	res[0] = 1;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
