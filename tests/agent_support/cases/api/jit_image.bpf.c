#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "kmatrix.h"

__u64 x, out;

SEC("tc")
int jitted(struct __sk_buff *skb)
{
	out = x + 1;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
