// SPDX-License-Identifier: GPL-2.0
/* A perf_event program on a software cpu-clock event: count samples. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

/* res[0] samples, res[1] sample_period seen in the context */
__u64 res[2];

SEC("perf_event")
int on_sample(struct bpf_perf_event_data *ctx)
{
	__sync_fetch_and_add(&res[0], 1);
	res[1] = ctx->sample_period;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
