// SPDX-License-Identifier: GPL-2.0
/* fmod_ret on bpf_modify_return_test(int a, int *b), which does *b += 1 and
 * returns a + *b. fentry/fexit around it show what the caller got back; the
 * test run itself reports whether the body ran (its side effect on *b).
 *
 * The most portable form: the programs read only the int argument and the
 * return value. Before Linux 5.16 the verifier refuses any read of a pointer
 * argument that does not point at a struct ("arg1 type INT is not a struct"),
 * and fmod_ret itself has been there since 5.7 on x86_64. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

/* in: res[0] value fmod_ret returns (0 = let the function run);
 * out: res[1] fentry hits, res[2] a, res[4] fmod_ret hits,
 * res[5] ret fmod_ret was handed, res[6] fexit hits, res[8] return value fexit saw */
__u64 res[9];

/* ctx[0] = a, ctx[1] = b (never read), ctx[2] = return value so far */
SEC("fentry/bpf_modify_return_test")
int on_entry(unsigned long long *ctx)
{
	res[2] = (__u64)(__s64)(int)ctx[0];
	__sync_fetch_and_add(&res[1], 1);
	return 0;
}

SEC("fmod_ret/bpf_modify_return_test")
int modify(unsigned long long *ctx)
{
	res[5] = (__u64)(__s64)(int)ctx[2];
	__sync_fetch_and_add(&res[4], 1);
	return (int)res[0];
}

SEC("fexit/bpf_modify_return_test")
int on_exit(unsigned long long *ctx)
{
	res[8] = (__u64)(__s64)(int)ctx[2];
	__sync_fetch_and_add(&res[6], 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
