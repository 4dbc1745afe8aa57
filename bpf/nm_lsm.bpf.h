// SPDX-License-Identifier: GPL-2.0
/*
 * The BPF-LSM layer: socket_connect, bind, listen, accept, sendmsg and
 * recvmsg, each built twice (global scope; every scope of the task).
 * Part of netmonctl.bpf.c, which includes it once after its maps: one
 * object, one skeleton. Split by concern to keep each file readable; it
 * is not a header of its own (it defines functions and programs).
 */
#ifndef NM_LSM_BPF_H
#define NM_LSM_BPF_H

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
	int near;               /* nm_rules_near(key), asked once for every level */
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
	if (!sc || nm_scope_allows(w->near, sc->default_deny, w->key.dir))
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
	int near;

	/*
	 * An LSM link lives on until the kernel frees it, which it does from
	 * a workqueue after the last reference is gone (no BPF_LINK_DETACH for
	 * tracing links on 6.12 and older), so `detach lsm` switches the layer
	 * off here first.
	 */
	if (!cfg || !cfg->lsm_enabled)
		return NM_VERDICT_ALLOW;
	nm_count(q->hook, 0);
	near = nm_rules_near(&q->key);
	if (scoped && cfg->scope_levels) {
		task = (struct task_struct *)bpf_get_current_task();
		w.cg = (__u64)BPF_CORE_READ(task, cgroups, dfl_cgrp);
		w.levels = cfg->scope_levels;
		w.q = q;
		w.key = q->key;
		w.near = near;
		w.verdict = NM_VERDICT_ALLOW;
		bpf_loop(NM_MAX_CGROUP_DEPTH, nm_scope_step, &w, 0);
		if (w.verdict == NM_VERDICT_DENY)
			return NM_VERDICT_DENY;
		q->key = w.key; /* as the hook asked, for the global scope */
		q->scope = 0;
	}
	if (nm_scope_allows(near, cfg->default_deny, q->key.dir))
		return NM_VERDICT_ALLOW;
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

#endif
