/* SPDX-License-Identifier: GPL-2.0 */
/* kmatrix.h: what every case may use (docs/cases.md). On the include path of every
 * case (local and remote builds); include it after vmlinux.h and <bpf/bpf_helpers.h>:
 *
 *	#include "vmlinux.h"
 *	#include <bpf/bpf_helpers.h>
 *	#include "kmatrix.h"
 */
#ifndef __KMATRIX_H
#define __KMATRIX_H

#include <bpf/bpf_helpers.h>

/* The process that runs the check. The agent writes its tgid here when it loads the
 * object (t.load) and again before an attach if it is still 0; a check may point it
 * at another process (obj.bss.kmx_tgid = child_pid). */
__u32 kmx_tgid;

/* True when the current task belongs to that process: the common filter of programs
 * on hooks every process runs through (sys_enter, task_newtask, ...). */
static __always_inline int kmx_ours(void)
{
	return kmx_tgid && (__u32)(bpf_get_current_pid_tgid() >> 32) == kmx_tgid;
}

/* The EtherType the network cases mark their test frames with (IEEE "local
 * experimental"); the checks' t.net.KMX_ETHERTYPE is the same. */
#define KMX_ETHERTYPE 0x88B5

/* Expectations on the program itself, as the kernel selftests write them
 * (tools/testing/selftests/bpf/progs/bpf_misc.h), carried as BTF decl tags that the
 * agent reads from the object:
 *
 *	SEC("raw_tp/sys_enter")
 *	__description("a ring buffer dynptr that is never released is refused")
 *	__requires("probes=dynptr")
 *	__failure __msg("Unreleased reference id=") __errno(EINVAL)
 *	int unreleased(void *ctx)
 *
 * __failure            the load must be refused; t.load() leaves the program out,
 *                      t.expect_rejected("prog") loads it alone and checks the rest
 * __msg("text")        the log must contain text; several must all appear, in order
 * __msg_or("text")     an alternative to the __msg just before it (kernels word it
 *                      differently)
 * __errno(EACCES)      the load fails with this errno (several: any one of them)
 * __rejected_by(who)   verifier: the kernel's verifier refused it; libbpf: libbpf
 *                      refused it before any program reached the kernel
 *
 * In a .bpf.c with no .py next to it every program is a case of its own (see
 * docs/cases.md for its id); the catalogue reads these two from the source text, so
 * write them literally, between SEC() and the function:
 *
 * __description("...")  the case's description (required)
 * __requires("k=v,v")   one requirement (CASE["requires"] key k, values comma-separated;
 *                       "ftrace" alone means ftrace=true); repeat for several keys
 */
#if defined(__has_attribute)
#if __has_attribute(btf_decl_tag)
#define __kmx_tag(text)		__attribute__((btf_decl_tag(text)))
#endif
#endif
#ifndef __kmx_tag
#error "kmatrix.h needs a compiler with btf_decl_tag (clang >= 14)"
#endif

#define __failure		__kmx_tag("kmx:failure")
#define __msg(text)		__kmx_tag("kmx:msg:" text)
#define __msg_or(text)		__kmx_tag("kmx:msg_or:" text)
#define __errno(name)		__kmx_tag("kmx:errno:" #name)
#define __rejected_by(who)	__kmx_tag("kmx:rejected_by:" #who)
#define __description(text)	__kmx_tag("kmx:description:" text)
#define __requires(text)	__kmx_tag("kmx:requires:" text)

#endif /* __KMATRIX_H */
