// SPDX-License-Identifier: GPL-2.0
/* BPF ISA cpu v4 (compiled with -mcpu=v4): sign-extending loads (ldsx), sign-
 * extending moves (movsx), unconditional byte swaps (bswap), signed division and
 * modulo (sdiv/smod) and the 32-bit-offset jump (gotol). Inputs come from .bss
 * so nothing folds at compile time. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

/* inputs (set by the check): res[1] tgid filter, res[2] a bit pattern,
 * res[3] dividend, res[4] divisor, res[5] modulus (a different one, so the
 * compiler cannot derive the remainder from the quotient), res[6] 1 (gotol taken);
 * outputs: res[0] done, res[8..10] ldsx s8/s16/s32 of res[2], res[11..13]
 * movsx s8/s16/s32 of it, res[14..16] bswap16/32/64, res[17] sdiv64, res[18]
 * smod64, res[19] sdiv32, res[20] smod32, res[21] value after a gotol that must
 * skip an assignment */
__u64 res[24];

SEC("raw_tp/sys_enter")
int cpuv4(void *ctx)
{
	__u64 a, c, v = 1;
	__s64 x, y, z;
	__s32 x32, y32, z32;

	if (!res[1] || (bpf_get_current_pid_tgid() >> 32) != res[1] || res[0])
		return 0;
	a = res[2];
	x = (__s64)res[3];
	y = (__s64)res[4];
	z = (__s64)res[5];
	if (y == 0 || z == 0)
		return 0;
	/* ldsx: the loads themselves sign-extend */
	res[8] = (__s64)*(volatile __s8 *)&res[2];
	res[9] = (__s64)*(volatile __s16 *)&res[2];
	res[10] = (__s64)*(volatile __s32 *)&res[2];
	/* movsx: sign-extend a value already in a register */
	res[11] = (__s64)(__s8)a;
	res[12] = (__s64)(__s16)a;
	res[13] = (__s64)(__s32)a;
	/* bswap */
	res[14] = __builtin_bswap16((__u16)a);
	res[15] = __builtin_bswap32((__u32)a);
	res[16] = __builtin_bswap64(a);
	/* sdiv/smod, 64 and 32 bit */
	res[17] = x / y;
	res[18] = x % z;
	x32 = (__s32)x;
	y32 = (__s32)y;
	z32 = (__s32)z;
	res[19] = (__s64)(x32 / y32);
	res[20] = (__s64)(x32 % z32);
	/* gotol jumps over the assignment of 2; the conditional jump keeps that
	 * assignment reachable (the verifier refuses dead code). res[6] is 1. */
	c = res[6];
	asm volatile("%[v] = 1\n\t"
		     "if %[c] == 0 goto +1\n\t"
		     "gotol +1\n\t"
		     "%[v] = 2\n\t"
		     : [v] "+r"(v)
		     : [c] "r"(c));
	res[21] = v;
	res[0] = 1;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
