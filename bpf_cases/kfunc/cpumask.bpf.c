// SPDX-License-Identifier: GPL-2.0
/* bpf_cpumask_create/set_cpu/test_cpu/clear_cpu/first/release from tp_btf/sys_enter. */
#define BPF_NO_KFUNC_PROTOTYPES /* newer bpftool emits kfunc prototypes; use ours */
#include "vmlinux.h"
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include "kmatrix.h"

/* Only pointers to it are used, so this compiles against a vmlinux.h without it. */
struct bpf_cpumask;

extern struct bpf_cpumask *bpf_cpumask_create(void) __ksym;
extern void bpf_cpumask_release(struct bpf_cpumask *cpumask) __ksym;
extern void bpf_cpumask_set_cpu(u32 cpu, struct bpf_cpumask *cpumask) __ksym;
extern void bpf_cpumask_clear_cpu(u32 cpu, struct bpf_cpumask *cpumask) __ksym;
extern bool bpf_cpumask_test_cpu(u32 cpu, const struct cpumask *cpumask) __ksym;
extern u32 bpf_cpumask_first(const struct cpumask *cpumask) __ksym;

__u32 other_cpu;	/* in: a CPU the program does not run on (set by the check) */
bool done;
bool create_null;	/* bpf_cpumask_create returned NULL */
__u32 cpu;		/* the CPU the program ran on, the one it sets */
bool set_hit;		/* test_cpu(cpu) after set_cpu */
bool other_hit;		/* test_cpu(other_cpu) */
__u32 first;		/* bpf_cpumask_first after set_cpu */
bool cleared_hit;	/* test_cpu(cpu) after clear_cpu */

SEC("tp_btf/sys_enter")
int BPF_PROG(on_sys_enter, struct pt_regs *regs, long id)
{
	struct bpf_cpumask *mask;
	u32 me;

	if (!kmx_ours() || done)
		return 0;
	mask = bpf_cpumask_create();
	if (!mask) {
		create_null = true;
		done = true;
		return 0;
	}
	me = bpf_get_smp_processor_id();
	bpf_cpumask_set_cpu(me, mask);
	cpu = me;
	set_hit = bpf_cpumask_test_cpu(me, (const struct cpumask *)mask);
	other_hit = bpf_cpumask_test_cpu(other_cpu, (const struct cpumask *)mask);
	first = bpf_cpumask_first((const struct cpumask *)mask);
	bpf_cpumask_clear_cpu(me, mask);
	cleared_hit = bpf_cpumask_test_cpu(me, (const struct cpumask *)mask);
	bpf_cpumask_release(mask);
	done = true;
	return 0;
}

char LICENSE[] SEC("license") = "GPL";
