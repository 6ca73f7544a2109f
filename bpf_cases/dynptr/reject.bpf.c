// SPDX-License-Identifier: GPL-2.0
/* Misuse of dynptrs the verifier must refuse, one case per program (no .py: each
 * program is the case dynptr/reject_<program>, checked against its tags), as the
 * kernel's selftests do in progs/dynptr_fail.c. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "kmatrix.h"

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} rb SEC(".maps");

__u64 sink;

/* The slice register becomes a plain scalar once the reference is released. Kernels
 * with strict alignment checks (riscv64 7.x) report the scalar store as misaligned
 * instead; either way the refusal must come after the submit. */
SEC("raw_tp/sys_enter")
__description("verifier rejects a write through a bpf_dynptr_data slice after "
	      "bpf_ringbuf_submit_dynptr released its record")
__requires("probes=dynptr")
__requires("btf_funcs=bpf_ringbuf_reserve_dynptr,bpf_ringbuf_submit_dynptr,bpf_dynptr_data")
__failure __msg("bpf_ringbuf_submit_dynptr")
__msg("invalid mem access 'scalar'") __msg_or("misaligned access")
__errno(EACCES)
int after_submit(void *ctx)
{
	struct bpf_dynptr ptr;
	__u64 *slot;

	bpf_ringbuf_reserve_dynptr(&rb, sizeof(*slot), 0, &ptr);
	slot = bpf_dynptr_data(&ptr, 0, sizeof(*slot));
	if (!slot) {
		bpf_ringbuf_discard_dynptr(&ptr, 0);
		return 0;
	}
	*slot = 1;
	bpf_ringbuf_submit_dynptr(&ptr, 0);
	*slot = 2; /* the record belongs to the consumer now: must be refused */
	return 0;
}

/* The argument number in the message differs between kernels (regno vs. arg). */
SEC("raw_tp/sys_enter")
__description("verifier rejects bpf_dynptr_read on an uninitialized struct bpf_dynptr")
__requires("probes=dynptr")
__requires("btf_funcs=bpf_dynptr_read")
__failure __msg("Expected an initialized dynptr as") __errno(EINVAL)
int uninit(void *ctx)
{
	struct bpf_dynptr ptr;
	__u64 v = 0;

	bpf_dynptr_read(&v, sizeof(v), &ptr, 0, 0);
	sink = v;
	return 0;
}

SEC("raw_tp/sys_enter")
__description("verifier rejects a bpf_ringbuf_reserve_dynptr that is never submitted or "
	      "discarded (unreleased reference)")
__requires("probes=dynptr")
__requires("btf_funcs=bpf_ringbuf_reserve_dynptr")
__failure __msg("Unreleased reference id=") __errno(EINVAL)
int unreleased(void *ctx)
{
	struct bpf_dynptr ptr;

	bpf_ringbuf_reserve_dynptr(&rb, 8, 0, &ptr);
	sink++;
	return 0; /* the reservation leaks: the verifier must refuse */
}

char LICENSE[] SEC("license") = "GPL";
