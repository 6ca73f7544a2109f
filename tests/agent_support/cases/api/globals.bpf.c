// SPDX-License-Identifier: GPL-2.0
/* Test-only: typed globals of every shape the agent decodes, written by the check,
 * copied by the program, read back (tests/test_case_api.py). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "kmatrix.h"

enum kmx_colour { KMX_RED = 1, KMX_BLUE = 7 };

struct kmx_pair {
	__s32 neg;
	__u16 small;
	bool flag;
	__u64 big;
};

/* in (written by the check) */
__s64 in_s64;
__u8 in_u8;
struct kmx_pair in_pair;
__u32 in_arr[4];
char in_name[8];
enum kmx_colour in_colour;
/* out */
bool done;
__s64 out_s64;
__u8 out_u8;
struct kmx_pair out_pair;
__u32 out_arr[4];
char out_name[8];
enum kmx_colour out_colour;
__u32 seen_tgid;
struct kmx_pair pairs[2];
/* .data and .rodata */
__s32 data_neg = -42;
__u64 data_arr[3] = {1, 2, 3};
const volatile __u32 ro_magic = 0xC0FFEE;

SEC("raw_tp/sys_enter")
int copy(void *ctx)
{
	int i;

	if (!kmx_ours() || done)
		return 0;
	out_s64 = in_s64 - 1;
	out_u8 = in_u8 + 1;
	out_pair = in_pair;
	for (i = 0; i < 4; i++)
		out_arr[i] = in_arr[i] * 2;
	__builtin_memcpy(out_name, in_name, sizeof(out_name));
	out_colour = in_colour;
	seen_tgid = bpf_get_current_pid_tgid() >> 32;
	pairs[1].neg = data_neg;
	pairs[1].big = data_arr[2] + ro_magic;
	done = true;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
