// SPDX-License-Identifier: GPL-2.0
/* BPF ISA cpu v4 (compiled with -mcpu=v4): sign-extending loads (ldsx), sign-
 * extending moves (movsx), unconditional byte swaps (bswap), signed division and
 * modulo (sdiv/smod) and the 32-bit-offset jump (gotol). Inputs come from .bss
 * so nothing folds at compile time. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "kmatrix.h"

/* in (set by the check) */
__u64 a;		/* a bit pattern */
__s64 x, y, z;		/* dividend, divisor, and a modulus (another one, so the compiler
			 * cannot derive the remainder from the quotient) */
__u64 take_gotol;	/* 1: the gotol is taken */
/* out */
bool done;
__s64 ldsx8, ldsx16, ldsx32;	/* sign-extending loads of a */
__s64 movsx8, movsx16, movsx32;	/* sign-extending moves of it */
__u64 bswap16, bswap32, bswap64;
__s64 sdiv64, smod64, sdiv32, smod32;
__u64 gotol;		/* 1 when the gotol skipped the assignment of 2 */

SEC("raw_tp/sys_enter")
int cpuv4(void *ctx)
{
	__u64 av, c, v = 1;
	__s64 xv, yv, zv;
	__s32 x32, y32, z32;

	if (!kmx_ours() || done)
		return 0;
	av = a;
	xv = x;
	yv = y;
	zv = z;
	if (yv == 0 || zv == 0)
		return 0;
	/* ldsx: the loads themselves sign-extend */
	ldsx8 = *(volatile __s8 *)&a;
	ldsx16 = *(volatile __s16 *)&a;
	ldsx32 = *(volatile __s32 *)&a;
	/* movsx: sign-extend a value already in a register */
	movsx8 = (__s8)av;
	movsx16 = (__s16)av;
	movsx32 = (__s32)av;
	bswap16 = __builtin_bswap16((__u16)av);
	bswap32 = __builtin_bswap32((__u32)av);
	bswap64 = __builtin_bswap64(av);
	/* sdiv/smod, 64 and 32 bit */
	sdiv64 = xv / yv;
	smod64 = xv % zv;
	x32 = (__s32)xv;
	y32 = (__s32)yv;
	z32 = (__s32)zv;
	sdiv32 = x32 / y32;
	smod32 = x32 % z32;
	/* gotol jumps over the assignment of 2; the conditional jump keeps that
	 * assignment reachable (the verifier refuses dead code). */
	c = take_gotol;
	asm volatile("%[v] = 1\n\t"
		     "if %[c] == 0 goto +1\n\t"
		     "gotol +1\n\t"
		     "%[v] = 2\n\t"
		     : [v] "+r"(v)
		     : [c] "r"(c));
	gotol = v;
	done = true;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
