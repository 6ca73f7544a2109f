// SPDX-License-Identifier: GPL-2.0
/* fentry and fexit on bpf_fentry_test1, which BPF_PROG_TEST_RUN of a tracing
 * program calls with 1 (it returns a + 1). */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

/* res[0] fentry hits, res[1] argument seen by fentry, res[2] fexit hits,
 * res[3] argument seen by fexit, res[4] return value seen by fexit */
__u64 res[5];

SEC("fentry/bpf_fentry_test1")
int BPF_PROG(on_entry, int a)
{
	res[1] = a;
	__sync_fetch_and_add(&res[0], 1);
	return 0;
}

SEC("fexit/bpf_fentry_test1")
int BPF_PROG(on_exit, int a, int ret)
{
	res[3] = a;
	res[4] = ret;
	__sync_fetch_and_add(&res[2], 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
