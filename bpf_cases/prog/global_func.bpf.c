// SPDX-License-Identifier: GPL-2.0
/* Global (non-static) functions: the verifier checks each one once, on its own,
 * against its BTF prototype (Linux 5.6), instead of following it from every call
 * site; it knows nothing of the caller's values, so the function bounds its own. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "kmatrix.h"

__u64 table[8];
__u64 scaled_out, tgid_out, picked_out, clamped_out;
bool done;

__noinline int scale(int x, int factor)
{
	return x * factor + 1;
}

/* Called from another global function, and calls a helper. */
__noinline __u64 own_tgid(int shift)
{
	return bpf_get_current_pid_tgid() >> (shift & 63);
}

/* `i` is unknown to the verifier here: without this bound the access is refused. */
__noinline __u64 pick(__u32 i)
{
	if (i >= 8)
		return 1000 + own_tgid(64) * 0 + i;
	return table[i];
}

SEC("raw_tp/sys_enter")
int calls(void *ctx)
{
	if (!kmx_ours() || done)
		return 0;
	scaled_out = scale(6, 7);
	tgid_out = own_tgid(32);
	picked_out = pick(5);
	clamped_out = pick(12);
	done = true;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
