// SPDX-License-Identifier: GPL-2.0
/* fmod_ret on security_task_getsid(p), which getsid(pid) calls for pid != 0.
 *
 * The most portable form of fmod_ret: since Linux 5.7 the verifier lets
 * fmod_ret attach to any security_* function, while other targets (such as
 * bpf_modify_return_test) also need CONFIG_FUNCTION_ERROR_INJECTION, which
 * e.g. Debian 11's 5.10 lacks. Only int arguments and the return value are
 * read, which every kernel with fmod_ret allows. Only our process is affected. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

/* in: res[0] errno fmod_ret returns negated (0 = let the hook run),
 *     res[1] tgid of the check;
 * out: res[2] fmod_ret hits, res[3] return value fmod_ret was handed,
 *      res[4] fexit hits, res[5] return value fexit saw */
__u64 res[6];

static int ours(void)
{
	return (bpf_get_current_pid_tgid() >> 32) == res[1];
}

/* ctx[0] = p (never read), ctx[1] = return value so far */
SEC("fmod_ret/security_task_getsid")
int modify(unsigned long long *ctx)
{
	if (!ours())
		return 0;
	res[3] = (__u64)(__s64)(int)ctx[1];
	__sync_fetch_and_add(&res[2], 1);
	return -(int)res[0];
}

SEC("fexit/security_task_getsid")
int after(unsigned long long *ctx)
{
	if (!ours())
		return 0;
	res[5] = (__u64)(__s64)(int)ctx[1];
	__sync_fetch_and_add(&res[4], 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
