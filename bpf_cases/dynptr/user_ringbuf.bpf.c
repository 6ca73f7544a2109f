// SPDX-License-Identifier: GPL-2.0
/* bpf_user_ringbuf_drain: samples written from user space are read through the
 * dynptr the callback gets. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "kmatrix.h"

struct kmx_sample {
	__u64 seq;
	__u64 val;
};

struct {
	__uint(type, BPF_MAP_TYPE_USER_RINGBUF);
	__uint(max_entries, 64 * 1024); /* a page multiple also on 64K-page kernels */
} urb SEC(".maps");

struct kmx_drain_ctx {
	__u64 count;
	__u64 sum;
	__u64 out_of_order;
	__u64 read_errors;
	__u64 next_seq;
};

bool done;
__s64 drain_rc;		/* samples drained, or -errno */
__s64 second_drain_rc;	/* of a second call on the now empty buffer */
struct kmx_drain_ctx seen;	/* what the callback counted */

static long on_sample(struct bpf_dynptr *dynptr, void *data)
{
	struct kmx_drain_ctx *c = data;
	struct kmx_sample s;

	if (bpf_dynptr_read(&s, sizeof(s), dynptr, 0, 0)) {
		c->read_errors++;
		return 0;
	}
	if (s.seq != c->next_seq)
		c->out_of_order++;
	c->next_seq = s.seq + 1;
	c->count++;
	c->sum += s.val;
	return 0; /* 0: keep draining */
}

SEC("raw_tp/sys_enter")
int on_sys_enter(void *ctx)
{
	struct kmx_drain_ctx c = {};

	if (!kmx_ours() || done)
		return 0;
	drain_rc = bpf_user_ringbuf_drain(&urb, on_sample, &c, 0);
	seen = c;
	second_drain_rc = bpf_user_ringbuf_drain(&urb, on_sample, &c, 0);
	done = true;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
