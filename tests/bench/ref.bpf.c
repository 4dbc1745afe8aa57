// SPDX-License-Identifier: GPL-2.0
/*
 * Reference programs for the hook-cost benchmark (tests/bench/run.sh).
 * Each is attached to its own scratch cgroup, like netmonctl's programs:
 *   ref_empty_*  return "allow" at once: the floor (what any cgroup
 *                sock_addr program costs, bpf_stats accounting included)
 *   ref_hash_*   one hash-map lookup keyed like a rule (dir, family, addr):
 *                the unit netmonctl's cost is expressed in
 *   ref_lpm_*    one LPM-trie lookup with netmonctl's key layout, on a
 *                trie filled by `bpftool batch` with the same rule set:
 *                the bare price of the data structure netmonctl uses
 * Nothing here denies anything: every program returns 1.
 */
#include <linux/bpf.h>
#include <bpf/bpf_helpers.h>

char LICENSE[] SEC("license") = "GPL";

struct ref_hkey { /* struct nm_rule_key without prefixlen */
	__u8 dir;
	__u8 family;
	__u8 pad[2];
	__u32 addr[4];
};

struct ref_lkey { /* struct nm_rule_key */
	__u32 prefixlen;
	struct ref_hkey k;
};

struct ref_lval { /* struct nm_rule_val: 52 bytes */
	__u8 b[52];
};

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 65536);
	__type(key, struct ref_hkey);
	__type(value, __u32);
} ref_hash SEC(".maps");

/* Must match `bpftool map create ... type lpm_trie key 24 value 52
 * entries 2097152 flags 1` in run.sh: the program reuses that map. */
struct {
	__uint(type, BPF_MAP_TYPE_LPM_TRIE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__uint(max_entries, 1 << 21);
	__type(key, struct ref_lkey);
	__type(value, struct ref_lval);
} ref_lpm SEC(".maps");

static __always_inline void key4(struct bpf_sock_addr *ctx, struct ref_hkey *k)
{
	__builtin_memset(k, 0, sizeof(*k));
	k->family = 4;
	k->addr[0] = ctx->user_ip4;
}

static __always_inline void key6(struct bpf_sock_addr *ctx, struct ref_hkey *k)
{
	__builtin_memset(k, 0, sizeof(*k));
	k->family = 6;
	k->addr[0] = ctx->user_ip6[0];
	k->addr[1] = ctx->user_ip6[1];
	k->addr[2] = ctx->user_ip6[2];
	k->addr[3] = ctx->user_ip6[3];
}

static __always_inline int hash_probe(struct ref_hkey *k)
{
	/* A volatile use of the result, so the lookup is not optimised out. */
	volatile int hit = bpf_map_lookup_elem(&ref_hash, k) != 0;

	(void)hit;
	return 1;
}

static __always_inline int lpm_probe(struct ref_hkey *k)
{
	struct ref_lkey lk = { .prefixlen = 32 + 128, .k = *k };
	volatile int hit = bpf_map_lookup_elem(&ref_lpm, &lk) != 0;

	(void)hit;
	return 1;
}

#define REF_EMPTY(name, sec) \
	SEC(sec) int name(struct bpf_sock_addr *ctx) { return 1; }
#define REF_LOOKUP(name, sec, mk, probe)                 \
	SEC(sec) int name(struct bpf_sock_addr *ctx)     \
	{                                                \
		struct ref_hkey k;                       \
		mk(ctx, &k);                             \
		return probe(&k);                        \
	}

REF_EMPTY(ref_empty_c4, "cgroup/connect4")
REF_EMPTY(ref_empty_s4, "cgroup/sendmsg4")
REF_EMPTY(ref_empty_c6, "cgroup/connect6")
REF_EMPTY(ref_empty_s6, "cgroup/sendmsg6")
REF_LOOKUP(ref_hash_c4, "cgroup/connect4", key4, hash_probe)
REF_LOOKUP(ref_hash_s4, "cgroup/sendmsg4", key4, hash_probe)
REF_LOOKUP(ref_hash_c6, "cgroup/connect6", key6, hash_probe)
REF_LOOKUP(ref_hash_s6, "cgroup/sendmsg6", key6, hash_probe)
REF_LOOKUP(ref_lpm_c4, "cgroup/connect4", key4, lpm_probe)
REF_LOOKUP(ref_lpm_s4, "cgroup/sendmsg4", key4, lpm_probe)
REF_LOOKUP(ref_lpm_c6, "cgroup/connect6", key6, lpm_probe)
REF_LOOKUP(ref_lpm_s6, "cgroup/sendmsg6", key6, lpm_probe)
