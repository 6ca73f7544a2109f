// SPDX-License-Identifier: GPL-2.0
/*
 * kmatrix test module: registers one kfunc for tracing and syscall BPF
 * programs. The kfunc mixes its arguments with the `magic` module parameter, so
 * a BPF caller can only produce the expected value if this module's code ran.
 */
#include <linux/bpf.h>
#include <linux/btf.h>
#include <linux/btf_ids.h>
#include <linux/init.h>
#include <linux/module.h>

static unsigned long magic;
module_param(magic, ulong, 0444);
MODULE_PARM_DESC(magic, "value mixed into kmatrix_kfunc_mix's result");

/* __bpf_kfunc (6.3+) keeps the function out of line and in BTF; older
 * kernels need the attributes spelled out. */
#ifndef __bpf_kfunc
#define __bpf_kfunc __used noinline
#endif

__bpf_kfunc u64 kmatrix_kfunc_mix(u64 a, u64 b);

__bpf_kfunc u64 kmatrix_kfunc_mix(u64 a, u64 b)
{
	return (a * 3 + b) ^ magic;
}

/* 6.9 renamed the kfunc set macros and made the KFUNCS flag mandatory. */
#ifdef BTF_KFUNCS_START
BTF_KFUNCS_START(kmatrix_kfunc_ids)
BTF_ID_FLAGS(func, kmatrix_kfunc_mix)
BTF_KFUNCS_END(kmatrix_kfunc_ids)
#else
BTF_SET8_START(kmatrix_kfunc_ids)
BTF_ID_FLAGS(func, kmatrix_kfunc_mix)
BTF_SET8_END(kmatrix_kfunc_ids)
#endif

static const struct btf_kfunc_id_set kmatrix_kfunc_set = {
	.owner = THIS_MODULE,
	.set = &kmatrix_kfunc_ids,
};

static int __init kmatrix_kfunc_init(void)
{
	int ret;

	ret = register_btf_kfunc_id_set(BPF_PROG_TYPE_TRACING, &kmatrix_kfunc_set);
	if (!ret)
		ret = register_btf_kfunc_id_set(BPF_PROG_TYPE_SYSCALL, &kmatrix_kfunc_set);
	return ret;
}

static void __exit kmatrix_kfunc_exit(void)
{
	/* kfunc sets have no unregister call: module BTF goes away with the module. */
}

module_init(kmatrix_kfunc_init);
module_exit(kmatrix_kfunc_exit);
MODULE_LICENSE("GPL");
MODULE_DESCRIPTION("kmatrix: a kfunc registered by a module");
