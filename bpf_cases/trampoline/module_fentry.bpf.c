// SPDX-License-Identifier: GPL-2.0
/* fentry/fexit on veth_xmit, a function of the veth module: libbpf finds it
 * in the module's BTF (/sys/kernel/btf/veth), not in vmlinux. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

__u32 frame_len;	/* in: the frame length to count (set by the check) */
__u64 entry_hits, exit_hits;
__u32 ifindex;		/* of the device veth_xmit ran for */
__s32 ret;		/* veth_xmit's return value (NETDEV_TX_OK = 0) */
__u64 last_skb;		/* the skb fentry matched last */

SEC("fentry/veth_xmit")
int BPF_PROG(on_xmit, struct sk_buff *skb, struct net_device *dev)
{
	if (skb->len != frame_len)
		return 0;
	ifindex = dev->ifindex;
	last_skb = (__u64)skb;
	__sync_fetch_and_add(&entry_hits, 1);
	return 0;
}

SEC("fexit/veth_xmit")
int BPF_PROG(after_xmit, struct sk_buff *skb, struct net_device *dev, int rc)
{
	/* By now the skb went to the peer (header pulled) or was freed: match the
	 * pointer fentry saw instead of reading it. veth_xmit runs on one CPU. */
	if ((__u64)skb != last_skb)
		return 0;
	last_skb = 0;
	ret = rc;
	__sync_fetch_and_add(&exit_hits, 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
