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

/* What a hook asks: is this address/port/protocol denied in this direction? */
struct nm_query {
	struct nm_rule_key key; /* dir, family, addr; prefixlen = full */
	struct nm_rule_key src; /* the socket's source (family 0: none); read
				   only when key is the any-address */
	__u8 laddr[16];
	__u16 port; /* host order */
	__u16 lport;
	__u8 protocol; /* IPPROTO_*, MPTCP folded into TCP (see nm_protocol) */
	__u8 hook;
	__u8 src_unknown; /* ancillary data may set the source: see nm_decide */
	__u8 pclass;      /* the socket's protocol class: one NM_PROTO_* bit */
	__u16 scope;      /* the scope deciding, for the event */
};

/*
 * The protocol as rules see it. MPTCP is TCP to the peer (its number, 262,
 * does not fit the event's byte), and UDP-Lite takes UDP's send path, so
 * `proto udp` covers it.
 */
static __always_inline __u8 nm_protocol(__u32 protocol)
{
	return protocol == IPPROTO_MPTCP ? IPPROTO_TCP : (__u8)protocol;
}

/* The class of a socket (enum nm_proto_bit): its type first, because a
 * raw socket may carry any protocol number, TCP's included. */
static __always_inline __u8 nm_proto_class(__u32 type, __u32 protocol)
{
	if (type == SOCK_RAW)
		return NM_PROTO_RAW;
	if (protocol == IPPROTO_TCP || protocol == IPPROTO_MPTCP)
		return NM_PROTO_TCP;
	if (protocol == IPPROTO_UDP || protocol == IPPROTO_UDPLITE)
		return NM_PROTO_UDP;
	if (protocol == IPPROTO_ICMP || protocol == IPPROTO_ICMPV6)
		return NM_PROTO_ICMP;
	if (protocol == IPPROTO_SCTP)
		return NM_PROTO_SCTP;
	return NM_PROTO_OTHER;
}

static __always_inline void nm_count(__u32 hook, int field)
{
	struct nm_counters *c = bpf_map_lookup_elem(&counters, &hook);

	if (!c)
		return;
	if (field == 0)
		c->checked++;
	else if (field == 1)
		c->denied++;
	else if (field == 2)
		c->audited++;
	else
		c->rb_drops++;
}

static __always_inline void nm_fill_task(struct nm_event *e, int is_lsm)
{
	__u32 h = is_lsm ? ~0u : nm_ctx_helpers;

	if (h & NM_HELPER_PID_TGID) {
		__u64 id = bpf_get_current_pid_tgid();

		e->pid = id >> 32;
		e->tid = (__u32)id;
	}
	if (h & NM_HELPER_COMM)
		bpf_get_current_comm(e->comm, sizeof(e->comm));
	if (h & NM_HELPER_CGROUP_ID)
		e->cgroup_id = bpf_get_current_cgroup_id();
	e->uid = (__u32)bpf_get_current_uid_gid();
}

/*
 * What a lookup found, packed into one scalar (nm_lookup is a global
 * function, which returns nothing else): 0 when nothing matched; else
 * NM_HIT with the matched entry's prefixlen (bits 0-15) and port rule
 * (lo 16-31, hi 32-47, protos 48-55). A fail-closed deny has prefixlen
 * NM_RULE_FAIL_CLOSED and the reason (enum nm_fail_closed) as lo.
 */
#define NM_HIT (1ull << 63)

static __always_inline __u64 nm_hit(__u16 prefixlen, __u16 lo, __u16 hi, __u8 protos)
{
	return NM_HIT | prefixlen | (__u64)lo << 16 | (__u64)hi << 32 | (__u64)protos << 48;
}

static __noinline void nm_emit(const struct nm_query *q, __u64 hit, __u8 verdict, int is_lsm)
{
	struct nm_event *e = bpf_ringbuf_reserve(&events, sizeof(*e), 0);

	if (!e) {
		nm_count(q->hook, 3);
		return;
	}
	__builtin_memset(e, 0, sizeof(*e));
	e->ts_ns = bpf_ktime_get_ns();
	nm_fill_task(e, is_lsm);
	e->hook = q->hook;
	e->family = q->key.family;
	e->protocol = q->protocol;
	e->verdict = verdict;
	__builtin_memcpy(e->laddr, q->laddr, 16);
	__builtin_memcpy(e->raddr, q->key.addr, 16);
	e->lport = q->lport;
	e->rport = q->port;
	e->dir = q->key.dir;
	e->scope = q->scope;
	e->rule_prefixlen = (__u16)hit;
	e->rule_port.lo = (__u16)(hit >> 16);
	e->rule_port.hi = (__u16)(hit >> 32);
	e->rule_port.protos = (__u8)(hit >> 48) & (__u8)~NM_PROTO_SET; /* the class it matched */
	bpf_ringbuf_submit(e, 0);
}

static __noinline int nm_verdict_hit(struct nm_query *q, __u64 hit, int is_lsm)
{
	__u32 zero = 0;
	struct nm_config *cfg = bpf_map_lookup_elem(&config, &zero);

	if (cfg && cfg->mode == NM_MODE_AUDIT) {
		nm_count(q->hook, 2);
		nm_emit(q, hit, NM_VERDICT_AUDIT, is_lsm);
		return NM_VERDICT_AUDIT;
	}
	nm_count(q->hook, 1);
	nm_emit(q, hit, NM_VERDICT_DENY, is_lsm);
	return NM_VERDICT_DENY;
}

static __always_inline int nm_slot_counts(__u32 slot)
{
	__u32 group = slot / NM_BUCKET_GROUP;
	struct nm_bucket_group *g = bpf_map_lookup_elem(&buckets, &group);

	return g && g->count[slot % NM_BUCKET_GROUP];
}

/* Is any rule near this address? Two array reads, inlined by the verifier. */
static __always_inline int nm_may_match(const struct nm_rule_key *k)
{
	return nm_slot_counts(nm_wide_slot(k->dir, k->family)) ||
	       nm_slot_counts(nm_bucket_slot(k->dir, k->family, k->addr));
}

/*
 * Does set id hold for port and protocol class pbit? The bitmaps for TCP
 * and UDP, the id's classes for the rest (nm_set_id_classes). Returns the
 * hit (prefixlen plen) or 0. Global for the same reason as nm_lookup:
 * verified once, not at each of the slots that may call it.
 */
__noinline __u64 nm_set_hit(__u32 plen, __u32 id, __u32 port, __u32 pbit)
{
	struct nm_port_set *set;
	__u64 word;

	/* NM_PROTO_SET in the hit's protos: counted per port (rule_hits) */
	if (!(pbit & NM_PROTO_PORTED))
		return nm_set_id_classes(id) & pbit ? nm_hit((__u16)plen, 0, 0xffff, (__u8)pbit | NM_PROTO_SET) : 0;
	set = bpf_map_lookup_elem(&port_sets, &id);
	if (!set)
		return 0; /* user space writes a set before naming it */
	word = set->bits[nm_port_set_proto(pbit) & 1][(port & 0xffff) / 64];
	return (word >> (port % 64)) & 1 ? nm_hit((__u16)plen, (__u16)port, (__u16)port, (__u8)pbit | NM_PROTO_SET)
					 : 0;
}

/*
 * The first port rule of one prefix in generation gen that matches, as a
 * hit; or 0. A set reports the one port and protocol it matched. The slots
 * a generation sees are all rules, or one set and nothing else (an edit
 * hides every old slot from the generation that gets a new set), so a set
 * decides alone; and only r[0] and r[1] may name one (NM_SET_SLOTS). Both
 * keep verification small: a set check on every slot, going on after it,
 * took it from 25k to 61k instructions per program on 6.18 and the 5.10
 * load under TCG from ~40 s to 147 s; this way it is 23k.
 */
static __always_inline __u64 nm_port_hit(const struct nm_rule_val *val, __u16 port, __u8 pbit,
					 const struct nm_proto_ask *ask, __u32 gen)
{
	int i;

#pragma unroll
	for (i = 0; i < NM_PORT_RULES; i++) {
		const struct nm_port_rule *r = &val->r[i];

		if (i >= val->count)
			break;
		if (!nm_port_rule_in_gen(r, gen))
			continue;
		if (i < NM_SET_SLOTS && nm_port_rule_is_set(r))
			return nm_set_hit(val->prefixlen, nm_port_set_id(r), port, pbit);
		if (nm_port_rule_holds(r, ask))
			return nm_hit(val->prefixlen, r->lo, r->hi, r->protos);
	}
	return 0;
}

/*
 * The rules of one address, only where `buckets` says a rule lies near
 * it (two array reads decide most lookups): first the exact host rules
 * (one hash lookup), then the trie: from the most specific matching prefix to every shorter prefix
 * covering the address (lookup again with prefixlen = found - 1), because
 * a rule on a covering prefix must hold even when a more specific prefix
 * exists: `10.0.0.0/8 port 22` still denies 10.1.2.3:22 when
 * `10.1.0.0/16 port 80` exists. A walk longer than NM_MAX_DEPTH (user space
 * never lets the store get there, but a store left inconsistent could)
 * fails closed rather than let a covering rule go unchecked.
 *
 * Global, not static: the verifier checks a global function once, on its
 * own, instead of again at every call with the caller's state. nm_decide
 * calls it up to three times (the any-address), and as a static function
 * that multiplied verification: 34k -> 198k instructions per cgroup
 * program on 6.18, 775k of the 1M limit for lsm_sendmsg on 6.1, and
 * 4.5 minutes of loading under qemu TCG. Its arguments are scalars because
 * 5.10 passes nothing else to a global function: hdr is the key's first
 * 8 bytes (prefixlen, dir, family, pad), a0/a1 its address, query the
 * port | the protocol bit << 16 | the generation << 24 (nm_query_word).
 * Returns a packed hit (nm_hit) or 0.
 */
__noinline __u64 nm_lookup(__u64 hdr, __u64 a0, __u64 a1, __u32 query)
{
	__u16 port = (__u16)query;
	__u8 pbit = (__u8)(query >> 16);
	__u32 gen = query >> 24;
	struct nm_proto_ask ask;
	struct nm_rule_key key;
	struct nm_rule_val *val;
	__u64 hit;
	int i;

	__builtin_memcpy(&key, &hdr, 8);
	__builtin_memcpy(key.addr, &a0, 8);
	__builtin_memcpy(key.addr + 8, &a1, 8);
	if (!nm_may_match(&key))
		return 0;
	ask = nm_proto_ask(port, pbit); /* after the gate: far lookups stop before */
	val = bpf_map_lookup_elem(&hosts, &key);
	if (val) {
		hit = nm_port_hit(val, port, pbit, &ask, gen);
		if (hit)
			return hit;
	}
	for (i = 0; i < NM_MAX_DEPTH; i++) {
		val = bpf_map_lookup_elem(&nets, &key);
		if (!val)
			return 0;
		if (val->prefixlen < NM_KEY_HDR_BITS && !nm_list_sees_any(key.list))
			return 0; /* the global `any`, which stops before the list */
		hit = nm_port_hit(val, port, pbit, &ask, gen);
		if (hit)
			return hit;
		if (val->prefixlen <= NM_KEY_ANY_BITS)
			return 0;
		key.prefixlen = val->prefixlen - 1;
	}
	return nm_hit(NM_RULE_FAIL_CLOSED, NM_FC_WALK_LIMIT, 0, 0);
}

/*
 * One more operation decided by the rule of hit, found for the query key
 * in hdr/a0/a1 (nm_lookup's arguments): the rule's key is the query's
 * masked to the rule's prefix. Global, for the reason nm_lookup is: one
 * verification, whatever calls it.
 */
__noinline int nm_hit_count(__u64 hdr, __u64 a0, __u64 a1, __u64 hit)
{
	struct nm_hit_key hk = {};
	__u32 bits, i;
	__u64 one = 1, *n;

	__builtin_memcpy(&hk.key, &hdr, 8);
	__builtin_memcpy(hk.key.addr, &a0, 8);
	__builtin_memcpy(hk.key.addr + 8, &a1, 8);
	hk.key.prefixlen = (__u16)hit;
	if (hk.key.prefixlen >= NM_RULE_DEFAULT)
		return 0; /* no rule decided */
	bits = hk.key.prefixlen > NM_KEY_HDR_BITS ? hk.key.prefixlen - NM_KEY_HDR_BITS : 0;
	if (hk.key.prefixlen <= NM_KEY_ANY_BITS)
		hk.key.family = 0; /* `any`: dir only */
	for (i = 0; i < 16; i++) {
		if (bits >= 8) {
			bits -= 8;
			continue;
		}
		hk.key.addr[i] &= (__u8)(0xff00 >> bits);
		bits = 0;
	}
	hk.lo = (__u16)(hit >> 16);
	hk.hi = (__u16)(hit >> 32);
	hk.protos = (__u8)(hit >> 48);
	n = bpf_map_lookup_elem(&rule_hits, &hk);
	if (n) {
		__sync_fetch_and_add(n, 1);
		return 1;
	}
	/* the first hit: a concurrent first makes one of the two fail, and
	 * that one adds to the entry the other made */
	if (bpf_map_update_elem(&rule_hits, &hk, &one, BPF_NOEXIST) == 0)
		return 1;
	n = bpf_map_lookup_elem(&rule_hits, &hk);
	if (n)
		__sync_fetch_and_add(n, 1);
	return n != 0;
}

static __always_inline void nm_count_rule(const struct nm_query *q, __u64 hit)
{
	__u64 w[3];

	__builtin_memcpy(w, &q->key, sizeof(w));
	nm_hit_count(w[0], w[1], w[2], hit);
}

static __always_inline __u64 nm_check(const struct nm_rule_key *k, __u16 port, __u8 pbit, __u32 gen)
{
	__u64 w[3];

	__builtin_memcpy(w, k, sizeof(w));
	return nm_lookup(w[0], w[1], w[2], port | (__u32)pbit << 16 | (gen & 1) << 24);
}

static __always_inline int nm_addr_zero(const __u8 *addr)
{
	const __u32 *a = (const __u32 *)addr;

	return (a[0] | a[1] | a[2] | a[3]) == 0;
}

static __always_inline void nm_set_loopback(struct nm_rule_key *k, __u8 family)
{
	__builtin_memset(k->addr, 0, sizeof(k->addr));
	k->family = family;
	if (family == NM_FAM_V4) {
		k->addr[0] = 127;
		k->addr[3] = 1;
	} else {
		k->addr[15] = 1;
	}
}

/*
 * An operation aimed at the any-address (0.0.0.0, ::, ::ffff:0.0.0.0: all
 * arrive here as a zero address) goes somewhere else, which the kernel
 * picks after the hooks have run:
 * - IPv4: the socket's source address, or 127.0.0.1 when it has none
 *   (__ip_route_output_key: a zero daddr becomes saddr, or loopback);
 * - IPv6: ::1 (tcp_v6_connect, __ip6_datagram_connect, udpv6_sendmsg),
 *   or 127.0.0.1 on a socket whose source is v4-mapped.
 * A bind or listen on the any-address also takes in loopback traffic, so
 * `dir bind` rules on 127.0.0.1 and ::1 hold for it. Writes the stand-in
 * addresses to alt[] and returns how many (at most 2).
 */
static __always_inline int nm_any_targets(const struct nm_query *q, struct nm_rule_key alt[2])
{
	const struct nm_rule_key *k = &q->key;

	alt[0] = *k;
	alt[1] = *k;
	if (k->family == NM_FAM_V4) {
		if (q->src.family == NM_FAM_V4 && !nm_addr_zero(q->src.addr))
			__builtin_memcpy(alt[0].addr, q->src.addr, 4);
		else
			nm_set_loopback(&alt[0], NM_FAM_V4);
		return 1;
	}
	nm_set_loopback(&alt[0], NM_FAM_V6);
	if (q->src.family != NM_FAM_V4 && k->dir != NM_DIR_BIND)
		return 1;
	nm_set_loopback(&alt[1], NM_FAM_V4);
	return 2;
}

/* The any-address: where the kernel will really send it (nm_any_targets).
 * On a hit, q->key becomes the address that matched, for the event. */
static __always_inline __u64 nm_check_any(struct nm_query *q, __u8 pbit, __u32 gen)
{
	struct nm_rule_key alt[2];
	__u64 hit;
	int n, i;

	if (q->src_unknown) /* and the store is not empty: nm_decide */
		return nm_hit(NM_RULE_FAIL_CLOSED, NM_FC_ANY_SOURCE, 0, 0);
	n = nm_any_targets(q, alt);
	for (i = 0; i < 2 && i < n; i++) {
		hit = nm_check(&alt[i], q->port, pbit, gen);
		if (hit) {
			q->key = alt[i];
			return hit;
		}
	}
	return 0;
}

/* The address asked for, and for the any-address also where the kernel
 * will really send it, so that a rule on 127.0.0.1 holds for a connect to
 * 0.0.0.0: in one list. */
static __always_inline __u64 nm_check_list(struct nm_query *q, __u16 list, __u32 gen)
{
	__u64 hit;

	q->key.list = list;
	hit = nm_check(&q->key, q->port, q->pclass, gen);
	/* A query with a shorter prefixlen (sock_create) has no address. */
	if (!hit && q->key.prefixlen == NM_MAX_PREFIXLEN && nm_addr_zero(q->key.addr))
		hit = nm_check_any(q, q->pclass, gen);
	return hit;
}

/*
 * Does the scope's default deny this operation? Only where the hook has an
 * address: at socket creation (sock_create) a TCP or UDP socket is checked
 * later, where it connects, sends or binds; a socket of a class without
 * ports is refused, since no later hook sees all it can reach.
 */
static __always_inline int nm_default_denies(const struct nm_query *q, __u8 default_deny)
{
	if (!(default_deny & (1u << (q->key.dir & 3))))
		return 0;
	return q->key.prefixlen == NM_MAX_PREFIXLEN || (q->pclass & NM_PROTO_PORTLESS);
}

/*
 * The one decision path, for one scope (0: the global one; a cgroup
 * program attached at a scope's cgroup decides for that scope, and every
 * scope on a socket's cgroup path has its own attachment there, so all of
 * them must agree). In the scope: a matching allow rule lets the
 * operation through; else a matching deny rule denies it; else the
 * scope's default decides. An empty list is not looked up (its count in
 * the generation's meta), so the global deny list alone costs what it
 * did before lists. Returns NM_VERDICT_*.
 */
static __noinline int nm_decide(struct nm_query *q, int is_lsm, __u32 scope, __u8 default_deny)
{
	__u32 zero = 0, gen, base = nm_list_id(scope, 0);
	struct nm_config *cfg = bpf_map_lookup_elem(&config, &zero);
	struct nm_meta *m;
	__u64 hit;

	if (!cfg)
		return NM_VERDICT_ALLOW; /* cannot happen: an array entry */
	/*
	 * An LSM link lives on until the kernel frees it, which it does from
	 * a workqueue after the last reference is gone (no BPF_LINK_DETACH for
	 * tracing links on 6.12 and older), so `detach lsm` switches the layer
	 * off here first.
	 */
	if (is_lsm && !cfg->lsm_enabled)
		return NM_VERDICT_ALLOW;
	/* Read once: every lookup of this decision sees the same rule set,
	 * even when an edit switches generations meanwhile. */
	gen = *(volatile __u32 *)&cfg->active_gen & 1;
	if (!scope)
		default_deny = cfg->default_deny;
	nm_count(q->hook, 0);
	q->scope = (__u16)scope;
	/* An empty generation has no rules, whatever its entries say: a bulk
	 * load into an empty store writes them unflagged, and a flush leaves
	 * them to be deleted after the switch (src/store_txn.c). */
	m = bpf_map_lookup_elem(&rule_lists, &gen);
	if (!m)
		return NM_VERDICT_ALLOW; /* cannot happen: an array entry */
	if (m->rules) {
		hit = m->list_rules[(base + 1) & (NM_LISTS - 1)] ? nm_check_list(q, base + 1, gen) : 0;
		if (hit) {
			nm_count_rule(q, hit);
			return NM_VERDICT_ALLOW;
		}
		hit = m->list_rules[base & (NM_LISTS - 1)] ? nm_check_list(q, base, gen) : 0;
		if (hit) {
			nm_count_rule(q, hit);
			return nm_verdict_hit(q, hit, is_lsm);
		}
	}
	if (nm_default_denies(q, default_deny))
		return nm_verdict_hit(q, nm_hit(NM_RULE_DEFAULT, 0, 0, 0), is_lsm);
	return NM_VERDICT_ALLOW;
}

/* ---- address helpers ---- */

static __always_inline int nm_is_v4_mapped(const __u32 *a)
{
	return a[0] == 0 && a[1] == 0 && a[2] == bpf_htonl(0xffff);
}

static __always_inline void nm_set_v4(__u8 *dst, __be32 a)
{
	__builtin_memcpy(dst, &a, 4);
}

/* Store a v6 address as v6, or as IPv4 when it is ::ffff:a.b.c.d. */
static __always_inline void nm_set_v6(struct nm_rule_key *k, const __u32 *a)
{
	if (nm_is_v4_mapped(a)) {
		k->family = NM_FAM_V4;
		nm_set_v4(k->addr, a[3]);
	} else {
		k->family = NM_FAM_V6;
		__builtin_memcpy(k->addr, a, 16);
	}
}

static __always_inline void nm_query_init(struct nm_query *q, __u8 hook, __u8 dir)
{
	__builtin_memset(q, 0, sizeof(*q));
	q->hook = hook;
	q->key.dir = dir;
	q->key.prefixlen = NM_MAX_PREFIXLEN;
}

/* ---- cgroup sock_addr layer: return 1 allow, 0 deny ---- */

static __always_inline int nm_cgroup_verdict(struct nm_query *q)
{
	__u32 zero = 0, scope = 0;
	struct nm_config *cfg = bpf_map_lookup_elem(&config, &zero);
	struct nm_scope_ctx *sc;
	__u8 default_deny = 0;

	/* With no scope anywhere every attachment is the global one. The
	 * storage helper is a real call: ~30 ns more far from every rule
	 * (gate-bench, layout 6 -> 7: far4 1.23-1.28 with it, 1.05 without);
	 * the config is an inlined array read. */
	if (cfg && cfg->scope_levels) {
		sc = bpf_get_local_storage(&scope_ctx, 0);
		scope = sc->scope;
		default_deny = sc->default_deny;
	}
	return nm_decide(q, 0, scope, default_deny) == NM_VERDICT_DENY ? 0 : 1;
}

/* Context fields are read into locals first, and the family comes from the
 * program type: the verifier only allows the ctx fields of the attach type. */
static __always_inline int nm_sock_addr4(struct bpf_sock_addr *ctx, __u8 hook, __u8 dir, int sendmsg)
{
	struct nm_query q;
	__u32 ip = ctx->user_ip4;
	__u32 port = ctx->user_port;
	__u32 protocol = ctx->protocol;
	__u32 type = ctx->type;

	nm_query_init(&q, hook, dir);
	q.key.family = NM_FAM_V4;
	nm_set_v4(q.key.addr, ip);
	q.port = bpf_ntohs((__u16)port);
	q.protocol = nm_protocol(protocol);
	q.pclass = nm_proto_class(type, protocol);
	if (sendmsg)
		nm_set_v4(q.laddr, ctx->msg_src_ip4);
	if (ip == 0) {
		/* sendmsg: the source after IP_PKTINFO; connect: the bound one
		 * (bind: none yet, so loopback stands in). */
		__u32 src = sendmsg ? ctx->msg_src_ip4 : ctx->sk->src_ip4;

		q.src.family = NM_FAM_V4;
		nm_set_v4(q.src.addr, src);
	}
	return nm_cgroup_verdict(&q);
}

static __always_inline int nm_sock_addr6(struct bpf_sock_addr *ctx, __u8 hook, __u8 dir, int sendmsg)
{
	struct nm_query q;
	__u32 ip[4], src[4];
	__u32 port = ctx->user_port;
	__u32 protocol = ctx->protocol;
	__u32 type = ctx->type;

	ip[0] = ctx->user_ip6[0];
	ip[1] = ctx->user_ip6[1];
	ip[2] = ctx->user_ip6[2];
	ip[3] = ctx->user_ip6[3];
	nm_query_init(&q, hook, dir);
	nm_set_v6(&q.key, ip);
	q.port = bpf_ntohs((__u16)port);
	q.protocol = nm_protocol(protocol);
	q.pclass = nm_proto_class(type, protocol);
	if (sendmsg) {
		src[0] = ctx->msg_src_ip6[0];
		src[1] = ctx->msg_src_ip6[1];
		src[2] = ctx->msg_src_ip6[2];
		src[3] = ctx->msg_src_ip6[3];
		__builtin_memcpy(q.laddr, src, 16);
	}
	if (nm_addr_zero(q.key.addr)) {
		/* A v4-mapped source sends :: to 127.0.0.1 (nm_any_targets).
		 * ::ffff:0.0.0.0 is routed by the IPv4 code from the bound
		 * address, which is what sk->src_ip6 holds for both. */
		struct bpf_sock *sk = ctx->sk;

		src[0] = sk->src_ip6[0];
		src[1] = sk->src_ip6[1];
		src[2] = sk->src_ip6[2];
		src[3] = sk->src_ip6[3];
		nm_set_v6(&q.src, src);
	}
	return nm_cgroup_verdict(&q);
}

SEC("cgroup/connect4")
int nm_connect4(struct bpf_sock_addr *ctx)
{
	return nm_sock_addr4(ctx, NM_HOOK_CONNECT4, NM_DIR_EGRESS, 0);
}

SEC("cgroup/connect6")
int nm_connect6(struct bpf_sock_addr *ctx)
{
	return nm_sock_addr6(ctx, NM_HOOK_CONNECT6, NM_DIR_EGRESS, 0);
}

SEC("cgroup/sendmsg4")
int nm_sendmsg4(struct bpf_sock_addr *ctx)
{
	return nm_sock_addr4(ctx, NM_HOOK_SENDMSG4, NM_DIR_EGRESS, 1);
}

SEC("cgroup/sendmsg6")
int nm_sendmsg6(struct bpf_sock_addr *ctx)
{
	return nm_sock_addr6(ctx, NM_HOOK_SENDMSG6, NM_DIR_EGRESS, 1);
}

/*
 * bind(2) inside the cgroup: the local address and port asked for, checked
 * against `dir bind` rules as the LSM bind hook checks them (the
 * any-address against loopback too, nm_any_targets: an unbound socket has
 * no source). Port 0 (any free port) is checked as 0. A listen or accept
 * has no cgroup hook.
 */
SEC("cgroup/bind4")
int nm_bind4(struct bpf_sock_addr *ctx)
{
	return nm_sock_addr4(ctx, NM_HOOK_BIND4, NM_DIR_BIND, 0);
}

SEC("cgroup/bind6")
int nm_bind6(struct bpf_sock_addr *ctx)
{
	return nm_sock_addr6(ctx, NM_HOOK_BIND6, NM_DIR_BIND, 0);
}

/*
 * socket(2) inside the cgroup, for the classes the hooks above cannot
 * check by address: raw sockets (no cgroup hook sees their sends) and
 * ping sockets (no cgroup hook sees an unconnected send; measured on
 * 6.18), SCTP and the rest. Creation has no address, so only egress rules
 * on every address hold here: `any`, 0.0.0.0/0, ::/0, with no port. The
 * query's prefixlen (NM_KEY_HDR_BITS) makes the trie return only those.
 * TCP and UDP sockets are checked where they connect and send.
 */
SEC("cgroup/sock_create")
int nm_sock_create(struct bpf_sock *sk)
{
	__u32 family = sk->family, type = sk->type, protocol = sk->protocol;
	struct nm_query q;

	if (family != AF_INET && family != AF_INET6)
		return 1;
	nm_query_init(&q, NM_HOOK_SOCK_CREATE, NM_DIR_EGRESS);
	q.pclass = nm_proto_class(type, protocol);
	if (q.pclass & NM_PROTO_PORTED)
		return 1;
	q.key.prefixlen = NM_KEY_HDR_BITS;
	q.key.family = family == AF_INET ? NM_FAM_V4 : NM_FAM_V6;
	q.protocol = nm_protocol(protocol);
	return nm_cgroup_verdict(&q);
}

/* ---- BPF-LSM layer: return 0 allow, -EPERM deny ----
 * Each hook twice: nm_lsm_X checks the global scope, nm_lsm_X_scoped the
 * task's scopes too, with bpf_loop, which kernels before 5.17 lack and
 * whose callback 5.10 cannot even load as dead code (a BPF_PSEUDO_FUNC
 * ld_imm64). The loader loads one of the two (nm_skel_prog). Both are
 * made by NM_LSM_PROGS from the hook's nm_lsm_X_do(args..., scoped). */
#define NM_ARGS(...) __VA_ARGS__
#define NM_LSM_PROGS(sec, name, call, ...)                     \
	SEC("lsm/" sec)                                         \
	int BPF_PROG(name, __VA_ARGS__)                         \
	{                                                       \
		return name##_do(NM_ARGS call, 0);              \
	}                                                       \
	SEC("lsm/" sec)                                         \
	int BPF_PROG(name##_scoped, __VA_ARGS__)                \
	{                                                       \
		return name##_do(NM_ARGS call, 1);              \
	}

/*
 * The LSM layer: the task's cgroup decides which scopes hold, every one
 * on its path must agree, the global scope included. bpf_loop (5.17+)
 * walks up from the task's cgroup one level per call of nm_scope_step;
 * at a level where some scope's cgroup is (config.scope_levels) it looks
 * the cgroup up in scope_ids and decides that scope as nm_decide decides
 * one. The verifier checks the callback as one loop body. Two plainer
 * forms stopped at its 1M instructions on lsm_connect: nm_decide in a
 * loop over the scopes found (5.10, and again with every lookup a global
 * call), and a plain walk collecting the scopes into an array for a
 * bpf_loop to decide (7.2: the walk's 32 iterations times the count found
 * so far). Kernels without bpf_loop load the build with scoped = 0 (the
 * loader picks it: NM_HELPER_LOOP), and user space reports a scope's
 * rules there as the cgroup layer's alone. A store with no scope costs
 * the LSM hooks one config read more.
 */
struct nm_scope_walk {
	struct nm_query *q;     /* the hook's: a copy here made the stack of the
				   five frames down to nm_emit 544 bytes (6.1 allows 512) */
	struct nm_rule_key key; /* q's, which a scope's check may point at a stand-in */
	__u64 cg;               /* the cgroup this step looks at (a kernel pointer) */
	__u32 levels;
	int verdict;
};

static int nm_scope_step(__u32 i, void *ctx)
{
	struct nm_scope_walk *w = ctx;
	struct cgroup *cg = (struct cgroup *)w->cg;
	struct nm_scope_ctx *sc;
	__u64 id;
	int level;

	if (!cg)
		return 1;
	level = BPF_CORE_READ(cg, level);
	if (level < 1)
		return 1; /* the root: the global scope, nm_decide's after the walk */
	w->cg = (__u64)BPF_CORE_READ(cg, self.parent);
	if (level >= NM_MAX_SCOPE_LEVEL || !(w->levels & (1u << level)))
		return 0;
	id = BPF_CORE_READ(cg, kn, id);
	sc = bpf_map_lookup_elem(&scope_ids, &id);
	if (!sc)
		return 0;
	w->q->key = w->key;
	if (nm_decide(w->q, 1, sc->scope, sc->default_deny) != NM_VERDICT_DENY)
		return 0;
	w->verdict = NM_VERDICT_DENY;
	return 1; /* stops the loop */
}

static __always_inline int nm_lsm_decide(struct nm_query *q, const int scoped)
{
	struct task_struct *task;
	struct nm_scope_walk w;
	__u32 zero = 0;
	struct nm_config *cfg = bpf_map_lookup_elem(&config, &zero);

	if (scoped && cfg && cfg->scope_levels) {
		task = (struct task_struct *)bpf_get_current_task();
		w.cg = (__u64)BPF_CORE_READ(task, cgroups, dfl_cgrp);
		w.levels = cfg->scope_levels;
		w.q = q;
		w.key = q->key;
		w.verdict = NM_VERDICT_ALLOW;
		bpf_loop(NM_MAX_CGROUP_DEPTH, nm_scope_step, &w, 0);
		if (w.verdict == NM_VERDICT_DENY)
			return NM_VERDICT_DENY;
		q->key = w.key; /* as the hook asked, for the global scope */
		q->scope = 0;
	}
	return nm_decide(q, 1, 0, 0);
}

static __always_inline int nm_lsm_verdict(struct nm_query *q, const int scoped)
{
	return nm_lsm_decide(q, scoped) == NM_VERDICT_DENY ? -EPERM : 0;
}

/* Fill q->key from a user-supplied sockaddr (kernel copy). 0 if not inet. */
static __always_inline int nm_from_sockaddr(struct nm_query *q, const void *sa, int len)
{
	__u16 family = 0;

	if (!sa)
		return 0;
	bpf_probe_read_kernel(&family, sizeof(family), sa);
	if (family == AF_INET && len >= (int)sizeof(struct nm_sockaddr_in)) {
		struct nm_sockaddr_in in = {};

		bpf_probe_read_kernel(&in, sizeof(in), sa);
		q->key.family = NM_FAM_V4;
		nm_set_v4(q->key.addr, in.sin_addr);
		q->port = bpf_ntohs(in.sin_port);
		return 1;
	}
	if (family == AF_INET6 && len >= (int)sizeof(struct nm_sockaddr_in6)) {
		struct nm_sockaddr_in6 in6 = {};

		bpf_probe_read_kernel(&in6, sizeof(in6), sa);
		nm_set_v6(&q->key, (const __u32 *)in6.sin6_addr);
		q->port = bpf_ntohs(in6.sin6_port);
		return 1;
	}
	return 0;
}

/* Remote (peer=1) or local (peer=0) address of a socket into q->key. */
static __always_inline int nm_from_sock(struct nm_query *q, struct sock *sk, int peer)
{
	__u16 family = BPF_CORE_READ(sk, __sk_common.skc_family);

	if (family == AF_INET) {
		__be32 a = peer ? BPF_CORE_READ(sk, __sk_common.skc_daddr)
				: BPF_CORE_READ(sk, __sk_common.skc_rcv_saddr);

		q->key.family = NM_FAM_V4;
		nm_set_v4(q->key.addr, a);
	} else if (family == AF_INET6) {
		__u32 a[4];

		if (peer)
			bpf_core_read(a, sizeof(a), &sk->__sk_common.skc_v6_daddr);
		else
			bpf_core_read(a, sizeof(a), &sk->__sk_common.skc_v6_rcv_saddr);
		nm_set_v6(&q->key, a);
	} else {
		return 0;
	}
	if (peer)
		q->port = bpf_ntohs(BPF_CORE_READ(sk, __sk_common.skc_dport));
	else
		q->port = BPF_CORE_READ(sk, __sk_common.skc_num);
	return 1;
}

static __always_inline void nm_lsm_protocol(struct nm_query *q, struct socket *sock)
{
	__u16 protocol = BPF_CORE_READ(sock, sk, sk_protocol);

	q->protocol = nm_protocol(protocol);
	q->pclass = nm_proto_class(BPF_CORE_READ(sock, type), protocol);
}

/* The socket's own address as q->src, for an any-address destination. */
static __always_inline void nm_lsm_src(struct nm_query *q, struct socket *sock)
{
	struct nm_query local;

	if (!nm_addr_zero(q->key.addr))
		return;
	nm_query_init(&local, 0, 0);
	if (nm_from_sock(&local, BPF_CORE_READ(sock, sk), 0))
		q->src = local.key;
}

static __always_inline int nm_lsm_connect_do(struct socket *sock, struct sockaddr *address, int addrlen, int ret, const int scoped)
{
	struct nm_query q;

	if (ret)
		return ret;
	nm_query_init(&q, NM_HOOK_LSM_CONNECT, NM_DIR_EGRESS);
	if (!nm_from_sockaddr(&q, address, addrlen))
		return 0;
	nm_lsm_protocol(&q, sock);
	nm_lsm_src(&q, sock);
	return nm_lsm_verdict(&q, scoped);
}

NM_LSM_PROGS("socket_connect", nm_lsm_connect, (sock, address, addrlen, ret), struct socket *sock, struct sockaddr *address, int addrlen, int ret)

static __always_inline int nm_lsm_bind_do(struct socket *sock, struct sockaddr *address, int addrlen, int ret, const int scoped)
{
	struct nm_query q;

	if (ret)
		return ret;
	nm_query_init(&q, NM_HOOK_LSM_BIND, NM_DIR_BIND);
	if (!nm_from_sockaddr(&q, address, addrlen))
		return 0;
	nm_lsm_protocol(&q, sock);
	return nm_lsm_verdict(&q, scoped);
}

NM_LSM_PROGS("socket_bind", nm_lsm_bind, (sock, address, addrlen, ret), struct socket *sock, struct sockaddr *address, int addrlen, int ret)

/* listen: the local address and port the socket is bound to. */
static __always_inline int nm_lsm_listen_do(struct socket *sock, int backlog, int ret, const int scoped)
{
	struct nm_query q;

	if (ret)
		return ret;
	nm_query_init(&q, NM_HOOK_LSM_LISTEN, NM_DIR_BIND);
	if (!nm_from_sock(&q, BPF_CORE_READ(sock, sk), 0))
		return 0;
	nm_lsm_protocol(&q, sock);
	return nm_lsm_verdict(&q, scoped);
}

NM_LSM_PROGS("socket_listen", nm_lsm_listen, (sock, backlog, ret), struct socket *sock, int backlog, int ret)

/*
 * accept: the new socket has no peer (not even a struct sock) when this
 * hook runs, and refusing the connection at the head of the queue would
 * leave it there and stall the listener. So accept is checked against the
 * LISTENING socket's local address (bind rules: a rule added after a server
 * started listening stops it accepting); ingress rules on the peer apply at
 * the accepted socket's recvmsg, where the peer is known.
 */
static __always_inline int nm_lsm_accept_do(struct socket *sock, struct socket *newsock, int ret, const int scoped)
{
	struct nm_query q;

	if (ret)
		return ret;
	nm_query_init(&q, NM_HOOK_LSM_ACCEPT, NM_DIR_BIND);
	if (!nm_from_sock(&q, BPF_CORE_READ(sock, sk), 0))
		return 0;
	nm_lsm_protocol(&q, sock);
	return nm_lsm_verdict(&q, scoped);
}

NM_LSM_PROGS("socket_accept", nm_lsm_accept, (sock, newsock, ret), struct socket *sock, struct socket *newsock, int ret)

/*
 * sendmsg: the explicit destination if there is one, else the connected
 * peer. A TCP socket past connect ignores msg_name, so its peer is what is
 * checked: a made-up msg_name must not stand in for a denied peer. An
 * unconnected TCP socket with a msg_name is a Fast Open connect.
 */
static __always_inline int nm_lsm_sendmsg_do(struct socket *sock, struct msghdr *msg, int size, int ret, const int scoped)
{
	struct sock *sk = BPF_CORE_READ(sock, sk);
	struct nm_query q;
	void *name;
	int namelen;

	if (ret)
		return ret;
	nm_query_init(&q, NM_HOOK_LSM_SENDMSG, NM_DIR_EGRESS);
	nm_lsm_protocol(&q, sock);
	name = BPF_CORE_READ(msg, msg_name);
	namelen = BPF_CORE_READ(msg, msg_namelen);
	/* The class, not the protocol number: a raw socket of protocol TCP
	 * sends to msg_name even when connected. */
	if (q.pclass == NM_PROTO_TCP && BPF_CORE_READ(sk, __sk_common.skc_state) != TCP_CLOSE)
		name = NULL;
	if (!nm_from_sockaddr(&q, name, namelen)) {
		if (!nm_from_sock(&q, sk, 1) || nm_addr_zero(q.key.addr))
			return 0;
		return nm_lsm_verdict(&q, scoped);
	}
	nm_lsm_src(&q, sock);
	/* IP_PKTINFO / IPV6_PKTINFO may name the source, which decides where
	 * the any-address goes; this hook runs before they are parsed. */
	if (BPF_CORE_READ(msg, msg_controllen))
		q.src_unknown = 1;
	return nm_lsm_verdict(&q, scoped);
}

NM_LSM_PROGS("socket_sendmsg", nm_lsm_sendmsg, (sock, msg, size, ret), struct socket *sock, struct msghdr *msg, int size, int ret)

/* recvmsg: only a connected socket has a peer before data is dequeued;
 * an unconnected UDP socket's sender is unknown here and is allowed. */
static __always_inline int nm_lsm_recvmsg_do(struct socket *sock, struct msghdr *msg, int size, int flags, int ret, const int scoped)
{
	struct nm_query q;

	if (ret)
		return ret;
	nm_query_init(&q, NM_HOOK_LSM_RECVMSG, NM_DIR_INGRESS);
	if (!nm_from_sock(&q, BPF_CORE_READ(sock, sk), 1) || nm_addr_zero(q.key.addr))
		return 0;
	nm_lsm_protocol(&q, sock);
	return nm_lsm_verdict(&q, scoped);
}

NM_LSM_PROGS("socket_recvmsg", nm_lsm_recvmsg, (sock, msg, size, flags, ret), struct socket *sock, struct msghdr *msg, int size, int flags, int ret)
