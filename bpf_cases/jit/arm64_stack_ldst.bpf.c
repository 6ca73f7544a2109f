// Stack stores and loads at constant offsets from the frame pointer (r10-8,
// r10-16 ...): a JIT with the immediate-offset optimisation emits each as one
// STR/LDR [base, #imm]; an older one builds the address in a register first.
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include "kmatrix.h"

__u64 x, out;
__u32 runs;

SEC("tc")
int stack_ldst(struct __sk_buff *skb)
{
	volatile __u64 slot[2];	/* volatile: kept on the stack, stored then loaded */

	slot[0] = x;
	slot[1] = x ^ 0xffff;
	out = slot[0] + slot[1];
	runs++;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
