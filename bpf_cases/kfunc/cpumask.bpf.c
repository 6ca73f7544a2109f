// SPDX-License-Identifier: GPL-2.0
/* bpf_cpumask_create/set_cpu/test_cpu/clear_cpu/first/release from tp_btf/sys_enter. */
#define BPF_NO_KFUNC_PROTOTYPES /* newer bpftool emits kfunc prototypes; use ours */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>

/* Only pointers to it are used, so this compiles against a vmlinux.h without it. */
struct bpf_cpumask;

extern struct bpf_cpumask *bpf_cpumask_create(void) __ksym;
extern void bpf_cpumask_release(struct bpf_cpumask *cpumask) __ksym;
extern void bpf_cpumask_set_cpu(u32 cpu, struct bpf_cpumask *cpumask) __ksym;
extern void bpf_cpumask_clear_cpu(u32 cpu, struct bpf_cpumask *cpumask) __ksym;
extern bool bpf_cpumask_test_cpu(u32 cpu, const struct cpumask *cpumask) __ksym;
extern u32 bpf_cpumask_first(const struct cpumask *cpumask) __ksym;

/* res[0] done, res[1] tgid filter (set by the check), res[2] cpu set,
 * res[3] test_cpu after set, res[4] test_cpu of the other cpu (res[5]),
 * res[6] first after set, res[7] test_cpu after clear, res[8] create failed */
__u64 res[9];

SEC("tp_btf/sys_enter")
int BPF_PROG(on_sys_enter, struct pt_regs *regs, long id)
{
	struct bpf_cpumask *mask;
	u32 cpu, other;

	if (!res[1] || (bpf_get_current_pid_tgid() >> 32) != res[1] || res[0])
		return 0;
	mask = bpf_cpumask_create();
	if (!mask) {
		res[8] = 1;
		res[0] = 1;
		return 0;
	}
	cpu = bpf_get_smp_processor_id();
	other = (u32)res[5];
	bpf_cpumask_set_cpu(cpu, mask);
	res[2] = cpu;
	res[3] = bpf_cpumask_test_cpu(cpu, (const struct cpumask *)mask);
	res[4] = bpf_cpumask_test_cpu(other, (const struct cpumask *)mask);
	res[6] = bpf_cpumask_first((const struct cpumask *)mask);
	bpf_cpumask_clear_cpu(cpu, mask);
	res[7] = bpf_cpumask_test_cpu(cpu, (const struct cpumask *)mask);
	bpf_cpumask_release(mask);
	res[0] = 1;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
