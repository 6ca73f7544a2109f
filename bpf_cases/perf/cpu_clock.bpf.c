// SPDX-License-Identifier: GPL-2.0
/* A perf_event program on a software cpu-clock event: count samples. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

__u64 samples;
__u64 sample_period;	/* as the context says */

SEC("perf_event")
int on_sample(struct bpf_perf_event_data *ctx)
{
	__sync_fetch_and_add(&samples, 1);
	sample_period = ctx->sample_period;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
