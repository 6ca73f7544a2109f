// SPDX-License-Identifier: GPL-2.0
/* bpf_dynptr_from_mem over a map value: write, read back, bounds check, and a
 * direct data slice (bpf_dynptr_data) written through and read back.
 * (Newer kernels only accept map values as dynptr_from_mem memory.) */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "kmatrix.h"

#define BUF_SZ 16

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, char[BUF_SZ]);
} scratch SEC(".maps");

bool done;
__s64 from_mem_rc, write_rc, read_rc;
__s64 oob_write_rc;		/* 8 bytes at offset 12 of 16: must be -E2BIG */
__u64 read_back;		/* the u64 read back through the dynptr */
__u64 buffer;			/* the map value's bytes 4..11, read directly */
bool data_slice;		/* bpf_dynptr_data gave a slice of bytes 0..3 */
__u32 read_back_via_slice;	/* the u32 the dynptr reads after a write through the slice */
bool data_oob_refused;		/* bpf_dynptr_data past the end gave NULL */

SEC("raw_tp/sys_enter")
int on_sys_enter(void *ctx)
{
	struct bpf_dynptr ptr;
	__u32 zero = 0, *slot, back32 = 0;
	char *buf;
	__u64 val = 0x1122334455667788ULL, back = 0, direct = 0;

	if (!kmx_ours() || done)
		return 0;
	buf = bpf_map_lookup_elem(&scratch, &zero);
	if (!buf)
		return 0;
	from_mem_rc = bpf_dynptr_from_mem(buf, BUF_SZ, 0, &ptr);
	write_rc = bpf_dynptr_write(&ptr, 4, &val, sizeof(val), 0);
	read_rc = bpf_dynptr_read(&back, sizeof(back), &ptr, 4, 0);
	oob_write_rc = bpf_dynptr_write(&ptr, 12, &val, sizeof(val), 0);
	__builtin_memcpy(&direct, buf + 4, sizeof(direct));
	slot = bpf_dynptr_data(&ptr, 0, sizeof(__u32));
	if (slot) {
		*slot = 0xa5c3e1f0;
		data_slice = true;
	}
	bpf_dynptr_read(&back32, sizeof(back32), &ptr, 0, 0);
	read_back_via_slice = back32;
	data_oob_refused = bpf_dynptr_data(&ptr, BUF_SZ - 4, sizeof(__u64)) == NULL;
	read_back = back;
	buffer = direct;
	done = true;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
