// Byte swaps and zero extensions the riscv64 JIT turns into Zbb (rev8, zext.h)
// when the CPU has it: BPF_END to big endian (16/32/64) and to little endian
// (16/32: on a little-endian CPU a zero extension). Run by BPF_PROG_TEST_RUN.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_endian.h>
#include "kmatrix.h"

__u64 x;
__u64 be16, be32, be64, le16, le32;
__u32 runs;

SEC("tc")
int swaps(struct __sk_buff *skb)
{
	__u64 v = x, w;

	be16 = bpf_htons((__u16)v);
	be32 = bpf_htonl((__u32)v);
	be64 = bpf_cpu_to_be64(v);
	/* BPF_END | BPF_TO_LE: no C spelling reaches it on a little-endian target */
	w = v;
	asm volatile("%[w] = le16 %[w]" : [w] "+r"(w));
	le16 = w;
	w = v;
	asm volatile("%[w] = le32 %[w]" : [w] "+r"(w));
	le32 = w;
	runs++;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
