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
#include "kmatrix.h"

__s32 override_errno;	/* in: fmod_ret returns -override_errno (0: let the hook run) */
__u64 modify_hits;
__s32 handed;		/* the return value fmod_ret was handed */
__u64 fexit_hits;
__s32 fexit_ret;	/* the return value fexit saw */

/* ctx[0] = p (never read), ctx[1] = return value so far */
SEC("fmod_ret/security_task_getsid")
int modify(unsigned long long *ctx)
{
	if (!kmx_ours())
		return 0;
	handed = (int)ctx[1];
	__sync_fetch_and_add(&modify_hits, 1);
	return -override_errno;
}

SEC("fexit/security_task_getsid")
int after(unsigned long long *ctx)
{
	if (!kmx_ours())
		return 0;
	fexit_ret = (int)ctx[1];
	__sync_fetch_and_add(&fexit_hits, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
