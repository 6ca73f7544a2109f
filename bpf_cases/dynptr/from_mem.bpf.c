// SPDX-License-Identifier: GPL-2.0
/* bpf_dynptr_from_mem over a map value: write, read back, bounds check, and a
 * direct data slice (bpf_dynptr_data) written through and read back.
 * (Newer kernels only accept map values as dynptr_from_mem memory.) */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>

/* res[0] done flag, res[1] value read back through the dynptr, res[2] write rc,
 * res[3] read rc, res[4] rc of an out-of-bounds write, res[5] the map value
 * bytes read directly, res[6] tgid filter (set by the check), res[7] from_mem rc,
 * res[8] 1 if bpf_dynptr_data gave a slice, res[9] the u32 read back through the
 * dynptr after writing it through the slice, res[10] 1 if an out-of-bounds
 * bpf_dynptr_data was refused (NULL) */
#define BUF_SZ 16

__u64 res[11];

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, char[BUF_SZ]);
} scratch SEC(".maps");

SEC("raw_tp/sys_enter")
int on_sys_enter(void *ctx)
{
	struct bpf_dynptr ptr;
	__u32 zero = 0;
	char *buf;
	__u64 val = 0x1122334455667788ULL, back = 0, direct = 0;

	if (!res[6] || (bpf_get_current_pid_tgid() >> 32) != res[6] || res[0])
		return 0;
	buf = bpf_map_lookup_elem(&scratch, &zero);
	if (!buf)
		return 0;
	res[7] = bpf_dynptr_from_mem(buf, BUF_SZ, 0, &ptr);
	res[2] = bpf_dynptr_write(&ptr, 4, &val, sizeof(val), 0);
	res[3] = bpf_dynptr_read(&back, sizeof(back), &ptr, 4, 0);
	/* 12 + 8 > 16: must be refused with -E2BIG, not written. */
	res[4] = bpf_dynptr_write(&ptr, 12, &val, sizeof(val), 0);
	__builtin_memcpy(&direct, buf + 4, sizeof(direct));
	{
		__u32 *slot = bpf_dynptr_data(&ptr, 0, sizeof(__u32));
		__u32 back32 = 0;

		if (slot) {
			*slot = 0xa5c3e1f0;
			res[8] = 1;
		}
		bpf_dynptr_read(&back32, sizeof(back32), &ptr, 0, 0);
		res[9] = back32;
		res[10] = bpf_dynptr_data(&ptr, BUF_SZ - 4, sizeof(__u64)) == NULL;
	}
	res[1] = back;
	res[5] = direct;
	res[0] = 1;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
