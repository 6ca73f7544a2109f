// SPDX-License-Identifier: GPL-2.0
/* Kernel lock contention read by BPF: tp_btf programs on lock:contention_begin and
 * lock:contention_end (Linux 5.19) pair each wait of the check's own threads, and
 * count the contentions and the time waited per lock type, as `perf lock
 * contention -b` does with its BPF skeleton. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "kmatrix.h"

/* include/trace/events/lock.h; #defines, so not in vmlinux.h */
#define LCB_F_SPIN	(1U << 0)
#define LCB_F_READ	(1U << 1)
#define LCB_F_WRITE	(1U << 2)
#define LCB_F_MUTEX	(1U << 5)

struct wait {
	__u64 since;
	__u32 flags;
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 1024);
	__type(key, __u32);		/* thread id */
	__type(value, struct wait);
} waiting SEC(".maps");

__u64 begins, ends;
__u64 mutex_waits, rwsem_waits, spin_waits, other_waits;
__u64 wait_ns, max_wait_ns;

SEC("tp_btf/contention_begin")
int BPF_PROG(on_begin, void *lock, unsigned int flags)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct wait w = { .since = bpf_ktime_get_ns(), .flags = flags };

	if (!kmx_ours())
		return 0;
	/* A nested wait (a spinlock inside a mutex's slow path) keeps the outer one. */
	if (bpf_map_update_elem(&waiting, &tid, &w, BPF_NOEXIST) == 0)
		__sync_fetch_and_add(&begins, 1);
	return 0;
}

SEC("tp_btf/contention_end")
int BPF_PROG(on_end, void *lock, int ret)
{
	__u32 tid = (__u32)bpf_get_current_pid_tgid();
	struct wait *w;
	__u64 d;

	if (!kmx_ours())
		return 0;
	w = bpf_map_lookup_elem(&waiting, &tid);
	if (!w)
		return 0;
	d = bpf_ktime_get_ns() - w->since;
	if (w->flags & LCB_F_MUTEX)
		__sync_fetch_and_add(&mutex_waits, 1);
	else if (w->flags & (LCB_F_READ | LCB_F_WRITE))
		__sync_fetch_and_add(&rwsem_waits, 1);
	else if (w->flags & LCB_F_SPIN)
		__sync_fetch_and_add(&spin_waits, 1);
	else
		__sync_fetch_and_add(&other_waits, 1);
	__sync_fetch_and_add(&wait_ns, d);
	if (d > max_wait_ns)
		max_wait_ns = d;
	__sync_fetch_and_add(&ends, 1);
	bpf_map_delete_elem(&waiting, &tid);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
