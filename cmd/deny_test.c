// SPDX-License-Identifier: GPL-2.0
/*
 * netmonctl deny test ADDR [port N] [proto P] [dir D]: which rules of the
 * global lists hold for one operation, and whether a layer enforces them.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include "cmds.h"

/* ---- deny test: which rules hold for one operation ---- */

struct deny_test_job {
	json_t *rules;
	unsigned dirs;
	uint8_t pclass; /* the query's class; NM_PROTO_ANY: not given */
	size_t n;
	size_t enforced; /* rules that hold for it and that a layer enforces for it */
};

static int deny_test_rule(const struct nm_rule *r, void *arg)
{
	struct deny_test_job *j = arg;
	enum nm_enforced how = nm_rule_enforced(r, j->dirs);
	json_t *o = nm_rule_json(r, how);

	j->n++;
	/* Partly enforced is enforced for a TCP or UDP operation. */
	j->enforced += how == NM_ENF_YES || (how == NM_ENF_PARTLY && (j->pclass & NM_PROTO_PORTED) &&
					     j->pclass != NM_PROTO_ANY);
	return json_array_append_new(j->rules, o) ? -ENOMEM : 0;
}

/* The addresses a hook checks for q: q's own, and for the any-address
 * also loopback, where the kernel sends it (what a socket's bound source
 * would change, a query has not got). */
static size_t deny_test_addrs(const struct nm_rule *q, struct nm_rule out[2])
{
	static const uint8_t zero[16];
	size_t n = 0;

	out[n++] = *q;
	if (memcmp(q->addr, zero, q->family == NM_FAM_V4 ? 4 : 16))
		return n;
	out[n] = *q;
	if (q->family == NM_FAM_V4)
		out[n].addr[0] = 127, out[n].addr[3] = 1;
	else
		out[n].addr[15] = 1;
	return n + 1;
}

/* The verdict line: what the hooks do, and whether any layer does it. */
static void deny_test_print(const struct deny_test_job *j, const struct nm_rule *q, uint32_t mode)
{
	bool dir_seen = j->dirs & (1u << q->dir);
	size_t i;

	if (!j->n) {
		printf("allowed: no rule holds\n");
		return;
	}
	printf("%s by %zu rule%s%s\n", mode == NM_MODE_AUDIT ? "audited (mode audit: allowed, and an event)" : "denied",
	       j->n, j->n == 1 ? "" : "s",
	       j->enforced ? ""
	       : !dir_seen ? (q->dir == NM_DIR_INGRESS && j->dirs ? ", but not enforced: dir ingress needs the LSM layer"
								 : ", but not enforced: no layer is attached")
			   : ", but not enforced for every protocol: the cgroup layer sees no raw socket and "
			     "no unconnected ping send");
	for (i = 0; i < j->n; i++)
		printf("  %s\n", json_string_value(json_object_get(json_array_get(j->rules, i), "rule")));
}

int deny_test(int argc, char **argv)
{
	struct deny_test_job j = { .rules = json_array(), .dirs = nm_enforced_dirs() };
	struct nm_rule parsed[NM_RULE_SPLIT_MAX];
	char msg[300];
	struct nm_rule addrs[2];
	struct nm_config cfg = {};
	json_t *checked = json_array();
	char text[INET6_ADDRSTRLEN];
	size_t n, i;
	int n_parsed = nm_rule_parse(argc, argv, parsed, NM_RULE_SPLIT_MAX, msg, sizeof(msg)), lock;
	int err = n_parsed < 0 ? nm_usage("deny test", "%s", msg) : 0;
	const struct nm_rule *q = parsed;
	bool any_port = !err && q->port.lo == 0 && q->port.hi == 65535; /* no port given */

	if (!err && (n_parsed != 1 || (q->port.lo != q->port.hi && !any_port)))
		err = nm_usage("deny test", "one operation: one port N, not a list or a range");
	else if (!err && (q->family == NM_FAM_ANY || q->plen != (q->family == NM_FAM_V4 ? 32 : 128)))
		err = nm_usage("deny test", "one operation: ADDR is one address, not a prefix or any");
	if (!err)
		err = nm_require_loaded("deny test");
	lock = err ? -1 : nm_lock_shared();
	if (!err && lock < 0)
		err = nm_sys(nm_opts.pin_dir, lock);
	n = err ? 0 : deny_test_addrs(q, addrs);
	j.pclass = err ? 0 : q->port.protos;
	for (i = 0; !err && i < n; i++) {
		int ret = nm_store_test(&addrs[i], q->port.lo != q->port.hi, deny_test_rule, &j);

		if (ret)
			err = nm_sys("deny test", ret);
		nm_addr_format(addrs[i].family, addrs[i].addr, text, sizeof(text));
		json_array_append_new(checked, json_string(text));
	}
	if (lock >= 0)
		close(lock);
	if (!err && (err = nm_config_read(&cfg)) != 0)
		err = nm_sys("deny test: config", err);
	if (!err && nm_opts.json)
		nm_json_print(json_pack("{s:s, s:b, s:s, s:O, s:O}", "verdict",
					!j.n ? "allow" : cfg.mode == NM_MODE_AUDIT ? "audit" : "deny", "enforced",
					j.enforced > 0, "mode",
					cfg.mode == NM_MODE_AUDIT ? "audit" : "enforce", "checked", checked, "rules",
					j.rules));
	else if (!err)
		deny_test_print(&j, q, cfg.mode);
	json_decref(checked);
	json_decref(j.rules);
	return err;
}

