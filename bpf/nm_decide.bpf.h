// SPDX-License-Identifier: GPL-2.0
/*
 * The shared decision path: a query, its lookup in every list it names,
 * hit counts, events, and the verdict of one scope (nm_decide).
 * Part of netmonctl.bpf.c, which includes it once after its maps: one
 * object, one skeleton. Split by concern to keep each file readable; it
 * is not a header of its own (it defines functions and programs).
 */
#ifndef NM_DECIDE_BPF_H
#define NM_DECIDE_BPF_H

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

/* A hit of a stored rule: not 0, not fail-closed, not the default. */
static __always_inline int nm_hit_is_rule(__u64 hit)
{
	return hit && (__u16)hit < NM_RULE_DEFAULT;
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
 * Could any rule decide this query? Not when no rule of any list lies
 * near the address: the buckets gate counts every list and both
 * generations, so no lookup could hit. The any-address always could,
 * because rules near the addresses standing in for it decide
 * (nm_check_any), and so could a query without an address (sock_create).
 */
static __always_inline int nm_rules_near(const struct nm_rule_key *k)
{
	return k->prefixlen != NM_MAX_PREFIXLEN || nm_addr_zero(k->addr) || nm_may_match(k);
}

/*
 * Does a scope allow the operation without nm_decide? Yes when no rule is
 * near (nm_rules_near) and its default does not deny in this direction.
 * Every caller of nm_decide asks this first, in its own frame, so the
 * common case costs the config, the gate and the counter: asked inside
 * nm_decide (its call, its meta read) it cost ~20 ns more per scope, and
 * the whole path without this check ~60 ns more (gate-bench, far4 at 1M
 * rules: docs/benchmarks.md).
 */
static __always_inline int nm_scope_allows(int near, __u8 default_deny, __u8 dir)
{
	return !near && !(default_deny & (1u << (dir & 3)));
}

/*
 * The one decision path, for one scope (0: the global one; a cgroup
 * program attached at a scope's cgroup decides for that scope, and every
 * scope on a socket's cgroup path has its own attachment there, so all of
 * them must agree). In the scope: a matching allow rule lets the
 * operation through; else a matching deny rule denies it; else the
 * scope's default decides. An empty list is not looked up (its count in
 * the generation's meta), so the global deny list alone costs what it
 * did before lists. The caller counts the check (nm_count) and asks
 * nm_scope_allows first. Returns NM_VERDICT_*.
 */
static __noinline int nm_decide(struct nm_query *q, int is_lsm, __u32 scope, __u8 default_deny)
{
	__u32 zero = 0, gen, base = nm_list_id(scope, 0);
	struct nm_config *cfg = bpf_map_lookup_elem(&config, &zero);
	struct nm_meta *m;
	__u64 hit;

	if (!cfg)
		return NM_VERDICT_ALLOW; /* cannot happen: an array entry */
	/* Read once: every lookup of this decision sees the same rule set,
	 * even when an edit switches generations meanwhile. */
	gen = *(volatile __u32 *)&cfg->active_gen & 1;
	if (!scope)
		default_deny = cfg->default_deny;
	q->scope = (__u16)scope;
	/* An empty generation has no rules, whatever its entries say: a bulk
	 * load into an empty store writes them unflagged, and a flush leaves
	 * them to be deleted after the switch (src/store_txn.c). */
	m = bpf_map_lookup_elem(&rule_lists, &gen);
	if (!m)
		return NM_VERDICT_ALLOW; /* cannot happen: an array entry */
	if (m->rules) {
		hit = m->list_rules[(base + 1) & (NM_LISTS - 1)] ? nm_check_list(q, base + 1, gen) : 0;
		/* Only a rule allows: a fail-closed answer (an any-address whose
		 * source the hook cannot know) goes on to the deny list and the
		 * default, which it was an allow before 2026-11-25. */
		if (nm_hit_is_rule(hit)) {
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

#endif
