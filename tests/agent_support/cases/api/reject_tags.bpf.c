// SPDX-License-Identifier: GPL-2.0
/* Test-only: tagged rejection programs whose tags are right or wrong on purpose
 * (tests/test_case_api.py); one case per program, api/reject_tags_<program>. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "kmatrix.h"

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 64 * 1024);
} rb SEC(".maps");

__u64 sink;

#define LEAK() do {						\
	struct bpf_dynptr ptr;					\
	bpf_ringbuf_reserve_dynptr(&rb, 8, 0, &ptr);		\
	sink++;							\
} while (0)

SEC("raw_tp/sys_enter")
__description("right tags") __requires("probes=dynptr")
__failure __msg("bpf_ringbuf_reserve_dynptr") __msg("Unreleased reference id=") __errno(EINVAL)
__rejected_by(verifier)
int ok(void *ctx)
{
	LEAK();
	return 0;
}

SEC("raw_tp/sys_enter")
__description("an alternative matches") __requires("probes=dynptr")
__failure __msg("no such words") __msg_or("Unreleased reference")
int either(void *ctx)
{
	LEAK();
	return 0;
}

SEC("raw_tp/sys_enter")
__description("wrong message") __requires("probes=dynptr")
__failure __msg("no such words")
int wrong_msg(void *ctx)
{
	LEAK();
	return 0;
}

SEC("raw_tp/sys_enter")
__description("messages out of order") __requires("probes=dynptr")
__failure __msg("Unreleased reference id=") __msg("bpf_ringbuf_reserve_dynptr")
int out_of_order(void *ctx)
{
	LEAK();
	return 0;
}

SEC("raw_tp/sys_enter")
__description("wrong errno") __requires("probes=dynptr")
__failure __msg("Unreleased reference id=") __errno(EACCES)
int wrong_errno(void *ctx)
{
	LEAK();
	return 0;
}

SEC("raw_tp/sys_enter")
__description("refused by the verifier, said libbpf") __requires("probes=dynptr")
__failure __msg("Unreleased reference id=") __rejected_by(libbpf)
int by_libbpf(void *ctx)
{
	LEAK();
	return 0;
}

SEC("raw_tp/sys_enter")
__description("loads fine") __requires("probes=dynptr")
__failure __msg("anything")
int loads(void *ctx)
{
	sink++;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
