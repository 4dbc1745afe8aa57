// SPDX-License-Identifier: GPL-2.0
/*
 * netmonctl kernel side: every hook turns its context into one
 * struct nm_query and hands it to nm_decide(), the single decision path.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>
#include <bpf/bpf_tracing.h>
#include <bpf/bpf_core_read.h>
#include <bpf/bpf_endian.h>
#include "netmonctl.h"
#include "nm_kernel.h"

#define AF_INET 2
#define AF_INET6 10
#define IPPROTO_ICMP 1
#define IPPROTO_TCP 6
#define IPPROTO_UDP 17
#define IPPROTO_ICMPV6 58
#define IPPROTO_SCTP 132
#define IPPROTO_UDPLITE 136
#define IPPROTO_MPTCP 262
#define TCP_CLOSE 7
#define SOCK_RAW 3
#define EPERM 1

char LICENSE[] SEC("license") = "GPL";

/* Set by `load` from a probe: which context helpers cgroup hooks may call
 * (5.10 gives sock_addr programs no pid/comm/cgroup-id helpers). */
const volatile __u32 nm_ctx_helpers = 0;

/* Host rules: one exact lookup. `load entries N` sets both sizes. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1 << 20);
	__type(key, struct nm_rule_key);
	__type(value, struct nm_rule_val);
} hosts SEC(".maps");

/* Every shorter prefix, and `any`. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1 << 20);
	__type(key, struct nm_rule_key);
	__type(value, struct nm_rule_val);
} nets SEC(".maps");

/* Port sets of prefixes with many port rules (bpf/netmonctl.h). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, NM_MAX_SETS);
	__type(key, __u32);
	__type(value, struct nm_port_set);
} port_sets SEC(".maps");

/* Their exact rules: user space only, here so that `load` makes and pins it. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, NM_MAX_SET_RULES);
	__type(key, struct nm_set_rule_key);
	__type(value, __u32);
} set_rules SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NM_BUCKET_GROUPS);
	__type(key, __u32);
	__type(value, struct nm_bucket_group);
} buckets SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, 1);
	__type(key, __u32);
	__type(value, struct nm_config);
} config SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_ARRAY);
	__uint(max_entries, NM_GENS);
	__type(key, __u32);
	__type(value, struct nm_meta);
} rule_lists SEC(".maps");

/* The scope of the cgroup a cgroup program is attached at (nm_scope_ctx):
 * zero where the cgroup layer itself is attached. */
struct {
	__uint(type, BPF_MAP_TYPE_CGROUP_STORAGE);
	__type(key, __u64);
	__type(value, struct nm_scope_ctx);
} scope_ctx SEC(".maps");

/* The scopes by cgroup id, for the LSM hooks (bpf/netmonctl.h). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, NM_MAX_SCOPES + 1);
	__type(key, __u64);
	__type(value, struct nm_scope_ctx);
} scope_ids SEC(".maps");

/* Per-rule hit counts (bpf/netmonctl.h struct nm_hit_key). */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, NM_MAX_HIT_RULES);
	__type(key, struct nm_hit_key);
	__type(value, __u64);
} rule_hits SEC(".maps");

/* Each scope's record: user space only, here so that `load` makes it. */
struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, NM_MAX_SCOPES + 1);
	__type(key, __u32);
	__type(value, struct nm_scope);
} scopes SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_ARRAY);
	__uint(max_entries, NM_HOOK_MAX);
	__type(key, __u32);
	__type(value, struct nm_counters);
} counters SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 4 << 20); /* `load ringbuf BYTES` overrides */
} events SEC(".maps");

/* The programs, by concern (each file is included once, in this order). */
#include "nm_decide.bpf.h"
#include "nm_cgroup.bpf.h"
#include "nm_lsm.bpf.h"
