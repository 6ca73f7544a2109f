// SPDX-License-Identifier: GPL-2.0
/* BPF_MAP_TYPE_PERCPU_ARRAY: each of the check's getppid() calls adds 1 to the slot of
 * the CPU it ran on (and the CPU's number + 1 to a second element); user space reads
 * one value per possible CPU and sums them. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "kmatrix.h"

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, 2);
	__type(key, __u32);
	__type(value, __u64);
} counts SEC(".maps");

__u64 nr_wanted;	/* set by the check: getppid's number on this arch */
__u64 calls;

SEC("raw_tp/sys_enter")
int count(struct bpf_raw_tracepoint_args *ctx)
{
	__u32 k0 = 0, k1 = 1;
	__u64 *hits, *cpu_mark;

	if (!kmx_ours() || ctx->args[1] != nr_wanted)
		return 0;
	hits = bpf_map_lookup_elem(&counts, &k0);
	cpu_mark = bpf_map_lookup_elem(&counts, &k1);
	if (!hits || !cpu_mark)
		return 0;
	*hits += 1;	/* this CPU's copy: no atomics needed */
	*cpu_mark = bpf_get_smp_processor_id() + 1;
	__sync_fetch_and_add(&calls, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
