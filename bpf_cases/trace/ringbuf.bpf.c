// SPDX-License-Identifier: GPL-2.0
/* The BPF ring buffer (Linux 5.8): reserve/submit and bpf_ringbuf_output, records read
 * by the check through libbpf's ring_buffer API, in order. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "kmatrix.h"

struct event {
	__u32 tgid;
	__u32 seq;
	__u64 magic;
};

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4096);
} events SEC(".maps");

__u32 seq;
__u32 want;	/* set by the check: how many records to send */
__s64 output_rc;
__u64 dropped;

SEC("raw_tp/sys_enter")
int on_enter(void *ctx)
{
	struct event *e, out;

	if (!kmx_ours() || seq >= want)
		return 0;
	if (seq % 2 == 0) {
		e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);
		if (!e) {
			dropped++;
			return 0;
		}
		e->tgid = kmx_tgid;
		e->seq = seq++;
		e->magic = 0x52494e4742554621ULL;
		bpf_ringbuf_submit(e, 0);
	} else {
		out.tgid = kmx_tgid;
		out.seq = seq++;
		out.magic = 0x52494e4742554621ULL;
		output_rc = bpf_ringbuf_output(&events, &out, sizeof(out), 0);
	}
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
