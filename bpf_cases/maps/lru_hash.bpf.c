// SPDX-License-Identifier: GPL-2.0
/* BPF_MAP_TYPE_LRU_HASH: 4x more inserts than entries all succeed (a plain hash map
 * refuses the 17th with -E2BIG), old keys are evicted, the newest stays. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "kmatrix.h"

#define ENTRIES 16
#define INSERTS (4 * ENTRIES)

struct {
	__uint(type, BPF_MAP_TYPE_LRU_HASH);
	__uint(max_entries, ENTRIES);
	__type(key, __u32);
	__type(value, __u64);
} lru SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, ENTRIES);
	__type(key, __u32);
	__type(value, __u64);
} plain SEC(".maps");

__u32 lru_ok, plain_ok, present, newest_present;
/* 32 bits: on 5.10 the call goes straight to the map's int-returning update
 * (its upper half is not sign-extended), so only the low half is the errno */
__s32 plain_full_rc;
bool done;

SEC("raw_tp/sys_enter")
int fill(void *ctx)
{
	__u32 i;

	if (!kmx_ours() || done)
		return 0;
	/* unrolled: the key lives on the stack, so a loop counter would be unbounded */
#pragma clang loop unroll(full)
	for (i = 0; i < INSERTS; i++) {
		__u32 k = i;
		__u64 v = 1000 + i;

		if (bpf_map_update_elem(&lru, &k, &v, BPF_ANY) == 0)
			lru_ok++;
		if (i <= ENTRIES) {
			int rc = bpf_map_update_elem(&plain, &k, &v, BPF_ANY);

			if (rc == 0)
				plain_ok++;
			else
				plain_full_rc = rc;
		}
	}
#pragma clang loop unroll(full)
	for (i = 0; i < INSERTS; i++) {
		__u32 k = i;
		__u64 *v = bpf_map_lookup_elem(&lru, &k);

		if (v && *v == 1000 + i)
			present++;
	}
	i = INSERTS - 1;
	newest_present = bpf_map_lookup_elem(&lru, &i) != 0;
	done = true;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
