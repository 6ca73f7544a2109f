// SPDX-License-Identifier: GPL-2.0
/* BPF atomics (-mcpu=v3): fetch_add/and/or/xor, xchg and cmpxchg, 64 and 32 bit,
 * plus the non-fetching add/and/or/xor, on .bss words. cmpxchg also guards the
 * program so it runs its body exactly once. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

/* res[0] once-guard (0 -> 1 by cmpxchg), res[1] tgid filter (set by the check),
 * res[2] initial value (set by the check); 64-bit targets res[3..9] and returned
 * old values res[10..15]; 32-bit targets w[] and their old values in res[16..21];
 * res[22] cmpxchg that must fail: returned value */
__u64 res[24];
__u32 w[8];

SEC("raw_tp/sys_enter")
int atomics(void *ctx)
{
	__u64 init;
	__u32 init32;

	if (!res[1] || (bpf_get_current_pid_tgid() >> 32) != res[1])
		return 0;
	if (__sync_val_compare_and_swap(&res[0], 0, 1) != 0)
		return 0;
	init = res[2];
	init32 = (__u32)init;
	/* fetching forms: the old value comes back */
	res[3] = init;
	res[10] = __sync_fetch_and_add(&res[3], 0x1111);
	res[4] = init;
	res[11] = __sync_fetch_and_and(&res[4], 0xF0F0F0F0F0F0F0F0ULL);
	res[5] = init;
	res[12] = __sync_fetch_and_or(&res[5], 0x0F00000000000F0FULL);
	res[6] = init;
	res[13] = __sync_fetch_and_xor(&res[6], 0xFFFF0000FFFF0000ULL);
	res[7] = init;
	res[14] = __sync_lock_test_and_set(&res[7], 0xDEADBEEFCAFEF00DULL); /* xchg */
	res[8] = init;
	res[15] = __sync_val_compare_and_swap(&res[8], init, init ^ 0x5A5A);
	res[22] = __sync_val_compare_and_swap(&res[8], init, 42); /* stale: must not swap */
	/* non-fetching forms on res[9]: ((init + 5) & mask | bits) ^ bits2 */
	res[9] = init;
	__sync_fetch_and_add(&res[9], 5);
	__sync_fetch_and_and(&res[9], 0x00FFFFFFFFFFFFFFULL);
	__sync_fetch_and_or(&res[9], 0x3000000000000000ULL);
	__sync_fetch_and_xor(&res[9], 0x0000000000FF0000ULL);
	/* 32-bit */
	w[0] = init32;
	res[16] = __sync_fetch_and_add(&w[0], 0x7FFFFFFF);
	w[1] = init32;
	res[17] = __sync_fetch_and_and(&w[1], 0x0FF00FF0);
	w[2] = init32;
	res[18] = __sync_fetch_and_or(&w[2], 0x80000001);
	w[3] = init32;
	res[19] = __sync_fetch_and_xor(&w[3], 0xFFFFFFFF);
	w[4] = init32;
	res[20] = __sync_lock_test_and_set(&w[4], 0x12345678);
	w[5] = init32;
	res[21] = __sync_val_compare_and_swap(&w[5], init32, 0x9ABCDEF0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
