// SPDX-License-Identifier: GPL-2.0
/* A perf_event program on a hardware event (CPU cycles): count samples and
 * read the counter behind them with bpf_perf_prog_read_value. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

/* res[0] samples, res[1] sample_period seen, res[2] last counter value,
 * res[3] last read_value rc, res[4] enabled time seen */
__u64 res[5];

SEC("perf_event")
int on_sample(struct bpf_perf_event_data *ctx)
{
	struct bpf_perf_event_value v = {};

	res[3] = (__u64)(__s64)bpf_perf_prog_read_value(ctx, &v, sizeof(v));
	res[2] = v.counter;
	res[4] = v.enabled;
	res[1] = ctx->sample_period;
	__sync_fetch_and_add(&res[0], 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
