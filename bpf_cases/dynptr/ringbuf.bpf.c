// SPDX-License-Identifier: GPL-2.0
/* bpf_ringbuf_reserve_dynptr + bpf_dynptr_write + bpf_ringbuf_submit_dynptr, and a
 * second reservation that bpf_ringbuf_discard_dynptr throws away. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "kmatrix.h"

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

bool done;
__s64 reserve_rc, write_rc;
__s64 discarded_reserve_rc, discarded_write_rc;	/* of the reservation thrown away */

SEC("raw_tp/sys_enter")
int on_sys_enter(void *ctx)
{
	struct bpf_dynptr ptr, junk;
	struct kmx_rec r = {};
	long rc;

	if (!kmx_ours() || done)
		return 0;
	rc = bpf_ringbuf_reserve_dynptr(&rb, sizeof(r), 0, &ptr);
	reserve_rc = rc;
	if (rc) {
		/* The verifier wants the dynptr released even when reserve failed. */
		bpf_ringbuf_discard_dynptr(&ptr, 0);
		done = true;
		return 0;
	}
	r.magic = REC_MAGIC;
	r.tgid = bpf_get_current_pid_tgid() >> 32;
	r.len = sizeof(r);
	bpf_get_current_comm(r.comm, sizeof(r.comm));
	r.seq = 42;
	write_rc = bpf_dynptr_write(&ptr, 0, &r, sizeof(r), 0);
	/* A second record, filled like the first but discarded: must never arrive. */
	discarded_reserve_rc = bpf_ringbuf_reserve_dynptr(&rb, sizeof(r), 0, &junk);
	r.seq = 666;
	if (!discarded_reserve_rc)
		discarded_write_rc = bpf_dynptr_write(&junk, 0, &r, sizeof(r), 0);
	bpf_ringbuf_submit_dynptr(&ptr, 0);
	bpf_ringbuf_discard_dynptr(&junk, 0);
	done = true;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
