// SPDX-License-Identifier: GPL-2.0
/* BPF_MAP_TYPE_ARRAY_OF_MAPS and HASH_OF_MAPS: the program looks an inner array up in
 * the outer map, reads the value the check wrote there and writes one back. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "kmatrix.h"

struct inner {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 4);
	__type(key, __u32);
	__type(value, __u64);
};

struct inner inner_a SEC(".maps"), inner_b SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct inner);
} outer_arr SEC(".maps") = {
	.values = { [0] = &inner_a, [1] = &inner_b },
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH_OF_MAPS);
	__uint(max_entries, 2);
	__type(key, __u32);
	__array(values, struct inner);
} outer_hash SEC(".maps") = {
	.values = { [1] = &inner_b },
};

__u64 read_a, read_b_via_hash;
__s32 missing_outer;
bool done;

SEC("raw_tp/sys_enter")
int walk(void *ctx)
{
	__u32 zero = 0, one = 1, two = 2;
	__u64 *v, wrote = 4242;
	void *m;

	if (!kmx_ours() || done)
		return 0;
	m = bpf_map_lookup_elem(&outer_arr, &zero);
	if (!m)
		return 0;
	v = bpf_map_lookup_elem(m, &zero);
	if (v)
		read_a = *v;
	bpf_map_update_elem(m, &one, &wrote, BPF_ANY);
	m = bpf_map_lookup_elem(&outer_hash, &one);
	if (!m)
		return 0;
	v = bpf_map_lookup_elem(m, &two);
	if (v)
		read_b_via_hash = *v;
	missing_outer = bpf_map_lookup_elem(&outer_hash, &zero) == 0;
	done = true;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
