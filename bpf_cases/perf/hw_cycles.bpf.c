// SPDX-License-Identifier: GPL-2.0
/* A perf_event program on a hardware event (CPU cycles): count samples and
 * read the counter behind them with bpf_perf_prog_read_value. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

__u64 samples;
__u64 sample_period;	/* as the context says */
__s64 read_rc;		/* the last bpf_perf_prog_read_value's return */
__u64 counter, enabled;	/* and what it read */

SEC("perf_event")
int on_sample(struct bpf_perf_event_data *ctx)
{
	struct bpf_perf_event_value v = {};

	read_rc = bpf_perf_prog_read_value(ctx, &v, sizeof(v));
	counter = v.counter;
	enabled = v.enabled;
	sample_period = ctx->sample_period;
	__sync_fetch_and_add(&samples, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
