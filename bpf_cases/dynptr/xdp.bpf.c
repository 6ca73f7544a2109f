// SPDX-License-Identifier: GPL-2.0
/* bpf_dynptr_from_xdp over a multi-buffer packet: read, slice and write across
 * the head->frag boundary, read at the far end of the last frag. */
#define BPF_NO_KFUNC_PROTOTYPES
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

extern int bpf_dynptr_from_xdp(struct xdp_md *x, __u64 flags,
			       struct bpf_dynptr *ptr__uninit) __ksym;
extern void *bpf_dynptr_slice(const struct bpf_dynptr *ptr, __u32 offset,
			      void *buffer__opt, __u32 buffer__szk) __ksym;

/* inputs (set by the check): res[0] offset of the head->frag boundary (0 = just
 * measure), res[1] packet length;
 * outputs: res[2] runs, res[3] linear length, res[4] from_xdp rc, res[5] word
 * read across the boundary with bpf_dynptr_read, res[6] read rc, res[7] word
 * from a slice across the boundary, res[8] 1 if that slice came back in our
 * buffer (a copy: the bytes are not contiguous), res[9] last word of the
 * packet, res[10] its read rc, res[11] write rc across the boundary,
 * res[12] rc of a read one byte past the end */
__u64 res[13];

SEC("xdp.frags")
int xdp_dynptr(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct bpf_dynptr ptr;
	__u32 off = res[0], len = res[1];
	__u64 w = 0, sb = 0, *s;
	long rc;

	res[2]++;
	res[3] = data_end - data;
	rc = bpf_dynptr_from_xdp(ctx, 0, &ptr);
	res[4] = rc;
	if (rc || off < 4 || len < 16)
		return XDP_PASS;
	res[6] = bpf_dynptr_read(&w, sizeof(w), &ptr, off - 4, 0);
	res[5] = w;
	s = bpf_dynptr_slice(&ptr, off - 4, &sb, sizeof(sb));
	if (s) {
		res[7] = *s;
		res[8] = (void *)s == (void *)&sb;
	}
	res[10] = bpf_dynptr_read(&w, sizeof(w), &ptr, len - 8, 0);
	res[9] = w;
	w = ~res[5];
	res[11] = bpf_dynptr_write(&ptr, off - 4, &w, sizeof(w), 0);
	res[12] = bpf_dynptr_read(&w, sizeof(w), &ptr, len - 7, 0);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
