// SPDX-License-Identifier: GPL-2.0
/* fentry/fexit on veth_xmit, a function of the veth module: libbpf finds it
 * in the module's BTF (/sys/kernel/btf/veth), not in vmlinux. */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

/* in: res[0] frame length to count; out: res[1] fentry hits, res[2] ifindex
 * of the device, res[3] fexit hits, res[4] return value (NETDEV_TX_OK = 0),
 * res[5] the skb fentry matched last */
__u64 res[6];

SEC("fentry/veth_xmit")
int BPF_PROG(on_xmit, struct sk_buff *skb, struct net_device *dev)
{
	if (skb->len != res[0])
		return 0;
	res[2] = dev->ifindex;
	res[5] = (__u64)skb;
	__sync_fetch_and_add(&res[1], 1);
	return 0;
}

SEC("fexit/veth_xmit")
int BPF_PROG(after_xmit, struct sk_buff *skb, struct net_device *dev, int ret)
{
	/* By now the skb went to the peer (header pulled) or was freed: match the
	 * pointer fentry saw instead of reading it. veth_xmit runs on one CPU. */
	if ((__u64)skb != res[5])
		return 0;
	res[5] = 0;
	res[4] = (__u64)(__s64)ret;
	__sync_fetch_and_add(&res[3], 1);
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
