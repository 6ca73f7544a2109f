// Any JITed arm64 program: its prologue signs the return address (PACIASP) and
// its epilogue authenticates it (AUTIASP) when the kernel is built with pointer
// authentication (CONFIG_ARM64_PTR_AUTH_KERNEL), whatever the program does.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "kmatrix.h"

__u64 x, out;
__u32 runs;

SEC("tc")
int signed_ret(struct __sk_buff *skb)
{
	out = x * 3 + 1;
	runs++;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
