// SPDX-License-Identifier: GPL-2.0
/* The perf buffer: bpf_perf_event_output into a BPF_MAP_TYPE_PERF_EVENT_ARRAY on the
 * current CPU, read by the check through libbpf's perf_buffer API. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "kmatrix.h"

struct event {
	__u32 tgid;
	__u32 seq;
	__u32 cpu;
	__u32 pad;
	__u64 magic;
};

struct {
	__uint(type, BPF_MAP_TYPE_PERF_EVENT_ARRAY);
	__uint(key_size, sizeof(__u32));
	__uint(value_size, sizeof(__u32));
} events SEC(".maps");

__u32 seq;
__u32 want;	/* set by the check */
__s64 last_rc = 1;

SEC("raw_tp/sys_enter")
int on_enter(void *ctx)
{
	struct event e = {};

	if (!kmx_ours() || seq >= want)
		return 0;
	e.tgid = kmx_tgid;
	e.seq = seq;
	e.cpu = bpf_get_smp_processor_id();
	e.magic = 0x50455246425546ULL;
	last_rc = bpf_perf_event_output(ctx, &events, BPF_F_CURRENT_CPU, &e, sizeof(e));
	if (last_rc == 0)
		seq++;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
