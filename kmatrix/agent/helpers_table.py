"""Data for kmatrix_agent.refusals: BPF helper ids, kfunc and uapi names, versions.

Stdlib-only, Python 3.7. Generated once from the sources below and checked in as
data; refusals.py holds the logic. Regenerate by re-reading the same files.

Sources (read with git from public snapshots):
- HELPERS: include/uapi/linux/bpf.h of libbpf/libbpf (commit f7081a6b, 2026-07-30),
  ___BPF_FUNC_MAPPER: "FN(name, id, ##ctx)" in id order, 0..211. The kernel's
  func_id_name() (kernel/bpf/disasm.c) prints "bpf_" + name, "unknown" outside the
  range it was built with. libbpf mirrors the kernel's uapi header verbatim.
- HELPER_SINCE: first Linux release of a helper, only where two independent tables
  agree: iovisor/bcc docs/kernel-versions.md (commit 6d0a964c, "BPF_FUNC_x() |
  version | commit"; its "skc_to_mctcp_sock" row is skc_to_mptcp_sock, 3bc253c2e652)
  and isovalent/ebpf-docs docs/linux/timeline/index.md (commit 18ec5e9, "## vX.Y" /
  "* `bpf_x` [commit] (helpers)"). 16 helpers below id 136 where the two disagree
  have no entry; every helper from id 136 up has one.
- KFUNC_SINCE, UAPI_ENUM_SINCE: ebpf-docs timeline only (each line links the kernel
  commit that added the name); kfuncs listed more than once there are left out.
- UAPI_ENUM_NAMES, UAPI_DEFINES, UAPI_MEMBERS: the same bpf.h. An enum value is in
  the kernel's BTF, hence in a vmlinux.h made from it; a #define never is.
- FEATURES: hand-written; each entry names its source.
"""

# id -> helper name without the "bpf_" prefix (BPF_FUNC_<name> = id).
HELPERS = (
    "unspec",  # 0
    "map_lookup_elem",  # 1
    "map_update_elem",  # 2
    "map_delete_elem",  # 3
    "probe_read",  # 4
    "ktime_get_ns",  # 5
    "trace_printk",  # 6
    "get_prandom_u32",  # 7
    "get_smp_processor_id",  # 8
    "skb_store_bytes",  # 9
    "l3_csum_replace",  # 10
    "l4_csum_replace",  # 11
    "tail_call",  # 12
    "clone_redirect",  # 13
    "get_current_pid_tgid",  # 14
    "get_current_uid_gid",  # 15
    "get_current_comm",  # 16
    "get_cgroup_classid",  # 17
    "skb_vlan_push",  # 18
    "skb_vlan_pop",  # 19
    "skb_get_tunnel_key",  # 20
    "skb_set_tunnel_key",  # 21
    "perf_event_read",  # 22
    "redirect",  # 23
    "get_route_realm",  # 24
    "perf_event_output",  # 25
    "skb_load_bytes",  # 26
    "get_stackid",  # 27
    "csum_diff",  # 28
    "skb_get_tunnel_opt",  # 29
    "skb_set_tunnel_opt",  # 30
    "skb_change_proto",  # 31
    "skb_change_type",  # 32
    "skb_under_cgroup",  # 33
    "get_hash_recalc",  # 34
    "get_current_task",  # 35
    "probe_write_user",  # 36
    "current_task_under_cgroup",  # 37
    "skb_change_tail",  # 38
    "skb_pull_data",  # 39
    "csum_update",  # 40
    "set_hash_invalid",  # 41
    "get_numa_node_id",  # 42
    "skb_change_head",  # 43
    "xdp_adjust_head",  # 44
    "probe_read_str",  # 45
    "get_socket_cookie",  # 46
    "get_socket_uid",  # 47
    "set_hash",  # 48
    "setsockopt",  # 49
    "skb_adjust_room",  # 50
    "redirect_map",  # 51
    "sk_redirect_map",  # 52
    "sock_map_update",  # 53
    "xdp_adjust_meta",  # 54
    "perf_event_read_value",  # 55
    "perf_prog_read_value",  # 56
    "getsockopt",  # 57
    "override_return",  # 58
    "sock_ops_cb_flags_set",  # 59
    "msg_redirect_map",  # 60
    "msg_apply_bytes",  # 61
    "msg_cork_bytes",  # 62
    "msg_pull_data",  # 63
    "bind",  # 64
    "xdp_adjust_tail",  # 65
    "skb_get_xfrm_state",  # 66
    "get_stack",  # 67
    "skb_load_bytes_relative",  # 68
    "fib_lookup",  # 69
    "sock_hash_update",  # 70
    "msg_redirect_hash",  # 71
    "sk_redirect_hash",  # 72
    "lwt_push_encap",  # 73
    "lwt_seg6_store_bytes",  # 74
    "lwt_seg6_adjust_srh",  # 75
    "lwt_seg6_action",  # 76
    "rc_repeat",  # 77
    "rc_keydown",  # 78
    "skb_cgroup_id",  # 79
    "get_current_cgroup_id",  # 80
    "get_local_storage",  # 81
    "sk_select_reuseport",  # 82
    "skb_ancestor_cgroup_id",  # 83
    "sk_lookup_tcp",  # 84
    "sk_lookup_udp",  # 85
    "sk_release",  # 86
    "map_push_elem",  # 87
    "map_pop_elem",  # 88
    "map_peek_elem",  # 89
    "msg_push_data",  # 90
    "msg_pop_data",  # 91
    "rc_pointer_rel",  # 92
    "spin_lock",  # 93
    "spin_unlock",  # 94
    "sk_fullsock",  # 95
    "tcp_sock",  # 96
    "skb_ecn_set_ce",  # 97
    "get_listener_sock",  # 98
    "skc_lookup_tcp",  # 99
    "tcp_check_syncookie",  # 100
    "sysctl_get_name",  # 101
    "sysctl_get_current_value",  # 102
    "sysctl_get_new_value",  # 103
    "sysctl_set_new_value",  # 104
    "strtol",  # 105
    "strtoul",  # 106
    "sk_storage_get",  # 107
    "sk_storage_delete",  # 108
    "send_signal",  # 109
    "tcp_gen_syncookie",  # 110
    "skb_output",  # 111
    "probe_read_user",  # 112
    "probe_read_kernel",  # 113
    "probe_read_user_str",  # 114
    "probe_read_kernel_str",  # 115
    "tcp_send_ack",  # 116
    "send_signal_thread",  # 117
    "jiffies64",  # 118
    "read_branch_records",  # 119
    "get_ns_current_pid_tgid",  # 120
    "xdp_output",  # 121
    "get_netns_cookie",  # 122
    "get_current_ancestor_cgroup_id",  # 123
    "sk_assign",  # 124
    "ktime_get_boot_ns",  # 125
    "seq_printf",  # 126
    "seq_write",  # 127
    "sk_cgroup_id",  # 128
    "sk_ancestor_cgroup_id",  # 129
    "ringbuf_output",  # 130
    "ringbuf_reserve",  # 131
    "ringbuf_submit",  # 132
    "ringbuf_discard",  # 133
    "ringbuf_query",  # 134
    "csum_level",  # 135
    "skc_to_tcp6_sock",  # 136
    "skc_to_tcp_sock",  # 137
    "skc_to_tcp_timewait_sock",  # 138
    "skc_to_tcp_request_sock",  # 139
    "skc_to_udp6_sock",  # 140
    "get_task_stack",  # 141
    "load_hdr_opt",  # 142
    "store_hdr_opt",  # 143
    "reserve_hdr_opt",  # 144
    "inode_storage_get",  # 145
    "inode_storage_delete",  # 146
    "d_path",  # 147
    "copy_from_user",  # 148
    "snprintf_btf",  # 149
    "seq_printf_btf",  # 150
    "skb_cgroup_classid",  # 151
    "redirect_neigh",  # 152
    "per_cpu_ptr",  # 153
    "this_cpu_ptr",  # 154
    "redirect_peer",  # 155
    "task_storage_get",  # 156
    "task_storage_delete",  # 157
    "get_current_task_btf",  # 158
    "bprm_opts_set",  # 159
    "ktime_get_coarse_ns",  # 160
    "ima_inode_hash",  # 161
    "sock_from_file",  # 162
    "check_mtu",  # 163
    "for_each_map_elem",  # 164
    "snprintf",  # 165
    "sys_bpf",  # 166
    "btf_find_by_name_kind",  # 167
    "sys_close",  # 168
    "timer_init",  # 169
    "timer_set_callback",  # 170
    "timer_start",  # 171
    "timer_cancel",  # 172
    "get_func_ip",  # 173
    "get_attach_cookie",  # 174
    "task_pt_regs",  # 175
    "get_branch_snapshot",  # 176
    "trace_vprintk",  # 177
    "skc_to_unix_sock",  # 178
    "kallsyms_lookup_name",  # 179
    "find_vma",  # 180
    "loop",  # 181
    "strncmp",  # 182
    "get_func_arg",  # 183
    "get_func_ret",  # 184
    "get_func_arg_cnt",  # 185
    "get_retval",  # 186
    "set_retval",  # 187
    "xdp_get_buff_len",  # 188
    "xdp_load_bytes",  # 189
    "xdp_store_bytes",  # 190
    "copy_from_user_task",  # 191
    "skb_set_tstamp",  # 192
    "ima_file_hash",  # 193
    "kptr_xchg",  # 194
    "map_lookup_percpu_elem",  # 195
    "skc_to_mptcp_sock",  # 196
    "dynptr_from_mem",  # 197
    "ringbuf_reserve_dynptr",  # 198
    "ringbuf_submit_dynptr",  # 199
    "ringbuf_discard_dynptr",  # 200
    "dynptr_read",  # 201
    "dynptr_write",  # 202
    "dynptr_data",  # 203
    "tcp_raw_gen_syncookie_ipv4",  # 204
    "tcp_raw_gen_syncookie_ipv6",  # 205
    "tcp_raw_check_syncookie_ipv4",  # 206
    "tcp_raw_check_syncookie_ipv6",  # 207
    "ktime_get_tai_ns",  # 208
    "user_ringbuf_drain",  # 209
    "cgrp_storage_get",  # 210
    "cgrp_storage_delete",  # 211
)

# helper id -> first Linux release (bcc and ebpf-docs agree).
HELPER_SINCE = {
    3: "3.19", 4: "4.1", 5: "4.1", 6: "4.1", 8: "4.1", 9: "4.1", 10: "4.1", 11: "4.1",
    12: "4.2", 13: "4.2", 14: "4.2", 15: "4.2", 16: "4.2", 17: "4.3", 18: "4.3", 19: "4.3",
    20: "4.3", 21: "4.3", 22: "4.3", 23: "4.4", 24: "4.4", 25: "4.4", 26: "4.5", 27: "4.6",
    28: "4.6", 29: "4.6", 30: "4.6", 31: "4.8", 32: "4.8", 33: "4.8", 34: "4.8", 35: "4.8",
    36: "4.8", 37: "4.9", 38: "4.9", 39: "4.9", 40: "4.9", 41: "4.9", 42: "4.10", 43: "4.10",
    44: "4.10", 45: "4.11", 46: "4.12", 47: "4.12", 48: "4.13", 49: "4.13", 50: "4.13",
    51: "4.14", 52: "4.14", 53: "4.14", 54: "4.15", 55: "4.15", 56: "4.15", 57: "4.15",
    58: "4.16", 59: "4.16", 60: "4.17", 61: "4.17", 62: "4.17", 63: "4.17", 64: "4.17",
    65: "4.18", 66: "4.18", 67: "4.18", 68: "4.18", 69: "4.18", 70: "4.18", 71: "4.18",
    72: "4.18", 73: "4.18", 74: "4.18", 75: "4.18", 76: "4.18", 77: "4.18", 78: "4.18",
    79: "4.18", 80: "4.18", 81: "4.19", 82: "4.19", 83: "4.19", 84: "4.20", 85: "4.20",
    86: "4.20", 87: "4.20", 88: "4.20", 89: "4.20", 90: "4.20", 91: "5.0", 92: "5.0", 93: "5.1",
    94: "5.1", 95: "5.1", 96: "5.1", 97: "5.1", 98: "5.1", 99: "5.2", 100: "5.2", 101: "5.2",
    102: "5.2", 103: "5.2", 104: "5.2", 105: "5.2", 106: "5.2", 107: "5.2", 108: "5.2",
    109: "5.3", 111: "5.5", 112: "5.5", 113: "5.5", 114: "5.5", 115: "5.5", 120: "5.7",
    122: "5.7", 125: "5.8", 130: "5.8", 131: "5.8", 132: "5.8", 133: "5.8", 134: "5.8",
    136: "5.9", 137: "5.9", 138: "5.9", 139: "5.9", 140: "5.9", 141: "5.9", 142: "5.10",
    143: "5.10", 144: "5.10", 145: "5.10", 146: "5.10", 147: "5.10", 148: "5.10", 149: "5.10",
    150: "5.10", 151: "5.10", 152: "5.10", 153: "5.10", 154: "5.10", 155: "5.10", 156: "5.11",
    157: "5.11", 158: "5.11", 159: "5.11", 160: "5.11", 161: "5.11", 162: "5.11", 163: "5.12",
    164: "5.13", 165: "5.13", 166: "5.14", 167: "5.14", 168: "5.14", 169: "5.15", 170: "5.15",
    171: "5.15", 172: "5.15", 173: "5.15", 174: "5.15", 175: "5.15", 176: "5.16", 177: "5.16",
    178: "5.16", 179: "5.16", 180: "5.17", 181: "5.17", 182: "5.17", 183: "5.17", 184: "5.17",
    185: "5.17", 186: "5.18", 187: "5.18", 188: "5.18", 189: "5.18", 190: "5.18", 191: "5.18",
    192: "5.18", 193: "5.18", 194: "5.19", 195: "5.19", 196: "5.19", 197: "5.19", 198: "5.19",
    199: "5.19", 200: "5.19", 201: "5.19", 202: "5.19", 203: "5.19", 204: "6.0", 205: "6.0",
    206: "6.0", 207: "6.0", 208: "6.1", 209: "6.1", 210: "6.2", 211: "6.2",
}

# kfunc name -> first Linux release (ebpf-docs timeline).
KFUNC_SINCE = {
    "bbr_cwnd_event": "5.13",
    "bbr_init": "5.13",
    "bbr_main": "5.13",
    "bbr_min_tso_segs": "5.13",
    "bbr_set_state": "5.13",
    "bbr_sndbuf_expand": "5.13",
    "bbr_ssthresh": "5.13",
    "bbr_undo_cwnd": "5.13",
    "cubictcp_acked": "5.13",
    "cubictcp_cong_avoid": "5.13",
    "cubictcp_cwnd_event": "5.13",
    "cubictcp_init": "5.13",
    "cubictcp_recalc_ssthresh": "5.13",
    "cubictcp_state": "5.13",
    "dctcp_cwnd_event": "5.13",
    "dctcp_cwnd_undo": "5.13",
    "dctcp_init": "5.13",
    "dctcp_ssthresh": "5.13",
    "dctcp_state": "5.13",
    "dctcp_update_alpha": "5.13",
    "tcp_cong_avoid_ai": "5.13",
    "tcp_reno_cong_avoid": "5.13",
    "tcp_reno_ssthresh": "5.13",
    "tcp_reno_undo_cwnd": "5.13",
    "tcp_slow_start": "5.13",
    "bpf_ct_release": "5.18",
    "bpf_skb_ct_lookup": "5.18",
    "bpf_xdp_ct_lookup": "5.18",
    "bpf_dynptr_is_rdonly": "5.19",
    "bpf_ct_change_status": "6.0",
    "bpf_ct_change_timeout": "6.0",
    "bpf_ct_insert_entry": "6.0",
    "bpf_ct_set_status": "6.0",
    "bpf_ct_set_timeout": "6.0",
    "bpf_skb_ct_alloc": "6.0",
    "bpf_xdp_ct_alloc": "6.0",
    "bpf_ct_set_nat_info": "6.1",
    "bpf_key_put": "6.1",
    "bpf_lookup_system_key": "6.1",
    "bpf_lookup_user_key": "6.1",
    "bpf_verify_pkcs7_signature": "6.1",
    "cgroup_rstat_flush": "6.1",
    "cgroup_rstat_updated": "6.1",
    "crash_kexec": "6.1",
    "bpf_cast_to_kern_ctx": "6.2",
    "bpf_cgroup_acquire": "6.2",
    "bpf_cgroup_ancestor": "6.2",
    "bpf_cgroup_release": "6.2",
    "bpf_list_pop_back": "6.2",
    "bpf_list_pop_front": "6.2",
    "bpf_obj_drop_impl": "6.2",
    "bpf_obj_new_impl": "6.2",
    "bpf_rcu_read_lock": "6.2",
    "bpf_rcu_read_unlock": "6.2",
    "bpf_rdonly_cast": "6.2",
    "bpf_skb_get_xfrm_info": "6.2",
    "bpf_skb_set_xfrm_info": "6.2",
    "bpf_task_acquire": "6.2",
    "bpf_task_from_pid": "6.2",
    "bpf_task_release": "6.2",
    "bpf_cpumask_acquire": "6.3",
    "bpf_cpumask_and": "6.3",
    "bpf_cpumask_clear": "6.3",
    "bpf_cpumask_clear_cpu": "6.3",
    "bpf_cpumask_copy": "6.3",
    "bpf_cpumask_create": "6.3",
    "bpf_cpumask_empty": "6.3",
    "bpf_cpumask_equal": "6.3",
    "bpf_cpumask_first": "6.3",
    "bpf_cpumask_first_zero": "6.3",
    "bpf_cpumask_full": "6.3",
    "bpf_cpumask_intersects": "6.3",
    "bpf_cpumask_or": "6.3",
    "bpf_cpumask_release": "6.3",
    "bpf_cpumask_set_cpu": "6.3",
    "bpf_cpumask_setall": "6.3",
    "bpf_cpumask_subset": "6.3",
    "bpf_cpumask_test_and_clear_cpu": "6.3",
    "bpf_cpumask_test_and_set_cpu": "6.3",
    "bpf_cpumask_test_cpu": "6.3",
    "bpf_cpumask_xor": "6.3",
    "bpf_rbtree_first": "6.3",
    "bpf_rbtree_remove": "6.3",
    "bpf_xdp_metadata_rx_hash": "6.3",
    "bpf_xdp_metadata_rx_timestamp": "6.3",
    "hid_bpf_allocate_context": "6.3",
    "hid_bpf_attach_prog": "6.3",
    "hid_bpf_get_data": "6.3",
    "hid_bpf_hw_request": "6.3",
    "hid_bpf_release_context": "6.3",
    "bpf_cgroup_from_id": "6.4",
    "bpf_dynptr_from_skb": "6.4",
    "bpf_dynptr_from_xdp": "6.4",
    "bpf_dynptr_slice": "6.4",
    "bpf_dynptr_slice_rdwr": "6.4",
    "bpf_iter_num_destroy": "6.4",
    "bpf_iter_num_new": "6.4",
    "bpf_iter_num_next": "6.4",
    "bpf_list_push_back_impl": "6.4",
    "bpf_list_push_front_impl": "6.4",
    "bpf_rbtree_add_impl": "6.4",
    "bpf_refcount_acquire_impl": "6.4",
    "bpf_skb_get_fou_encap": "6.4",
    "bpf_skb_set_fou_encap": "6.4",
    "bpf_cpumask_any_and_distribute": "6.5",
    "bpf_cpumask_any_distribute": "6.5",
    "bpf_cpumask_first_and": "6.5",
    "bpf_dynptr_adjust": "6.5",
    "bpf_dynptr_clone": "6.5",
    "bpf_dynptr_is_null": "6.5",
    "bpf_dynptr_size": "6.5",
    "bpf_sock_destroy": "6.5",
    "bpf_task_under_cgroup": "6.5",
    "bpf_map_sum_elem_count": "6.6",
    "bpf_iter_css_destroy": "6.7",
    "bpf_iter_css_new": "6.7",
    "bpf_iter_css_next": "6.7",
    "bpf_iter_css_task_destroy": "6.7",
    "bpf_iter_css_task_new": "6.7",
    "bpf_iter_css_task_next": "6.7",
    "bpf_iter_task_destroy": "6.7",
    "bpf_iter_task_new": "6.7",
    "bpf_iter_task_next": "6.7",
    "bpf_iter_task_vma_destroy": "6.7",
    "bpf_iter_task_vma_new": "6.7",
    "bpf_iter_task_vma_next": "6.7",
    "bpf_percpu_obj_drop_impl": "6.7",
    "bpf_percpu_obj_new_impl": "6.7",
    "bpf_sock_addr_set_sun_path": "6.7",
    "bpf_throw": "6.7",
    "bpf_cpumask_weight": "6.8",
    "bpf_get_file_xattr": "6.8",
    "bpf_get_fsverity_digest": "6.8",
    "bpf_task_get_cgroup1": "6.8",
    "bpf_xdp_get_xfrm_state": "6.8",
    "bpf_xdp_metadata_rx_vlan_tag": "6.8",
    "bpf_xdp_xfrm_state_release": "6.8",
    "bpf_arena_alloc_pages": "6.9",
    "bpf_arena_free_pages": "6.9",
    "bpf_crypto_ctx_acquire": "6.10",
    "bpf_crypto_ctx_create": "6.10",
    "bpf_crypto_ctx_release": "6.10",
    "bpf_crypto_decrypt": "6.10",
    "bpf_crypto_encrypt": "6.10",
    "bpf_preempt_disable": "6.10",
    "bpf_preempt_enable": "6.10",
    "bpf_session_cookie": "6.10",
    "bpf_session_is_return": "6.10",
    "bpf_wq_init": "6.10",
    "bpf_wq_set_callback_impl": "6.10",
    "bpf_wq_start": "6.10",
    "hid_bpf_hw_output_report": "6.10",
    "hid_bpf_input_report": "6.10",
    "bpf_iter_bits_destroy": "6.11",
    "bpf_iter_bits_new": "6.11",
    "bpf_iter_bits_next": "6.11",
    "bpf_sk_assign_tcp_reqsk": "6.11",
    "bpf_xdp_flow_lookup": "6.11",
    "hid_bpf_try_input_report": "6.11",
    "bpf_copy_from_user_str": "6.12",
    "bpf_get_dentry_xattr": "6.12",
    "bpf_get_task_exe_file": "6.12",
    "bpf_iter_scx_dsq_destroy": "6.12",
    "bpf_iter_scx_dsq_new": "6.12",
    "bpf_iter_scx_dsq_next": "6.12",
    "bpf_path_d_path": "6.12",
    "bpf_put_file": "6.12",
    "scx_bpf_consume": "6.12",
    "scx_bpf_cpu_rq": "6.12",
    "scx_bpf_cpuperf_cap": "6.12",
    "scx_bpf_cpuperf_cur": "6.12",
    "scx_bpf_cpuperf_set": "6.12",
    "scx_bpf_create_dsq": "6.12",
    "scx_bpf_destroy_dsq": "6.12",
    "scx_bpf_dispatch": "6.12",
    "scx_bpf_dispatch_cancel": "6.12",
    "scx_bpf_dispatch_nr_slots": "6.12",
    "scx_bpf_dispatch_vtime": "6.12",
    "scx_bpf_dsq_nr_queued": "6.12",
    "scx_bpf_dump_bstr": "6.12",
    "scx_bpf_error_bstr": "6.12",
    "scx_bpf_exit_bstr": "6.12",
    "scx_bpf_get_idle_cpumask": "6.12",
    "scx_bpf_get_idle_smtmask": "6.12",
    "scx_bpf_get_online_cpumask": "6.12",
    "scx_bpf_get_possible_cpumask": "6.12",
    "scx_bpf_kick_cpu": "6.12",
    "scx_bpf_nr_cpu_ids": "6.12",
    "scx_bpf_pick_any_cpu": "6.12",
    "scx_bpf_pick_idle_cpu": "6.12",
    "scx_bpf_put_cpumask": "6.12",
    "scx_bpf_put_idle_cpumask": "6.12",
    "scx_bpf_reenqueue_local": "6.12",
    "scx_bpf_select_cpu_dfl": "6.12",
    "scx_bpf_task_cgroup": "6.12",
    "scx_bpf_task_cpu": "6.12",
    "scx_bpf_task_running": "6.12",
    "scx_bpf_test_and_clear_cpu_idle": "6.12",
    "bpf_get_kmem_cache": "6.13",
    "bpf_iter_kmem_cache_destroy": "6.13",
    "bpf_iter_kmem_cache_new": "6.13",
    "bpf_iter_kmem_cache_next": "6.13",
    "bpf_send_signal_task": "6.13",
    "bpf_task_from_vpid": "6.13",
    "scx_bpf_dsq_insert": "6.13",
    "scx_bpf_dsq_insert_vtime": "6.13",
    "scx_bpf_dsq_move_to_local": "6.13",
    "bpf_local_irq_restore": "6.14",
    "bpf_local_irq_save": "6.14",
    "scx_bpf_now": "6.14",
    "bpf_copy_from_user_task_str": "6.15",
    "bpf_cpumask_populate": "6.15",
    "bpf_dynptr_copy": "6.15",
    "bpf_remove_dentry_xattr": "6.15",
    "bpf_res_spin_lock": "6.15",
    "bpf_res_spin_lock_irqsave": "6.15",
    "bpf_res_spin_unlock": "6.15",
    "bpf_res_spin_unlock_irqrestore": "6.15",
    "bpf_set_dentry_xattr": "6.15",
    "bpf_sock_ops_enable_tx_tstamp": "6.15",
    "scx_bpf_cpu_node": "6.15",
    "scx_bpf_events": "6.15",
    "scx_bpf_get_idle_cpumask_node": "6.15",
    "scx_bpf_get_idle_smtmask_node": "6.15",
    "scx_bpf_nr_node_ids": "6.15",
    "scx_bpf_pick_any_cpu_node": "6.15",
    "scx_bpf_pick_idle_cpu_node": "6.15",
    "__bpf_trap": "6.16",
    "bpf_copy_from_user_dynptr": "6.16",
    "bpf_copy_from_user_str_dynptr": "6.16",
    "bpf_copy_from_user_task_dynptr": "6.16",
    "bpf_copy_from_user_task_str_dynptr": "6.16",
    "bpf_iter_dmabuf_destroy": "6.16",
    "bpf_iter_dmabuf_new": "6.16",
    "bpf_iter_dmabuf_next": "6.16",
    "bpf_kfree_skb": "6.16",
    "bpf_list_back": "6.16",
    "bpf_list_front": "6.16",
    "bpf_probe_read_kernel_dynptr": "6.16",
    "bpf_probe_read_kernel_str_dynptr": "6.16",
    "bpf_probe_read_user_dynptr": "6.16",
    "bpf_probe_read_user_str_dynptr": "6.16",
    "bpf_qdisc_bstats_update": "6.16",
    "bpf_qdisc_init_prologue": "6.16",
    "bpf_qdisc_reset_destroy_epilogue": "6.16",
    "bpf_qdisc_skb_drop": "6.16",
    "bpf_qdisc_watchdog_schedule": "6.16",
    "bpf_rbtree_left": "6.16",
    "bpf_rbtree_right": "6.16",
    "bpf_rbtree_root": "6.16",
    "bpf_skb_get_hash": "6.16",
    "css_rstat_flush": "6.16",
    "css_rstat_updated": "6.16",
    "scx_bpf_select_cpu_and": "6.16",
    "bpf_arena_reserve_pages": "6.17",
    "bpf_dynptr_memset": "6.17",
    "bpf_strchr": "6.17",
    "bpf_strchrnul": "6.17",
    "bpf_strcmp": "6.17",
    "bpf_strcspn": "6.17",
    "bpf_stream_vprintk_impl": "6.17",
    "bpf_strnchr": "6.17",
    "bpf_strnstr": "6.17",
    "bpf_strrchr": "6.17",
    "bpf_strspn": "6.17",
    "bpf_strstr": "6.17",
    "bpf_dynptr_from_skb_meta": "6.18",
    "bpf_strcasecmp": "6.18",
    "bpf_task_work_schedule_resume_impl": "6.18",
    "bpf_task_work_schedule_signal_impl": "6.18",
    "bpf_xdp_pull_data": "6.18",
    "scx_bpf_cpu_curr": "6.18",
    "scx_bpf_locked_rq": "6.18",
    "__scx_bpf_dsq_insert_vtime": "6.19",
    "__scx_bpf_select_cpu_and": "6.19",
    "bpf_dynptr_file_discard": "6.19",
    "bpf_dynptr_from_file": "6.19",
    "bpf_strcasestr": "6.19",
    "bpf_strncasestr": "6.19",
    "scx_bpf_dsq_insert___v2": "6.19",
    "scx_bpf_dsq_peek": "6.19",
    "scx_bpf_reenqueue_local___v2": "6.19",
    "scx_bpf_task_set_dsq_vtime": "6.19",
    "scx_bpf_task_set_slice": "6.19",
    "bpf_stream_print_stack": "7.0",
    "bpf_stream_vprintk": "7.0",
    "bpf_strncasecmp": "7.0",
    "bpf_task_work_schedule_resume": "7.0",
    "bpf_task_work_schedule_signal": "7.0",
    "bpf_timer_cancel_async": "7.0",
    "bpf_wq_set_callback": "7.0",
    "bbr_cwnd_event_tx_start": "7.1",
    "cubictcp_cwnd_event_tx_start": "7.1",
    "dctcp_cwnd_event_tx_start": "7.1",
}

# map/program/attach/link type enum value -> first Linux release (ebpf-docs timeline).
UAPI_ENUM_SINCE = {
    "BPF_MAP_TYPE_ARRAY": "3.19",
    "BPF_MAP_TYPE_HASH": "3.19",
    "BPF_PROG_TYPE_SOCKET_FILTER": "3.19",
    "BPF_PROG_TYPE_KPROBE": "4.1",
    "BPF_PROG_TYPE_SCHED_ACT": "4.1",
    "BPF_PROG_TYPE_SCHED_CLS": "4.1",
    "BPF_MAP_TYPE_PROG_ARRAY": "4.2",
    "BPF_MAP_TYPE_PERF_EVENT_ARRAY": "4.3",
    "BPF_MAP_TYPE_PERCPU_ARRAY": "4.6",
    "BPF_MAP_TYPE_PERCPU_HASH": "4.6",
    "BPF_MAP_TYPE_STACK_TRACE": "4.6",
    "BPF_PROG_TYPE_TRACEPOINT": "4.7",
    "BPF_MAP_TYPE_CGROUP_ARRAY": "4.8",
    "BPF_PROG_TYPE_XDP": "4.8",
    "BPF_PROG_TYPE_PERF_EVENT": "4.9",
    "BPF_CGROUP_INET_EGRESS": "4.10",
    "BPF_CGROUP_INET_INGRESS": "4.10",
    "BPF_CGROUP_INET_SOCK_CREATE": "4.10",
    "BPF_MAP_TYPE_LRU_HASH": "4.10",
    "BPF_MAP_TYPE_LRU_PERCPU_HASH": "4.10",
    "BPF_PROG_TYPE_CGROUP_SKB": "4.10",
    "BPF_PROG_TYPE_CGROUP_SOCK": "4.10",
    "BPF_PROG_TYPE_LWT_IN": "4.10",
    "BPF_PROG_TYPE_LWT_OUT": "4.10",
    "BPF_PROG_TYPE_LWT_XMIT": "4.10",
    "BPF_MAP_TYPE_LPM_TRIE": "4.11",
    "BPF_MAP_TYPE_ARRAY_OF_MAPS": "4.12",
    "BPF_MAP_TYPE_HASH_OF_MAPS": "4.12",
    "BPF_CGROUP_SOCK_OPS": "4.13",
    "BPF_PROG_TYPE_SOCK_OPS": "4.13",
    "BPF_MAP_TYPE_DEVMAP": "4.14",
    "BPF_MAP_TYPE_SOCKMAP": "4.14",
    "BPF_PROG_TYPE_SK_SKB": "4.14",
    "BPF_SK_SKB_STREAM_PARSER": "4.14",
    "BPF_SK_SKB_STREAM_VERDICT": "4.14",
    "BPF_CGROUP_DEVICE": "4.15",
    "BPF_MAP_TYPE_CPUMAP": "4.15",
    "BPF_PROG_TYPE_CGROUP_DEVICE": "4.15",
    "BPF_CGROUP_INET4_BIND": "4.17",
    "BPF_CGROUP_INET4_CONNECT": "4.17",
    "BPF_CGROUP_INET4_POST_BIND": "4.17",
    "BPF_CGROUP_INET6_BIND": "4.17",
    "BPF_CGROUP_INET6_CONNECT": "4.17",
    "BPF_CGROUP_INET6_POST_BIND": "4.17",
    "BPF_PROG_TYPE_CGROUP_SOCK_ADDR": "4.17",
    "BPF_PROG_TYPE_RAW_TRACEPOINT": "4.17",
    "BPF_PROG_TYPE_SK_MSG": "4.17",
    "BPF_SK_MSG_VERDICT": "4.17",
    "BPF_CGROUP_UDP4_SENDMSG": "4.18",
    "BPF_CGROUP_UDP6_SENDMSG": "4.18",
    "BPF_LIRC_MODE2": "4.18",
    "BPF_MAP_TYPE_SOCKHASH": "4.18",
    "BPF_MAP_TYPE_XSKMAP": "4.18",
    "BPF_PROG_TYPE_LIRC_MODE2": "4.18",
    "BPF_PROG_TYPE_LWT_SEG6LOCAL": "4.18",
    "BPF_MAP_TYPE_CGROUP_STORAGE": "4.19",
    "BPF_MAP_TYPE_REUSEPORT_SOCKARRAY": "4.19",
    "BPF_PROG_TYPE_SK_REUSEPORT": "4.19",
    "BPF_FLOW_DISSECTOR": "4.20",
    "BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE": "4.20",
    "BPF_MAP_TYPE_QUEUE": "4.20",
    "BPF_MAP_TYPE_STACK": "4.20",
    "BPF_PROG_TYPE_FLOW_DISSECTOR": "4.20",
    "BPF_CGROUP_SYSCTL": "5.2",
    "BPF_CGROUP_UDP4_RECVMSG": "5.2",
    "BPF_CGROUP_UDP6_RECVMSG": "5.2",
    "BPF_MAP_TYPE_SK_STORAGE": "5.2",
    "BPF_PROG_TYPE_CGROUP_SYSCTL": "5.2",
    "BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE": "5.2",
    "BPF_CGROUP_GETSOCKOPT": "5.3",
    "BPF_CGROUP_SETSOCKOPT": "5.3",
    "BPF_PROG_TYPE_CGROUP_SOCKOPT": "5.3",
    "BPF_MAP_TYPE_DEVMAP_HASH": "5.4",
    "BPF_PROG_TYPE_TRACING": "5.5",
    "BPF_TRACE_FENTRY": "5.5",
    "BPF_TRACE_FEXIT": "5.5",
    "BPF_TRACE_RAW_TP": "5.5",
    "BPF_MAP_TYPE_STRUCT_OPS": "5.6",
    "BPF_PROG_TYPE_EXT": "5.6",
    "BPF_PROG_TYPE_STRUCT_OPS": "5.6",
    "BPF_LSM_MAC": "5.7",
    "BPF_MODIFY_RETURN": "5.7",
    "BPF_PROG_TYPE_LSM": "5.7",
    "BPF_CGROUP_INET4_GETPEERNAME": "5.8",
    "BPF_CGROUP_INET4_GETSOCKNAME": "5.8",
    "BPF_CGROUP_INET6_GETPEERNAME": "5.8",
    "BPF_CGROUP_INET6_GETSOCKNAME": "5.8",
    "BPF_LINK_TYPE_CGROUP": "5.8",
    "BPF_LINK_TYPE_ITER": "5.8",
    "BPF_LINK_TYPE_NETNS": "5.8",
    "BPF_LINK_TYPE_RAW_TRACEPOINT": "5.8",
    "BPF_LINK_TYPE_TRACING": "5.8",
    "BPF_MAP_TYPE_RINGBUF": "5.8",
    "BPF_TRACE_ITER": "5.8",
    "BPF_XDP_DEVMAP": "5.8",
    "BPF_CGROUP_INET_SOCK_RELEASE": "5.9",
    "BPF_LINK_TYPE_XDP": "5.9",
    "BPF_PROG_TYPE_SK_LOOKUP": "5.9",
    "BPF_SK_LOOKUP": "5.9",
    "BPF_XDP": "5.9",
    "BPF_XDP_CPUMAP": "5.9",
    "BPF_MAP_TYPE_INODE_STORAGE": "5.10",
    "BPF_MAP_TYPE_TASK_STORAGE": "5.11",
    "BPF_SK_SKB_VERDICT": "5.13",
    "BPF_PROG_TYPE_SYSCALL": "5.14",
    "BPF_SK_REUSEPORT_SELECT": "5.14",
    "BPF_SK_REUSEPORT_SELECT_OR_MIGRATE": "5.14",
    "BPF_LINK_TYPE_PERF_EVENT": "5.15",
    "BPF_PERF_EVENT": "5.15",
    "BPF_MAP_TYPE_BLOOM_FILTER": "5.16",
    "BPF_LINK_TYPE_KPROBE_MULTI": "5.18",
    "BPF_TRACE_KPROBE_MULTI": "5.18",
    "BPF_LSM_CGROUP": "6.0",
    "BPF_MAP_TYPE_USER_RINGBUF": "6.1",
    "BPF_MAP_TYPE_CGRP_STORAGE": "6.2",
    "BPF_PROG_TYPE_NETFILTER": "6.4",
    "BPF_TCX_EGRESS": "6.6",
    "BPF_TCX_INGRESS": "6.6",
    "BPF_NETKIT_PEER": "6.7",
    "BPF_NETKIT_PRIMARY": "6.7",
    "BPF_MAP_TYPE_ARENA": "6.9",
    "BPF_TRACE_KPROBE_SESSION": "6.10",
    "BPF_MAP_TYPE_INSN_ARRAY": "6.19",
}

# Every enum value of the newest uapi bpf.h (BPF_FUNC_<helper> included).
UAPI_ENUM_NAMES = frozenset("""
BPF_ADDR_SPACE_CAST BPF_ADJ_ROOM_ENCAP_L2_MASK BPF_ADJ_ROOM_ENCAP_L2_SHIFT BPF_ADJ_ROOM_MAC
BPF_ADJ_ROOM_NET BPF_ANY BPF_BTF_GET_FD_BY_ID BPF_BTF_GET_NEXT_ID BPF_BTF_LOAD
BPF_CGROUP_DEVICE BPF_CGROUP_GETSOCKOPT BPF_CGROUP_INET4_BIND BPF_CGROUP_INET4_CONNECT
BPF_CGROUP_INET4_GETPEERNAME BPF_CGROUP_INET4_GETSOCKNAME BPF_CGROUP_INET4_POST_BIND
BPF_CGROUP_INET6_BIND BPF_CGROUP_INET6_CONNECT BPF_CGROUP_INET6_GETPEERNAME
BPF_CGROUP_INET6_GETSOCKNAME BPF_CGROUP_INET6_POST_BIND BPF_CGROUP_INET_EGRESS
BPF_CGROUP_INET_INGRESS BPF_CGROUP_INET_SOCK_CREATE BPF_CGROUP_INET_SOCK_RELEASE
BPF_CGROUP_ITER_ANCESTORS_UP BPF_CGROUP_ITER_CHILDREN BPF_CGROUP_ITER_DESCENDANTS_POST
BPF_CGROUP_ITER_DESCENDANTS_PRE BPF_CGROUP_ITER_ORDER_UNSPEC BPF_CGROUP_ITER_SELF_ONLY
BPF_CGROUP_SETSOCKOPT BPF_CGROUP_SOCK_OPS BPF_CGROUP_SYSCTL BPF_CGROUP_UDP4_RECVMSG
BPF_CGROUP_UDP4_SENDMSG BPF_CGROUP_UDP6_RECVMSG BPF_CGROUP_UDP6_SENDMSG
BPF_CGROUP_UNIX_CONNECT BPF_CGROUP_UNIX_GETPEERNAME BPF_CGROUP_UNIX_GETSOCKNAME
BPF_CGROUP_UNIX_RECVMSG BPF_CGROUP_UNIX_SENDMSG BPF_COMMON_ATTRS BPF_CORE_ENUMVAL_EXISTS
BPF_CORE_ENUMVAL_VALUE BPF_CORE_FIELD_BYTE_OFFSET BPF_CORE_FIELD_BYTE_SIZE
BPF_CORE_FIELD_EXISTS BPF_CORE_FIELD_LSHIFT_U64 BPF_CORE_FIELD_RSHIFT_U64
BPF_CORE_FIELD_SIGNED BPF_CORE_TYPE_EXISTS BPF_CORE_TYPE_ID_LOCAL BPF_CORE_TYPE_ID_TARGET
BPF_CORE_TYPE_MATCHES BPF_CORE_TYPE_SIZE BPF_CSUM_LEVEL_DEC BPF_CSUM_LEVEL_INC
BPF_CSUM_LEVEL_QUERY BPF_CSUM_LEVEL_RESET BPF_DEVCG_ACC_MKNOD BPF_DEVCG_ACC_READ
BPF_DEVCG_ACC_WRITE BPF_DEVCG_DEV_BLOCK BPF_DEVCG_DEV_CHAR BPF_DROP BPF_ENABLE_STATS
BPF_EXIST BPF_FD_TYPE_KPROBE BPF_FD_TYPE_KRETPROBE BPF_FD_TYPE_RAW_TRACEPOINT
BPF_FD_TYPE_TRACEPOINT BPF_FD_TYPE_UPROBE BPF_FD_TYPE_URETPROBE BPF_FIB_LKUP_RET_BLACKHOLE
BPF_FIB_LKUP_RET_FRAG_NEEDED BPF_FIB_LKUP_RET_FWD_DISABLED BPF_FIB_LKUP_RET_NOT_FWDED
BPF_FIB_LKUP_RET_NO_NEIGH BPF_FIB_LKUP_RET_NO_SRC_ADDR BPF_FIB_LKUP_RET_PROHIBIT
BPF_FIB_LKUP_RET_SUCCESS BPF_FIB_LKUP_RET_UNREACHABLE BPF_FIB_LKUP_RET_UNSUPP_LWT
BPF_FIB_LOOKUP_DIRECT BPF_FIB_LOOKUP_MARK BPF_FIB_LOOKUP_OUTPUT BPF_FIB_LOOKUP_SKIP_NEIGH
BPF_FIB_LOOKUP_SRC BPF_FIB_LOOKUP_TBID BPF_FLOW_DISSECTOR BPF_FLOW_DISSECTOR_CONTINUE
BPF_FLOW_DISSECTOR_F_PARSE_1ST_FRAG BPF_FLOW_DISSECTOR_F_STOP_AT_ENCAP
BPF_FLOW_DISSECTOR_F_STOP_AT_FLOW_LABEL BPF_FUNC_bind BPF_FUNC_bprm_opts_set
BPF_FUNC_btf_find_by_name_kind BPF_FUNC_cgrp_storage_delete BPF_FUNC_cgrp_storage_get
BPF_FUNC_check_mtu BPF_FUNC_clone_redirect BPF_FUNC_copy_from_user
BPF_FUNC_copy_from_user_task BPF_FUNC_csum_diff BPF_FUNC_csum_level BPF_FUNC_csum_update
BPF_FUNC_current_task_under_cgroup BPF_FUNC_d_path BPF_FUNC_dynptr_data
BPF_FUNC_dynptr_from_mem BPF_FUNC_dynptr_read BPF_FUNC_dynptr_write BPF_FUNC_fib_lookup
BPF_FUNC_find_vma BPF_FUNC_for_each_map_elem BPF_FUNC_get_attach_cookie
BPF_FUNC_get_branch_snapshot BPF_FUNC_get_cgroup_classid
BPF_FUNC_get_current_ancestor_cgroup_id BPF_FUNC_get_current_cgroup_id
BPF_FUNC_get_current_comm BPF_FUNC_get_current_pid_tgid BPF_FUNC_get_current_task
BPF_FUNC_get_current_task_btf BPF_FUNC_get_current_uid_gid BPF_FUNC_get_func_arg
BPF_FUNC_get_func_arg_cnt BPF_FUNC_get_func_ip BPF_FUNC_get_func_ret
BPF_FUNC_get_hash_recalc BPF_FUNC_get_listener_sock BPF_FUNC_get_local_storage
BPF_FUNC_get_netns_cookie BPF_FUNC_get_ns_current_pid_tgid BPF_FUNC_get_numa_node_id
BPF_FUNC_get_prandom_u32 BPF_FUNC_get_retval BPF_FUNC_get_route_realm
BPF_FUNC_get_smp_processor_id BPF_FUNC_get_socket_cookie BPF_FUNC_get_socket_uid
BPF_FUNC_get_stack BPF_FUNC_get_stackid BPF_FUNC_get_task_stack BPF_FUNC_getsockopt
BPF_FUNC_ima_file_hash BPF_FUNC_ima_inode_hash BPF_FUNC_inode_storage_delete
BPF_FUNC_inode_storage_get BPF_FUNC_jiffies64 BPF_FUNC_kallsyms_lookup_name
BPF_FUNC_kptr_xchg BPF_FUNC_ktime_get_boot_ns BPF_FUNC_ktime_get_coarse_ns
BPF_FUNC_ktime_get_ns BPF_FUNC_ktime_get_tai_ns BPF_FUNC_l3_csum_replace
BPF_FUNC_l4_csum_replace BPF_FUNC_load_hdr_opt BPF_FUNC_loop BPF_FUNC_lwt_push_encap
BPF_FUNC_lwt_seg6_action BPF_FUNC_lwt_seg6_adjust_srh BPF_FUNC_lwt_seg6_store_bytes
BPF_FUNC_map_delete_elem BPF_FUNC_map_lookup_elem BPF_FUNC_map_lookup_percpu_elem
BPF_FUNC_map_peek_elem BPF_FUNC_map_pop_elem BPF_FUNC_map_push_elem BPF_FUNC_map_update_elem
BPF_FUNC_msg_apply_bytes BPF_FUNC_msg_cork_bytes BPF_FUNC_msg_pop_data
BPF_FUNC_msg_pull_data BPF_FUNC_msg_push_data BPF_FUNC_msg_redirect_hash
BPF_FUNC_msg_redirect_map BPF_FUNC_override_return BPF_FUNC_per_cpu_ptr
BPF_FUNC_perf_event_output BPF_FUNC_perf_event_read BPF_FUNC_perf_event_read_value
BPF_FUNC_perf_prog_read_value BPF_FUNC_probe_read BPF_FUNC_probe_read_kernel
BPF_FUNC_probe_read_kernel_str BPF_FUNC_probe_read_str BPF_FUNC_probe_read_user
BPF_FUNC_probe_read_user_str BPF_FUNC_probe_write_user BPF_FUNC_rc_keydown
BPF_FUNC_rc_pointer_rel BPF_FUNC_rc_repeat BPF_FUNC_read_branch_records BPF_FUNC_redirect
BPF_FUNC_redirect_map BPF_FUNC_redirect_neigh BPF_FUNC_redirect_peer
BPF_FUNC_reserve_hdr_opt BPF_FUNC_ringbuf_discard BPF_FUNC_ringbuf_discard_dynptr
BPF_FUNC_ringbuf_output BPF_FUNC_ringbuf_query BPF_FUNC_ringbuf_reserve
BPF_FUNC_ringbuf_reserve_dynptr BPF_FUNC_ringbuf_submit BPF_FUNC_ringbuf_submit_dynptr
BPF_FUNC_send_signal BPF_FUNC_send_signal_thread BPF_FUNC_seq_printf BPF_FUNC_seq_printf_btf
BPF_FUNC_seq_write BPF_FUNC_set_hash BPF_FUNC_set_hash_invalid BPF_FUNC_set_retval
BPF_FUNC_setsockopt BPF_FUNC_sk_ancestor_cgroup_id BPF_FUNC_sk_assign BPF_FUNC_sk_cgroup_id
BPF_FUNC_sk_fullsock BPF_FUNC_sk_lookup_tcp BPF_FUNC_sk_lookup_udp BPF_FUNC_sk_redirect_hash
BPF_FUNC_sk_redirect_map BPF_FUNC_sk_release BPF_FUNC_sk_select_reuseport
BPF_FUNC_sk_storage_delete BPF_FUNC_sk_storage_get BPF_FUNC_skb_adjust_room
BPF_FUNC_skb_ancestor_cgroup_id BPF_FUNC_skb_cgroup_classid BPF_FUNC_skb_cgroup_id
BPF_FUNC_skb_change_head BPF_FUNC_skb_change_proto BPF_FUNC_skb_change_tail
BPF_FUNC_skb_change_type BPF_FUNC_skb_ecn_set_ce BPF_FUNC_skb_get_tunnel_key
BPF_FUNC_skb_get_tunnel_opt BPF_FUNC_skb_get_xfrm_state BPF_FUNC_skb_load_bytes
BPF_FUNC_skb_load_bytes_relative BPF_FUNC_skb_output BPF_FUNC_skb_pull_data
BPF_FUNC_skb_set_tstamp BPF_FUNC_skb_set_tunnel_key BPF_FUNC_skb_set_tunnel_opt
BPF_FUNC_skb_store_bytes BPF_FUNC_skb_under_cgroup BPF_FUNC_skb_vlan_pop
BPF_FUNC_skb_vlan_push BPF_FUNC_skc_lookup_tcp BPF_FUNC_skc_to_mptcp_sock
BPF_FUNC_skc_to_tcp6_sock BPF_FUNC_skc_to_tcp_request_sock BPF_FUNC_skc_to_tcp_sock
BPF_FUNC_skc_to_tcp_timewait_sock BPF_FUNC_skc_to_udp6_sock BPF_FUNC_skc_to_unix_sock
BPF_FUNC_snprintf BPF_FUNC_snprintf_btf BPF_FUNC_sock_from_file BPF_FUNC_sock_hash_update
BPF_FUNC_sock_map_update BPF_FUNC_sock_ops_cb_flags_set BPF_FUNC_spin_lock
BPF_FUNC_spin_unlock BPF_FUNC_store_hdr_opt BPF_FUNC_strncmp BPF_FUNC_strtol
BPF_FUNC_strtoul BPF_FUNC_sys_bpf BPF_FUNC_sys_close BPF_FUNC_sysctl_get_current_value
BPF_FUNC_sysctl_get_name BPF_FUNC_sysctl_get_new_value BPF_FUNC_sysctl_set_new_value
BPF_FUNC_tail_call BPF_FUNC_task_pt_regs BPF_FUNC_task_storage_delete
BPF_FUNC_task_storage_get BPF_FUNC_tcp_check_syncookie BPF_FUNC_tcp_gen_syncookie
BPF_FUNC_tcp_raw_check_syncookie_ipv4 BPF_FUNC_tcp_raw_check_syncookie_ipv6
BPF_FUNC_tcp_raw_gen_syncookie_ipv4 BPF_FUNC_tcp_raw_gen_syncookie_ipv6
BPF_FUNC_tcp_send_ack BPF_FUNC_tcp_sock BPF_FUNC_this_cpu_ptr BPF_FUNC_timer_cancel
BPF_FUNC_timer_init BPF_FUNC_timer_set_callback BPF_FUNC_timer_start BPF_FUNC_trace_printk
BPF_FUNC_trace_vprintk BPF_FUNC_unspec BPF_FUNC_user_ringbuf_drain BPF_FUNC_xdp_adjust_head
BPF_FUNC_xdp_adjust_meta BPF_FUNC_xdp_adjust_tail BPF_FUNC_xdp_get_buff_len
BPF_FUNC_xdp_load_bytes BPF_FUNC_xdp_output BPF_FUNC_xdp_store_bytes
BPF_F_ADJ_ROOM_DECAP_L3_IPV4 BPF_F_ADJ_ROOM_DECAP_L3_IPV6 BPF_F_ADJ_ROOM_ENCAP_L2_ETH
BPF_F_ADJ_ROOM_ENCAP_L3_IPV4 BPF_F_ADJ_ROOM_ENCAP_L3_IPV6 BPF_F_ADJ_ROOM_ENCAP_L4_GRE
BPF_F_ADJ_ROOM_ENCAP_L4_UDP BPF_F_ADJ_ROOM_FIXED_GSO BPF_F_ADJ_ROOM_NO_CSUM_RESET
BPF_F_ALL_CPUS BPF_F_BPRM_SECUREEXEC BPF_F_BROADCAST BPF_F_CLONE BPF_F_CPU BPF_F_CTXLEN_MASK
BPF_F_CURRENT_CPU BPF_F_CURRENT_NETNS BPF_F_DONT_FRAGMENT BPF_F_EGRESS BPF_F_EXCLUDE_INGRESS
BPF_F_FAST_STACK_CMP BPF_F_GET_BRANCH_RECORDS_SIZE BPF_F_HDR_FIELD_MASK BPF_F_INDEX_MASK
BPF_F_INGRESS BPF_F_INNER_MAP BPF_F_INVALIDATE_HASH BPF_F_IPV6 BPF_F_KPROBE_MULTI_RETURN
BPF_F_LINK BPF_F_LOCK BPF_F_MARK_ENFORCE BPF_F_MARK_MANGLED_0 BPF_F_MMAPABLE
BPF_F_NO_COMMON_LRU BPF_F_NO_PREALLOC BPF_F_NO_TUNNEL_KEY BPF_F_NO_USER_CONV BPF_F_NUMA_NODE
BPF_F_PAD_ZEROS BPF_F_PATH_FD BPF_F_PRESERVE_ELEMS BPF_F_PSEUDO_HDR BPF_F_RB_OVERWRITE
BPF_F_RDONLY BPF_F_RDONLY_PROG BPF_F_RECOMPUTE_CSUM BPF_F_REUSE_STACKID BPF_F_SEGV_ON_FAULT
BPF_F_SEQ_NUMBER BPF_F_SKIP_FIELD_MASK BPF_F_STACK_BUILD_ID BPF_F_SYSCTL_BASE_NAME
BPF_F_TIMER_ABS BPF_F_TIMER_CPU_PIN BPF_F_TOKEN_FD BPF_F_TUNINFO_FLAGS BPF_F_TUNINFO_IPV6
BPF_F_UPROBE_MULTI_PATH_FD BPF_F_UPROBE_MULTI_RETURN BPF_F_USER_BUILD_ID BPF_F_USER_STACK
BPF_F_VTYPE_BTF_OBJ_FD BPF_F_WRONLY BPF_F_WRONLY_PROG BPF_F_ZERO_CSUM_TX BPF_F_ZERO_SEED
BPF_HDR_START_MAC BPF_HDR_START_NET BPF_ITER_CREATE BPF_LINK_CREATE BPF_LINK_DETACH
BPF_LINK_GET_FD_BY_ID BPF_LINK_GET_NEXT_ID BPF_LINK_TYPE_CGROUP BPF_LINK_TYPE_ITER
BPF_LINK_TYPE_KPROBE_MULTI BPF_LINK_TYPE_NETFILTER BPF_LINK_TYPE_NETKIT BPF_LINK_TYPE_NETNS
BPF_LINK_TYPE_PERF_EVENT BPF_LINK_TYPE_RAW_TRACEPOINT BPF_LINK_TYPE_SOCKMAP
BPF_LINK_TYPE_STRUCT_OPS BPF_LINK_TYPE_TCX BPF_LINK_TYPE_TRACING BPF_LINK_TYPE_TRACING_MULTI
BPF_LINK_TYPE_UNSPEC BPF_LINK_TYPE_UPROBE_MULTI BPF_LINK_TYPE_XDP BPF_LINK_UPDATE
BPF_LIRC_MODE2 BPF_LOAD_HDR_OPT_TCP_SYN BPF_LOCAL_STORAGE_GET_F_CREATE BPF_LSM_CGROUP
BPF_LSM_MAC BPF_LWT_ENCAP_IP BPF_LWT_ENCAP_SEG6 BPF_LWT_ENCAP_SEG6_INLINE BPF_LWT_REROUTE
BPF_MAP_CREATE BPF_MAP_DELETE_BATCH BPF_MAP_DELETE_ELEM BPF_MAP_FREEZE BPF_MAP_GET_FD_BY_ID
BPF_MAP_GET_NEXT_ID BPF_MAP_GET_NEXT_KEY BPF_MAP_LOOKUP_AND_DELETE_BATCH
BPF_MAP_LOOKUP_AND_DELETE_ELEM BPF_MAP_LOOKUP_BATCH BPF_MAP_LOOKUP_ELEM BPF_MAP_TYPE_ARENA
BPF_MAP_TYPE_ARRAY BPF_MAP_TYPE_ARRAY_OF_MAPS BPF_MAP_TYPE_BLOOM_FILTER
BPF_MAP_TYPE_CGROUP_ARRAY BPF_MAP_TYPE_CGROUP_STORAGE BPF_MAP_TYPE_CGROUP_STORAGE_DEPRECATED
BPF_MAP_TYPE_CGRP_STORAGE BPF_MAP_TYPE_CPUMAP BPF_MAP_TYPE_DEVMAP BPF_MAP_TYPE_DEVMAP_HASH
BPF_MAP_TYPE_HASH BPF_MAP_TYPE_HASH_OF_MAPS BPF_MAP_TYPE_INODE_STORAGE
BPF_MAP_TYPE_INSN_ARRAY BPF_MAP_TYPE_LPM_TRIE BPF_MAP_TYPE_LRU_HASH
BPF_MAP_TYPE_LRU_PERCPU_HASH BPF_MAP_TYPE_PERCPU_ARRAY BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE
BPF_MAP_TYPE_PERCPU_CGROUP_STORAGE_DEPRECATED BPF_MAP_TYPE_PERCPU_HASH
BPF_MAP_TYPE_PERF_EVENT_ARRAY BPF_MAP_TYPE_PROG_ARRAY BPF_MAP_TYPE_QUEUE
BPF_MAP_TYPE_REUSEPORT_SOCKARRAY BPF_MAP_TYPE_RHASH BPF_MAP_TYPE_RINGBUF
BPF_MAP_TYPE_SK_STORAGE BPF_MAP_TYPE_SOCKHASH BPF_MAP_TYPE_SOCKMAP BPF_MAP_TYPE_STACK
BPF_MAP_TYPE_STACK_TRACE BPF_MAP_TYPE_STRUCT_OPS BPF_MAP_TYPE_TASK_STORAGE
BPF_MAP_TYPE_UNSPEC BPF_MAP_TYPE_USER_RINGBUF BPF_MAP_TYPE_XSKMAP BPF_MAP_UPDATE_BATCH
BPF_MAP_UPDATE_ELEM BPF_MAY_GOTO BPF_MODIFY_RETURN BPF_MTU_CHK_RET_FRAG_NEEDED
BPF_MTU_CHK_RET_SEGS_TOOBIG BPF_MTU_CHK_RET_SUCCESS BPF_MTU_CHK_SEGS BPF_NETFILTER
BPF_NETKIT_PEER BPF_NETKIT_PRIMARY BPF_NOEXIST BPF_OBJ_GET BPF_OBJ_GET_INFO_BY_FD
BPF_OBJ_PIN BPF_OK BPF_PERF_EVENT BPF_PERF_EVENT_EVENT BPF_PERF_EVENT_KPROBE
BPF_PERF_EVENT_KRETPROBE BPF_PERF_EVENT_TRACEPOINT BPF_PERF_EVENT_UNSPEC
BPF_PERF_EVENT_UPROBE BPF_PERF_EVENT_URETPROBE BPF_PROG_ASSOC_STRUCT_OPS BPF_PROG_ATTACH
BPF_PROG_BIND_MAP BPF_PROG_DETACH BPF_PROG_GET_FD_BY_ID BPF_PROG_GET_NEXT_ID BPF_PROG_LOAD
BPF_PROG_QUERY BPF_PROG_RUN BPF_PROG_STREAM_READ_BY_FD BPF_PROG_TEST_RUN
BPF_PROG_TYPE_CGROUP_DEVICE BPF_PROG_TYPE_CGROUP_SKB BPF_PROG_TYPE_CGROUP_SOCK
BPF_PROG_TYPE_CGROUP_SOCKOPT BPF_PROG_TYPE_CGROUP_SOCK_ADDR BPF_PROG_TYPE_CGROUP_SYSCTL
BPF_PROG_TYPE_EXT BPF_PROG_TYPE_FLOW_DISSECTOR BPF_PROG_TYPE_KPROBE BPF_PROG_TYPE_LIRC_MODE2
BPF_PROG_TYPE_LSM BPF_PROG_TYPE_LWT_IN BPF_PROG_TYPE_LWT_OUT BPF_PROG_TYPE_LWT_SEG6LOCAL
BPF_PROG_TYPE_LWT_XMIT BPF_PROG_TYPE_NETFILTER BPF_PROG_TYPE_PERF_EVENT
BPF_PROG_TYPE_RAW_TRACEPOINT BPF_PROG_TYPE_RAW_TRACEPOINT_WRITABLE BPF_PROG_TYPE_SCHED_ACT
BPF_PROG_TYPE_SCHED_CLS BPF_PROG_TYPE_SK_LOOKUP BPF_PROG_TYPE_SK_MSG
BPF_PROG_TYPE_SK_REUSEPORT BPF_PROG_TYPE_SK_SKB BPF_PROG_TYPE_SOCKET_FILTER
BPF_PROG_TYPE_SOCK_OPS BPF_PROG_TYPE_STRUCT_OPS BPF_PROG_TYPE_SYSCALL
BPF_PROG_TYPE_TRACEPOINT BPF_PROG_TYPE_TRACING BPF_PROG_TYPE_UNSPEC BPF_PROG_TYPE_XDP
BPF_RAW_TRACEPOINT_OPEN BPF_RB_AVAIL_DATA BPF_RB_CONS_POS BPF_RB_FORCE_WAKEUP
BPF_RB_NO_WAKEUP BPF_RB_OVERWRITE_POS BPF_RB_PROD_POS BPF_RB_RING_SIZE BPF_REDIRECT
BPF_REG_0 BPF_REG_1 BPF_REG_10 BPF_REG_2 BPF_REG_3 BPF_REG_4 BPF_REG_5 BPF_REG_6 BPF_REG_7
BPF_REG_8 BPF_REG_9 BPF_RINGBUF_BUSY_BIT BPF_RINGBUF_DISCARD_BIT BPF_RINGBUF_HDR_SZ
BPF_SKB_CLOCK_MONOTONIC BPF_SKB_CLOCK_REALTIME BPF_SKB_CLOCK_TAI
BPF_SKB_TSTAMP_DELIVERY_MONO BPF_SKB_TSTAMP_UNSPEC BPF_SK_LOOKUP
BPF_SK_LOOKUP_F_NO_REUSEPORT BPF_SK_LOOKUP_F_REPLACE BPF_SK_MSG_VERDICT
BPF_SK_REUSEPORT_SELECT BPF_SK_REUSEPORT_SELECT_OR_MIGRATE BPF_SK_SKB_STREAM_PARSER
BPF_SK_SKB_STREAM_VERDICT BPF_SK_SKB_VERDICT BPF_SK_STORAGE_GET_F_CREATE
BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB BPF_SOCK_OPS_ALL_CB_FLAGS BPF_SOCK_OPS_BASE_RTT
BPF_SOCK_OPS_HDR_OPT_LEN_CB BPF_SOCK_OPS_NEEDS_ECN BPF_SOCK_OPS_PARSE_ALL_HDR_OPT_CB_FLAG
BPF_SOCK_OPS_PARSE_HDR_OPT_CB BPF_SOCK_OPS_PARSE_UNKNOWN_HDR_OPT_CB_FLAG
BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB BPF_SOCK_OPS_RETRANS_CB BPF_SOCK_OPS_RETRANS_CB_FLAG
BPF_SOCK_OPS_RTO_CB BPF_SOCK_OPS_RTO_CB_FLAG BPF_SOCK_OPS_RTT_CB BPF_SOCK_OPS_RTT_CB_FLAG
BPF_SOCK_OPS_RWND_INIT BPF_SOCK_OPS_STATE_CB BPF_SOCK_OPS_STATE_CB_FLAG
BPF_SOCK_OPS_TCP_CONNECT_CB BPF_SOCK_OPS_TCP_LISTEN_CB BPF_SOCK_OPS_TIMEOUT_INIT
BPF_SOCK_OPS_TSTAMP_ACK_CB BPF_SOCK_OPS_TSTAMP_SCHED_CB BPF_SOCK_OPS_TSTAMP_SENDMSG_CB
BPF_SOCK_OPS_TSTAMP_SND_HW_CB BPF_SOCK_OPS_TSTAMP_SND_SW_CB BPF_SOCK_OPS_VOID
BPF_SOCK_OPS_WRITE_HDR_OPT_CB BPF_SOCK_OPS_WRITE_HDR_OPT_CB_FLAG BPF_STACK_BUILD_ID_EMPTY
BPF_STACK_BUILD_ID_IP BPF_STACK_BUILD_ID_VALID BPF_STATS_RUN_TIME BPF_STREAM_STDERR
BPF_STREAM_STDOUT BPF_STRUCT_OPS BPF_TASK_FD_QUERY BPF_TCP_BOUND_INACTIVE BPF_TCP_CLOSE
BPF_TCP_CLOSE_WAIT BPF_TCP_CLOSING BPF_TCP_ESTABLISHED BPF_TCP_FIN_WAIT1 BPF_TCP_FIN_WAIT2
BPF_TCP_LAST_ACK BPF_TCP_LISTEN BPF_TCP_MAX_STATES BPF_TCP_NEW_SYN_RECV BPF_TCP_SYN_RECV
BPF_TCP_SYN_SENT BPF_TCP_TIME_WAIT BPF_TCX_EGRESS BPF_TCX_INGRESS BPF_TOKEN_CREATE
BPF_TRACE_FENTRY BPF_TRACE_FENTRY_MULTI BPF_TRACE_FEXIT BPF_TRACE_FEXIT_MULTI
BPF_TRACE_FSESSION BPF_TRACE_FSESSION_MULTI BPF_TRACE_ITER BPF_TRACE_KPROBE_MULTI
BPF_TRACE_KPROBE_SESSION BPF_TRACE_RAW_TP BPF_TRACE_UPROBE_MULTI BPF_TRACE_UPROBE_SESSION
BPF_WRITE_HDR_TCP_CURRENT_MSS BPF_WRITE_HDR_TCP_SYNACK_COOKIE BPF_XDP BPF_XDP_CPUMAP
BPF_XDP_DEVMAP BTF_F_COMPACT BTF_F_NONAME BTF_F_PTR_RAW BTF_F_ZERO SK_BPF_BYPASS_PROT_MEM
SK_BPF_CB_FLAGS SK_BPF_CB_MASK SK_BPF_CB_TX_TIMESTAMPING SK_DROP SK_PASS TCP_BPF_DELACK_MAX
TCP_BPF_IW TCP_BPF_RTO_MIN TCP_BPF_SNDCWND_CLAMP TCP_BPF_SOCK_OPS_CB_FLAGS TCP_BPF_SYN
TCP_BPF_SYN_IP TCP_BPF_SYN_MAC TCX_DROP TCX_NEXT TCX_PASS TCX_REDIRECT XDP_ABORTED XDP_DROP
XDP_PASS XDP_REDIRECT XDP_TX __MAX_BPF_ATTACH_TYPE __MAX_BPF_CMD __MAX_BPF_LINK_TYPE
__MAX_BPF_MAP_TYPE __MAX_BPF_PROG_TYPE __MAX_BPF_REG
""".split())

# Object-like #defines of the same bpf.h: never in a vmlinux.h, whatever the kernel.
UAPI_DEFINES = frozenset("""
BPF_ALU64 BPF_ARSH BPF_ATOMIC BPF_BUILD_ID_SIZE BPF_CALL BPF_CMPXCHG BPF_DW BPF_END BPF_EXIT
BPF_FETCH BPF_FROM_BE BPF_FROM_LE BPF_F_ADJ_ROOM_ENCAP_L BPF_F_AFTER BPF_F_ALLOW_MULTI
BPF_F_ALLOW_OVERRIDE BPF_F_ANY_ALIGNMENT BPF_F_BEFORE BPF_F_ID BPF_F_LINK
BPF_F_NETFILTER_IP_DEFRAG BPF_F_PREORDER BPF_F_QUERY_EFFECTIVE BPF_F_REDIRECT_FLAGS
BPF_F_REPLACE BPF_F_SLEEPABLE BPF_F_STRICT_ALIGNMENT BPF_F_TEST_REG_INVARIANTS
BPF_F_TEST_RND_HI32 BPF_F_TEST_RUN_ON_CPU BPF_F_TEST_SKB_CHECKSUM_COMPLETE
BPF_F_TEST_STATE_FREQ BPF_F_TEST_XDP_LIVE_FRAMES BPF_F_XDP_DEV_BOUND_ONLY
BPF_F_XDP_HAS_FRAGS BPF_JCOND BPF_JLE BPF_JLT BPF_JMP32 BPF_JNE BPF_JSGE BPF_JSGT BPF_JSLE
BPF_JSLT BPF_LINE_INFO_LINE_CO BPF_LINE_INFO_LINE_NU BPF_LOAD_ACQ BPF_MEMSX BPF_MOV
BPF_OBJ_NAME_LEN BPF_PSEUDO_BTF_ID BPF_PSEUDO_CALL BPF_PSEUDO_FUNC BPF_PSEUDO_KFUNC_CALL
BPF_PSEUDO_MAP_FD BPF_PSEUDO_MAP_IDX BPF_PSEUDO_MAP_IDX_VALUE BPF_PSEUDO_MAP_VALUE
BPF_STORE_REL BPF_TAG_SIZE BPF_TO_BE BPF_TO_LE BPF_XADD BPF_XCHG MAX_BPF_ATTACH_TYPE
MAX_BPF_LINK_TYPE MAX_BPF_REG XDP_PACKET_HEADROOM __BPF_ENUM_F __BPF_FUNC_MAPPE
__BPF_FUNC_MAPPER_APPL __LINUX_BPF_H__ ___BPF_FUNC_MAPPE __bpf_md_pt
""".split())

# uapi struct/union -> member names (anonymous nested unions/structs flattened).
UAPI_MEMBERS = {
    "__sk_buff": frozenset("""
        cb data data_end data_meta family flow_keys gso_segs gso_size hash hwtstamp ifindex
        ingress_ifindex len local_ip4 local_ip6 local_port mark napi_id pkt_type priority
        protocol queue_mapping remote_ip4 remote_ip6 remote_port sk tc_classid tc_index
        tstamp tstamp_type vlan_present vlan_proto vlan_tci wire_len
        """.split()),
    "bpf_attr": frozenset("""
        attach_bpf_fd attach_btf_id attach_btf_obj_fd attach_flags attach_prog_fd
        attach_type batch bpf_fd btf btf_fd btf_flags btf_id btf_key_type_id btf_log_buf
        btf_log_level btf_log_size btf_log_true_size btf_size btf_token_fd btf_value_type_id
        btf_vmlinux_value_type_id core_relo_cnt core_relo_rec_size core_relos enable_stats
        excl_prog_hash excl_prog_hash_size expected_attach_type expected_revision fd_array
        fd_array_cnt fd_by_id_token_fd file_flags flags func_info func_info_cnt
        func_info_rec_size info inner_map_fd insn_cnt insns iter_create kern_version key
        key_size keyring_id license line_info line_info_cnt line_info_rec_size link_create
        link_detach link_id link_update log_buf log_level log_size log_true_size map_extra
        map_fd map_flags map_id map_ifindex map_name map_token_fd map_type max_entries
        next_id next_key numa_node open_flags path_fd pathname prog_assoc_struct_ops
        prog_bind_map prog_btf_fd prog_flags prog_id prog_ifindex prog_name prog_stream_read
        prog_token_fd prog_type query raw_tracepoint relative_fd relative_id replace_bpf_fd
        signature signature_size start_id target_fd target_ifindex task_fd_query test
        token_create value value_size value_type_btf_obj_fd
        """.split()),
    "bpf_btf_info": frozenset("""
        btf btf_size id kernel_btf name name_len
        """.split()),
    "bpf_cgroup_dev_ctx": frozenset("""
        access_type major minor
        """.split()),
    "bpf_cgroup_storage_key": frozenset("""
        attach_type cgroup_inode_id
        """.split()),
    "bpf_common_attr": frozenset("""
        log_buf log_level log_size log_true_size
        """.split()),
    "bpf_core_relo": frozenset("""
        access_str_off insn_off kind type_id
        """.split()),
    "bpf_cpumap_val": frozenset("""
        bpf_prog qsize
        """.split()),
    "bpf_devmap_val": frozenset("""
        bpf_prog ifindex
        """.split()),
    "bpf_dynptr": frozenset("""
        __opaque
        """.split()),
    "bpf_fib_lookup": frozenset("""
        dmac dport family flowinfo h_vlan_TCI h_vlan_proto ifindex ipv4_dst ipv4_src
        ipv6_dst ipv6_src l4_protocol mark mtu_result rt_metric smac sport tbid tos tot_len
        """.split()),
    "bpf_flow_keys": frozenset("""
        addr_proto dport flags flow_label ip_proto ipv4_dst ipv4_src ipv6_dst ipv6_src
        is_encap is_first_frag is_frag n_proto nhoff sport thoff
        """.split()),
    "bpf_func_info": frozenset("""
        insn_off type_id
        """.split()),
    "bpf_insn": frozenset("""
        code dst_reg imm off src_reg
        """.split()),
    "bpf_insn_array_value": frozenset("""
        jitted_off orig_off xlated_off
        """.split()),
    "bpf_iter_link_info": frozenset("""
        cgroup map task
        """.split()),
    "bpf_iter_num": frozenset("""
        __opaque
        """.split()),
    "bpf_line_info": frozenset("""
        file_name_off insn_off line_col line_off
        """.split()),
    "bpf_link_info": frozenset("""
        cgroup id iter kprobe_multi netfilter netkit netns perf_event prog_id raw_tracepoint
        sockmap struct_ops tcx tracing tracing_multi type uprobe_multi xdp
        """.split()),
    "bpf_list_head": frozenset("""
        __opaque
        """.split()),
    "bpf_list_node": frozenset("""
        __opaque
        """.split()),
    "bpf_lpm_trie_key": frozenset("""
        data prefixlen
        """.split()),
    "bpf_lpm_trie_key_hdr": frozenset("""
        prefixlen
        """.split()),
    "bpf_lpm_trie_key_u8": frozenset("""
        data hdr prefixlen
        """.split()),
    "bpf_map_info": frozenset("""
        btf_id btf_key_type_id btf_value_type_id btf_vmlinux_id btf_vmlinux_value_type_id
        hash hash_size id ifindex key_size map_extra map_flags max_entries name netns_dev
        netns_ino type value_size
        """.split()),
    "bpf_perf_event_value": frozenset("""
        counter enabled running
        """.split()),
    "bpf_pidns_info": frozenset("""
        pid tgid
        """.split()),
    "bpf_prog_info": frozenset("""
        attach_btf_id attach_btf_obj_id btf_id created_by_uid func_info func_info_rec_size
        gpl_compatible id ifindex jited_func_lens jited_ksyms jited_line_info
        jited_line_info_rec_size jited_prog_insns jited_prog_len line_info
        line_info_rec_size load_time map_ids name netns_dev netns_ino nr_func_info
        nr_jited_func_lens nr_jited_ksyms nr_jited_line_info nr_line_info nr_map_ids
        nr_prog_tags prog_tags recursion_misses run_cnt run_time_ns tag type verified_insns
        xlated_prog_insns xlated_prog_len
        """.split()),
    "bpf_raw_tracepoint_args": frozenset("""
        args
        """.split()),
    "bpf_rb_node": frozenset("""
        __opaque
        """.split()),
    "bpf_rb_root": frozenset("""
        __opaque
        """.split()),
    "bpf_redir_neigh": frozenset("""
        ipv4_nh ipv6_nh nh_family
        """.split()),
    "bpf_refcount": frozenset("""
        __opaque
        """.split()),
    "bpf_sk_lookup": frozenset("""
        cookie family ingress_ifindex local_ip4 local_ip6 local_port protocol remote_ip4
        remote_ip6 remote_port sk
        """.split()),
    "bpf_sock": frozenset("""
        bound_dev_if dst_ip4 dst_ip6 dst_port family mark priority protocol rx_queue_mapping
        src_ip4 src_ip6 src_port state type
        """.split()),
    "bpf_sock_addr": frozenset("""
        family msg_src_ip4 msg_src_ip6 protocol sk type user_family user_ip4 user_ip6
        user_port
        """.split()),
    "bpf_sock_ops": frozenset("""
        args bpf_sock_ops_cb_flags bytes_acked bytes_received data_segs_in data_segs_out
        ecn_flags family is_fullsock local_ip4 local_ip6 local_port lost_out mss_cache op
        packets_out rate_delivered rate_interval_us rcv_nxt remote_ip4 remote_ip6
        remote_port reply replylong retrans_out rtt_min sacked_out segs_in segs_out sk
        sk_txhash skb_data skb_data_end skb_hwtstamp skb_len skb_tcp_flags snd_cwnd snd_nxt
        snd_ssthresh snd_una srtt_us state total_retrans
        """.split()),
    "bpf_sock_tuple": frozenset("""
        ipv4 ipv6
        """.split()),
    "bpf_sockopt": frozenset("""
        level optlen optname optval optval_end retval sk
        """.split()),
    "bpf_spin_lock": frozenset("""
        val
        """.split()),
    "bpf_stack_build_id": frozenset("""
        build_id ip offset status
        """.split()),
    "bpf_sysctl": frozenset("""
        file_pos write
        """.split()),
    "bpf_task_work": frozenset("""
        __opaque
        """.split()),
    "bpf_tcp_sock": frozenset("""
        bytes_acked bytes_received data_segs_in data_segs_out delivered delivered_ce
        dsack_dups ecn_flags icsk_retransmits lost_out mss_cache packets_out rate_delivered
        rate_interval_us rcv_nxt retrans_out rtt_min sacked_out segs_in segs_out snd_cwnd
        snd_nxt snd_ssthresh snd_una srtt_us total_retrans
        """.split()),
    "bpf_timer": frozenset("""
        __opaque
        """.split()),
    "bpf_token_info": frozenset("""
        allowed_attachs allowed_cmds allowed_maps allowed_progs
        """.split()),
    "bpf_tunnel_key": frozenset("""
        local_ipv4 local_ipv6 remote_ipv4 remote_ipv6 tunnel_ext tunnel_flags tunnel_id
        tunnel_label tunnel_tos tunnel_ttl
        """.split()),
    "bpf_wq": frozenset("""
        __opaque
        """.split()),
    "bpf_xdp_sock": frozenset("""
        queue_id
        """.split()),
    "bpf_xfrm_state": frozenset("""
        ext family remote_ipv4 remote_ipv6 reqid spi
        """.split()),
    "btf_ptr": frozenset("""
        flags ptr type_id
        """.split()),
    "sk_msg_md": frozenset("""
        data data_end family local_ip4 local_ip6 local_port remote_ip4 remote_ip6
        remote_port size sk
        """.split()),
    "sk_reuseport_md": frozenset("""
        bind_inany data data_end eth_protocol hash ip_protocol len migrating_sk sk
        """.split()),
    "xdp_md": frozenset("""
        data data_end data_meta egress_ifindex ingress_ifindex rx_queue_index
        """.split()),
}

# Features named in sentences: key -> (what, first Linux release, source).
FEATURES = {
    "dynptr": (
        "dynptr", "5.19",
        "bcc kernel-versions.md and ebpf-docs timeline: bpf_dynptr_from_mem 5.19 (263ae152e962);"
        " uapi struct bpf_dynptr came with 'bpf: Add verifier support for dynptrs' of the same"
        " series (authored 2022-05-23, after 5.18 was tagged)"),
    "iter_num": (
        "the open-coded numbers iterator", "6.4",
        "ebpf-docs kfuncs/bpf_iter_num_new.md: v6.4 (06accc8779c1); uapi struct bpf_iter_num"
        " came with 'bpf: implement numbers iterator' of the same series"),
    "atomics": (
        "BPF atomic fetch/and/or/xor/xchg/cmpxchg support", "5.12",
        "ebpf-docs concepts/concurrency.md: v5.12 (series 20210114181751.768687-1-jackmanb);"
        " kernel commit 5ffa25502b5a 'bpf: Add instructions for atomic_[cmp]xchg'"),
    "kfunc_calls": (
        "kfunc support (calling kernel functions)", "5.13",
        "ebpf-docs concepts/kfuncs.md: v5.13 (e6ac2450d6de 'bpf: Support bpf program calling"
        " kernel function'); LWN 'Calling kernel functions from BPF' (5.13)"),
    "cpu_v4": (
        "the cpu v4 instruction set (ldsx, movsx, bswap, sdiv/smod, gotol)", "6.6",
        "cilium/ebpf features/misc.go HaveV4ISA '6.6' (1f9a1ea821ff 'bpf: Support new"
        " sign-extension load insns')"),
    "jmp32": (
        "the cpu v3 instruction set (JMP32)", "5.1",
        "cilium/ebpf features/misc.go HaveV3ISA '5.1' (092ed0968bb6 'bpf: verifier support"
        " JMP32')"),
    "xdp_frags": (
        "XDP multi-buffer (BPF_F_XDP_HAS_FRAGS)", "5.18",
        "ebpf-docs timeline: BPF_F_XDP_HAS_FRAGS v5.18 (c2f2cdb); bcc and ebpf-docs:"
        " bpf_xdp_get_buff_len 5.18"),
    "cpumask": (
        "bpf_cpumask", "6.3",
        "ebpf-docs timeline: kfunc bpf_cpumask_create v6.3 (516f4d3)"),
}

# BPF trampolines that attach to kernel functions (fentry/fexit/fmod_ret) per
# architecture: first Linux release. Source: ebpf-docs concepts/trampolines.md
# "Architecture support" (x86-64 fec56f5890d9, RISC-V 49b5e77ae3e2). The arm64
# trampoline itself arrived in 6.0 (efc9909fdce0), but fentry on a kernel function
# also needs arm64 ftrace direct calls, 6.4 (2aa6ac03516d): the lab's arm64 6.1
# guest refuses the attach with -524.
TRAMPOLINE_SINCE = {"x86_64": "5.5", "aarch64": "6.4", "riscv64": "6.3"}

# Struct tags whose absence from a vmlinux.h names a feature (FEATURES key). Not all
# are uapi: struct bpf_cpumask lives in kernel/bpf/cpumask.c.
TYPE_FEATURES = {"bpf_dynptr": "dynptr", "bpf_iter_num": "iter_num", "bpf_cpumask": "cpumask"}
