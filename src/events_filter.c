// SPDX-License-Identifier: GPL-2.0
/*
 * netmonctl events, filters: `KIND VALUE` words parsed into a struct
 * nm_ev_filter, and the per-event match. Kinds AND together, repeats of one
 * kind OR.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "events_internal.h"

const char *const nm_ev_filter_kw[NM_EV_F_MAX + 1] = { "hook", "verdict", "pid", "comm", "cgroup",
						       "addr", "port", NULL };

/* Program names, then the operations they share (`connect` = connect4,
 * connect6 and lsm_connect; `socket` = sock_create). */
const char *const nm_events_hook_words[] = {
	"connect4", "connect6", "sendmsg4", "sendmsg6", "lsm_connect", "lsm_bind", "lsm_listen",
	"lsm_accept", "lsm_sendmsg", "lsm_recvmsg", "bind4", "bind6", "sock_create", "connect", "sendmsg",
	"bind", "listen", "accept", "recvmsg", "socket", NULL,
};
static const uint32_t ev_hook_op_mask[] = {
	(1u << NM_HOOK_CONNECT4) | (1u << NM_HOOK_CONNECT6) | (1u << NM_HOOK_LSM_CONNECT),
	(1u << NM_HOOK_SENDMSG4) | (1u << NM_HOOK_SENDMSG6) | (1u << NM_HOOK_LSM_SENDMSG),
	(1u << NM_HOOK_BIND4) | (1u << NM_HOOK_BIND6) | (1u << NM_HOOK_LSM_BIND),
	1u << NM_HOOK_LSM_LISTEN,
	1u << NM_HOOK_LSM_ACCEPT,
	1u << NM_HOOK_LSM_RECVMSG,
	1u << NM_HOOK_SOCK_CREATE,
};
_Static_assert(sizeof(nm_events_hook_words) / sizeof(nm_events_hook_words[0]) ==
		       NM_HOOK_MAX + sizeof(ev_hook_op_mask) / sizeof(ev_hook_op_mask[0]) + 1,
	       "one word per program, then one per operation");

static int ev_filter_hook(struct nm_ev_filter *f, const char *v, struct nm_ev_err *e)
{
	int i;

	for (i = 0; nm_events_hook_words[i] && strcmp(v, nm_events_hook_words[i]); i++)
		; /* exact first: `connect` is also a prefix of connect4 */
	if (!nm_events_hook_words[i])
		i = nm_keyword(v, nm_events_hook_words);
	if (i < 0)
		return nm_ev_errf(e, NM_EXIT_USAGE,
				  "hook %s: %s; expected a program name (connect4, connect6, "
				  "sendmsg4, sendmsg6, bind4, bind6, sock_create, lsm_connect, lsm_bind, "
				  "lsm_listen, lsm_accept, lsm_sendmsg, lsm_recvmsg) or an operation "
				  "(connect, sendmsg, bind, listen, accept, recvmsg, socket)",
				  v, i == -2 ? "ambiguous" : "unknown");
	f->hooks |= i < NM_HOOK_MAX ? 1u << i : ev_hook_op_mask[i - NM_HOOK_MAX];
	return 0;
}

static int ev_filter_cgroup(struct nm_ev_filter *f, const char *v, struct nm_ev_err *e)
{
	char path[NM_PATH_MAX];
	uint64_t id;
	int err;

	err = nm_cgroup_resolve(v, path, sizeof(path));
	if (err == -ENOTDIR)
		return nm_ev_errf(e, NM_EXIT_USAGE, "cgroup %s: not a cgroup v2 directory", v);
	if (!err)
		err = nm_cgroup_id(path, &id);
	if (err)
		return nm_ev_errf(e, NM_EXIT_USAGE, "cgroup %s: %s", v, strerror(-err));
	f->cg_path[f->ncg] = strdup(path);
	if (!f->cg_path[f->ncg])
		return nm_ev_errno(e, ENOMEM, "");
	f->cg_id[f->ncg++] = id;
	return 0;
}

static int ev_filter_addr(struct nm_ev_filter *f, const char *v, struct nm_ev_err *e)
{
	char msg[300], *word = (char *)v; /* nm_rule_parse only reads it */

	if (nm_rule_parse(1, &word, &f->addr[f->naddr], 1, msg, sizeof(msg)) < 0)
		return nm_ev_errf(e, NM_EXIT_USAGE, "addr %s", msg);
	f->naddr++;
	return 0;
}

int nm_ev_filter_add(struct nm_ev_filter *f, int kind, const char *v, struct nm_ev_err *e)
{
	int *n[NM_EV_F_MAX] = { NULL, NULL, &f->npid, &f->ncomm, &f->ncg, &f->naddr, &f->nport };
	uint64_t x;
	int i;

	if (kind < 0 || kind >= NM_EV_F_MAX)
		return nm_ev_errf(e, NM_EXIT_USAGE, "unknown filter");
	if (n[kind] && *n[kind] >= NM_EV_FILTER_MAX)
		return nm_ev_errf(e, NM_EXIT_USAGE, "at most %d '%s' filters", NM_EV_FILTER_MAX,
				  nm_ev_filter_kw[kind]);
	switch (kind) {
	case NM_EV_F_HOOK:
		return ev_filter_hook(f, v, e);
	case NM_EV_F_VERDICT: {
		static const char *const kw[] = { "deny", "audit", NULL };

		i = nm_keyword(v, kw);
		if (i < 0)
			return nm_ev_errf(e, NM_EXIT_USAGE, "verdict %s: expected deny | audit", v);
		f->verdicts |= 1u << (i == 0 ? NM_VERDICT_DENY : NM_VERDICT_AUDIT);
		return 0;
	}
	case NM_EV_F_PID:
		if (nm_parse_u64(v, UINT32_MAX, &x) || x == 0)
			return nm_ev_errf(e, NM_EXIT_USAGE, "pid %s: expected a process id", v);
		f->pid[f->npid++] = x;
		return 0;
	case NM_EV_F_COMM: /* the kernel keeps 15 bytes */
		if (!*v)
			return nm_ev_errf(e, NM_EXIT_USAGE, "comm: expected a command name");
		snprintf(f->comm[f->ncomm++], NM_COMM_LEN, "%s", v);
		return 0;
	case NM_EV_F_CGROUP: /* that cgroup and everything below it */
		return ev_filter_cgroup(f, v, e);
	case NM_EV_F_ADDR: /* ADDR[/LEN] */
		return ev_filter_addr(f, v, e);
	default: { /* NM_EV_F_PORT: N[-M] */
		struct nm_ev_port_range *p = &f->port[f->nport];

		if (nm_parse_port_range(v, strlen(v), &p->lo, &p->hi))
			return nm_ev_errf(e, NM_EXIT_USAGE,
					  "port %s: expected a port 0-65535 or a range N-M", v);
		f->nport++;
		return 0;
	}
	}
}

void nm_ev_filter_free(struct nm_ev_filter *f)
{
	int i;

	for (i = 0; i < f->ncg; i++)
		free(f->cg_path[i]);
	f->ncg = 0;
}

/* ------------------------------------------------------------------ */
/* matching                                                            */

static bool ev_addr_in(const struct nm_rule *r, uint8_t family, const uint8_t *a)
{
	int full, i;

	if (r->family == NM_FAM_ANY)
		return true;
	if (r->family != family)
		return false;
	full = r->plen / 8;
	if (memcmp(r->addr, a, full))
		return false;
	i = r->plen % 8;
	return !i || ((r->addr[full] ^ a[full]) & (uint8_t)(0xff << (8 - i))) == 0;
}

bool nm_ev_match(struct nm_ev_ctx *c, const struct nm_event *e)
{
	const struct nm_ev_filter *f = c->filter;
	struct ev_ends x;
	int i;

	if (!f)
		return true;
	if (f->hooks && (e->hook >= 32 || !(f->hooks & (1u << e->hook))))
		return false;
	if (f->verdicts && (e->verdict >= 32 || !(f->verdicts & (1u << e->verdict))))
		return false;
	if (f->npid) {
		for (i = 0; i < f->npid && f->pid[i] != e->pid; i++)
			;
		if (i == f->npid)
			return false;
	}
	if (f->ncomm) {
		for (i = 0; i < f->ncomm && strncmp(f->comm[i], e->comm, NM_COMM_LEN); i++)
			;
		if (i == f->ncomm)
			return false;
	}
	if (f->ncg) {
		const struct nm_ev_cg *cg = ev_cg_get(c, e->cgroup_id);

		if (!cg || !cg->match)
			return false;
	}
	if (f->naddr || f->nport)
		ev_ends(e, &x);
	if (f->naddr) {
		for (i = 0; i < f->naddr; i++)
			if ((x.lknown && ev_addr_in(&f->addr[i], e->family, x.laddr)) ||
			    (x.rknown && ev_addr_in(&f->addr[i], e->family, x.raddr)))
				break;
		if (i == f->naddr)
			return false;
	}
	if (f->nport) {
		for (i = 0; i < f->nport; i++)
			if ((x.lknown && x.lport >= f->port[i].lo && x.lport <= f->port[i].hi) ||
			    (x.rknown && x.rport >= f->port[i].lo && x.rport <= f->port[i].hi))
				break;
		if (i == f->nport)
			return false;
	}
	return true;
}
