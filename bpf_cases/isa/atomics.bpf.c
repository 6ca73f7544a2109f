// SPDX-License-Identifier: GPL-2.0
/* BPF atomics (-mcpu=v3): fetch_add/and/or/xor, xchg and cmpxchg, 64 and 32 bit,
 * plus the non-fetching add/and/or/xor, on .bss words. cmpxchg also guards the
 * program so it runs its body exactly once. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "kmatrix.h"

struct kmx_ops64 {
	__u64 fetch_add, fetch_and, fetch_or, fetch_xor, xchg, cmpxchg;
};

struct kmx_ops32 {
	__u32 fetch_add, fetch_and, fetch_or, fetch_xor, xchg, cmpxchg;
};

__u64 init;			/* in: the value every word starts from (set by the check) */
__u64 ran;			/* once-guard, 0 -> 1 by cmpxchg */
struct kmx_ops64 new64, old64;	/* each word after its atomic, and what the atomic returned */
struct kmx_ops32 new32, old32;
__u64 stale_cmpxchg;		/* a cmpxchg with a stale old value: must not swap */
__u64 nofetch;			/* ((init + 5) & mask | bits) ^ bits2, without fetch */

SEC("raw_tp/sys_enter")
int atomics(void *ctx)
{
	__u64 i64;
	__u32 i32;

	if (!kmx_ours())
		return 0;
	if (__sync_val_compare_and_swap(&ran, 0, 1) != 0)
		return 0;
	i64 = init;
	i32 = (__u32)i64;
	/* fetching forms: the old value comes back */
	new64.fetch_add = i64;
	old64.fetch_add = __sync_fetch_and_add(&new64.fetch_add, 0x1111);
	new64.fetch_and = i64;
	old64.fetch_and = __sync_fetch_and_and(&new64.fetch_and, 0xF0F0F0F0F0F0F0F0ULL);
	new64.fetch_or = i64;
	old64.fetch_or = __sync_fetch_and_or(&new64.fetch_or, 0x0F00000000000F0FULL);
	new64.fetch_xor = i64;
	old64.fetch_xor = __sync_fetch_and_xor(&new64.fetch_xor, 0xFFFF0000FFFF0000ULL);
	new64.xchg = i64;
	old64.xchg = __sync_lock_test_and_set(&new64.xchg, 0xDEADBEEFCAFEF00DULL);
	new64.cmpxchg = i64;
	old64.cmpxchg = __sync_val_compare_and_swap(&new64.cmpxchg, i64, i64 ^ 0x5A5A);
	stale_cmpxchg = __sync_val_compare_and_swap(&new64.cmpxchg, i64, 42);
	/* non-fetching forms */
	nofetch = i64;
	__sync_fetch_and_add(&nofetch, 5);
	__sync_fetch_and_and(&nofetch, 0x00FFFFFFFFFFFFFFULL);
	__sync_fetch_and_or(&nofetch, 0x3000000000000000ULL);
	__sync_fetch_and_xor(&nofetch, 0x0000000000FF0000ULL);
	/* 32-bit */
	new32.fetch_add = i32;
	old32.fetch_add = __sync_fetch_and_add(&new32.fetch_add, 0x7FFFFFFF);
	new32.fetch_and = i32;
	old32.fetch_and = __sync_fetch_and_and(&new32.fetch_and, 0x0FF00FF0);
	new32.fetch_or = i32;
	old32.fetch_or = __sync_fetch_and_or(&new32.fetch_or, 0x80000001);
	new32.fetch_xor = i32;
	old32.fetch_xor = __sync_fetch_and_xor(&new32.fetch_xor, 0xFFFFFFFF);
	new32.xchg = i32;
	old32.xchg = __sync_lock_test_and_set(&new32.xchg, 0x12345678);
	new32.cmpxchg = i32;
	old32.cmpxchg = __sync_val_compare_and_swap(&new32.cmpxchg, i32, 0x9ABCDEF0);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
