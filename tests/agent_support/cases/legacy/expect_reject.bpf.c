// SPDX-License-Identifier: GPL-2.0
/* Must be rejected: a ring buffer dynptr reserved and never submitted or discarded. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} rb SEC(".maps");

__u64 res[1];

SEC("raw_tp/sys_enter")
int leak_reservation(void *ctx)
{
	struct bpf_dynptr ptr;

	bpf_ringbuf_reserve_dynptr(&rb, 8, 0, &ptr);
	res[0]++;
	return 0; /* the reservation leaks: the verifier must refuse */
}

char LICENSE[] SEC("license") = "GPL";
