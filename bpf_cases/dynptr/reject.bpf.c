// SPDX-License-Identifier: GPL-2.0
/* Must be rejected: a bpf_dynptr_data slice used after its ring buffer record
 * was submitted (the slice dies with the reservation). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} rb SEC(".maps");

__u64 res[1];

SEC("raw_tp/sys_enter")
int use_after_submit(void *ctx)
{
	struct bpf_dynptr ptr;
	__u64 *slot;

	bpf_ringbuf_reserve_dynptr(&rb, sizeof(*slot), 0, &ptr);
	slot = bpf_dynptr_data(&ptr, 0, sizeof(*slot));
	if (!slot) {
		bpf_ringbuf_discard_dynptr(&ptr, 0);
		return 0;
	}
	*slot = 1;
	bpf_ringbuf_submit_dynptr(&ptr, 0);
	*slot = 2; /* the record belongs to the consumer now: must be refused */
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
