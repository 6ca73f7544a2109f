// SPDX-License-Identifier: GPL-2.0
/* BPF_MAP_TYPE_LPM_TRIE: the check inserts nested IPv4 prefixes; the program looks up
 * addresses and records which prefix (value) matched longest. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "kmatrix.h"

struct v4_key {
	__u32 prefixlen;
	__u8 addr[4];
};

struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(max_entries, 16);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, struct v4_key);
	__type(value, __u32);
} routes SEC(".maps");

__u32 queries[4];	/* set by the check: addresses in network byte order */
__s32 matched[4];	/* the value of the longest match, -1 for none */
bool done;

SEC("raw_tp/sys_enter")
int lookup(void *ctx)
{
	int i;

	if (!kmx_ours() || done)
		return 0;
	for (i = 0; i < 4; i++) {
		struct v4_key k = { .prefixlen = 32 };
		__u32 *v;

		__builtin_memcpy(k.addr, &queries[i], 4);
		v = bpf_map_lookup_elem(&routes, &k);
		matched[i] = v ? (__s32)*v : -1;
	}
	done = true;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
