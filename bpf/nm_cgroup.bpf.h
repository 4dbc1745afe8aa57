// SPDX-License-Identifier: GPL-2.0
/*
 * The cgroup layer: sock_addr, bind and sock_create programs, and the
 * address helpers both layers use.
 * Part of netmonctl.bpf.c, which includes it once after its maps: one
 * object, one skeleton. Split by concern to keep each file readable; it
 * is not a header of its own (it defines functions and programs).
 */
#ifndef NM_CGROUP_BPF_H
#define NM_CGROUP_BPF_H

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
	__u8 default_deny;

	if (!cfg)
		return 1; /* cannot happen: an array entry */
	default_deny = cfg->default_deny;
	/* With no scope anywhere every attachment is the global one. The
	 * storage helper is a real call: ~30 ns more far from every rule
	 * (gate-bench, layout 6 -> 7: far4 1.23-1.28 with it, 1.05 without);
	 * the config is an inlined array read. */
	if (cfg->scope_levels) {
		sc = bpf_get_local_storage(&scope_ctx, 0);
		scope = sc->scope;
		if (scope)
			default_deny = sc->default_deny;
	}
	nm_count(q->hook, 0);
	if (nm_scope_allows(nm_rules_near(&q->key), default_deny, q->key.dir))
		return 1;
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

#endif
