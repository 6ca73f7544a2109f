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

/* in (set by the check): the offset of the head->frag boundary (0: just measure)
 * and the packet's length */
__u32 boundary, pkt_len;

__u64 runs;
__u64 linear_len;
__s64 from_xdp_rc;
char across[8];		/* read across the boundary with bpf_dynptr_read */
__s64 read_rc;
char sliced[8];		/* from a slice across the boundary */
bool slice_copied;	/* that slice came back in our buffer: the bytes are not contiguous */
char tail[8];		/* the last 8 bytes of the packet */
__s64 read_tail_rc;
__s64 write_rc;		/* a write across the boundary */
__s64 past_end_rc;	/* a read one byte past the end */

SEC("xdp.frags")
int xdp_dynptr(struct xdp_md *ctx)
{
	void *data = (void *)(long)ctx->data;
	void *data_end = (void *)(long)ctx->data_end;
	struct bpf_dynptr ptr;
	__u32 off = boundary, len = pkt_len;
	__u64 w = 0, sb = 0, flipped, *s;
	long rc;

	runs++;
	linear_len = data_end - data;
	rc = bpf_dynptr_from_xdp(ctx, 0, &ptr);
	from_xdp_rc = rc;
	if (rc || off < 4 || len < 16)
		return XDP_PASS;
	read_rc = bpf_dynptr_read(&w, sizeof(w), &ptr, off - 4, 0);
	__builtin_memcpy(across, &w, sizeof(w));
	flipped = ~w;
	s = bpf_dynptr_slice(&ptr, off - 4, &sb, sizeof(sb));
	if (s) {
		__builtin_memcpy(sliced, s, sizeof(sb));
		slice_copied = (void *)s == (void *)&sb;
	}
	read_tail_rc = bpf_dynptr_read(&w, sizeof(w), &ptr, len - 8, 0);
	__builtin_memcpy(tail, &w, sizeof(w));
	write_rc = bpf_dynptr_write(&ptr, off - 4, &flipped, sizeof(flipped), 0);
	past_end_rc = bpf_dynptr_read(&w, sizeof(w), &ptr, len - 7, 0);
	return XDP_PASS;
}

char LICENSE[] SEC("license") = "GPL";
