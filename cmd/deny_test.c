// SPDX-License-Identifier: GPL-2.0
/*
 * netmonctl deny test ADDR [port N] [proto P] [dir D] [cgroup PATH | pid PID]:
 * which rules hold for one operation, and whether a layer enforces them:
 * the global deny list's as before scopes; the global allow list and
 * default where they decide; with a cgroup (or a process's), every scope
 * on its path up to the root, each with its verdict and why.
 */
#include <errno.h>
#include <stdlib.h>
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

/* The stored comments, so a rule that decided is shown with its own. */
static struct nm_notes deny_test_notes;

static struct nm_rule deny_test_noted(const struct nm_rule *key_rule)
{
	struct nm_rule r = *key_rule;

	r.note = nm_notes_of(&deny_test_notes, &r);
	return r;
}

static int deny_test_rule(const struct nm_rule *key_rule, void *arg)
{
	struct deny_test_job *j = arg;
	struct nm_rule rule = deny_test_noted(key_rule), *r = &rule;
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
static void deny_test_print(const struct deny_test_job *j, const struct nm_rule *q, uint32_t mode,
			    json_t *global)
{
	bool dir_seen = j->dirs & (1u << q->dir);
	const char *by = json_string_value(json_object_get(global, "by"));
	json_t *r;
	size_t i;

	if (!strcmp(by, "allow rule")) { /* an exception in the global scope */
		printf("allowed by %zu allow rule%s\n", json_array_size(json_object_get(global, "allow_rules")),
		       json_array_size(json_object_get(global, "allow_rules")) == 1 ? "" : "s");
		json_array_foreach(json_object_get(global, "allow_rules"), i, r)
			printf("  %s\n", json_string_value(r));
		return;
	}
	if (!j->n) {
		printf("%s\n", !strcmp(by, "default deny") ? "denied by the global default (policy default deny)"
							     : "allowed: no rule holds");
		return;
	}
	printf("%s by %zu rule%s%s\n", mode == NM_MODE_AUDIT ? "audited (mode audit: allowed, and an event)" : "denied",
	       j->n, j->n == 1 ? "" : "s",
	       j->enforced ? ""
	       : !dir_seen ? (q->dir == NM_DIR_INGRESS && j->dirs ? ", but not enforced: dir ingress needs the LSM layer"
								 : ", but not enforced: no layer is attached")
			   : ", but not enforced for every protocol: the cgroup layer sees no raw socket and "
			     "no unconnected ping send");
	for (i = 0; i < j->n; i++) {
		json_t *r = json_array_get(j->rules, i);
		const char *note = json_string_value(json_object_get(r, "comment"));
		char text[NM_NOTE_MAX + 16];

		printf("  %s%s\n", json_string_value(json_object_get(r, "rule")),
		       nm_note_format(note, text, sizeof(text)));
	}
}

/* ---- the scopes on a cgroup's path ---- */

/* Rules of one list that hold for the operation (the addresses a hook
 * checks), as text, into out. */
struct deny_test_hits {
	json_t *out;
};

static int deny_test_hit(const struct nm_rule *key_rule, void *arg)
{
	struct deny_test_hits *h = arg;
	struct nm_rule r = deny_test_noted(key_rule);
	char text[NM_RULE_TEXT_MAX];

	nm_rule_format(&r, text, sizeof(text));
	return json_array_append_new(h->out, json_string(text)) ? -ENOMEM : 0;
}

static int deny_test_list(const struct nm_rule *addrs, size_t n, bool one_port, uint16_t list, json_t *out)
{
	struct deny_test_hits h = { out };
	size_t i;
	int ret = 0;

	for (i = 0; i < n && !ret; i++) {
		struct nm_rule a = addrs[i];

		a.list = list;
		ret = nm_store_test(&a, one_port, deny_test_hit, &h);
	}
	return ret;
}

/* One scope's verdict: an allow rule, else a deny rule, else its default. */
static json_t *deny_test_scope(const struct nm_rule *addrs, size_t n, bool one_port, uint32_t scope,
			       const char *cgroup, uint8_t default_deny, int *err)
{
	json_t *allow = json_array(), *deny = json_array();
	bool by_default = default_deny & (1u << addrs[0].dir);
	const char *verdict;

	*err = deny_test_list(addrs, n, one_port, nm_list_id(scope, 1), allow);
	if (!*err)
		*err = deny_test_list(addrs, n, one_port, nm_list_id(scope, 0), deny);
	verdict = json_array_size(allow) ? "allow" : json_array_size(deny) || by_default ? "deny" : "allow";
	return json_pack("{s:i, s:s?, s:s, s:s, s:o, s:o}", "scope", (int)scope, "cgroup", cgroup, "verdict",
			 verdict, "by",
			 json_array_size(allow) ? "allow rule" : json_array_size(deny) ? "deny rule"
			 : by_default ? "default deny" : "default allow",
			 "allow_rules", allow, "deny_rules", deny);
}

/* The cgroup2 path of `cgroup PATH` or `pid PID` into buf. */
static int deny_test_cgroup(const struct nm_query_args *a, char *buf, size_t len)
{
	char mount[NM_PATH_MAX], line[NM_PATH_MAX], file[64];
	FILE *f;
	int err;

	if (a->where == NM_WHERE_CGROUP) {
		err = nm_cgroup_resolve(a->where_arg, buf, len);
		return err ? nm_fail(NM_EXIT_USAGE, "deny test", "cgroup %s: %s", a->where_arg,
				     err == -ENOTDIR ? "not a cgroup v2 directory" : strerror(-err)) : 0;
	}
	snprintf(file, sizeof(file), "/proc/%llu/cgroup", (unsigned long long)a->pid);
	f = fopen(file, "re");
	if (!f)
		return nm_fail(NM_EXIT_RUNTIME, "deny test", "pid %s: %s", a->where_arg, strerror(errno));
	err = -ENOENT;
	while (fgets(line, sizeof(line), f))
		if (!strncmp(line, "0::", 3)) {
			line[strcspn(line, "\n")] = '\0';
			err = nm_cgroup2_mount(mount, sizeof(mount));
			if (!err && (size_t)snprintf(buf, len, "%s%s", mount, strcmp(line + 3, "/") ? line + 3 : "") >= len)
				err = -ENAMETOOLONG;
			break;
		}
	fclose(f);
	return err ? nm_fail(NM_EXIT_RUNTIME, "deny test", "pid %s: no cgroup v2 path", a->where_arg) : 0;
}

/* The operation and where it runs: a bad `pid`, then the cgroup or pid
 * looked up, then the RULE words, the order the errors have always had. */
static int deny_test_args(int argc, char **argv, struct nm_query_args *a, char *cgroup, size_t len)
{
	char msg[300], why[512]; /* what the rule parser and nm_fail() have always kept of a reason */
	int err;

	if (nm_query_where_parse(&argc, argv, a, why, sizeof(why)))
		return nm_usage("deny test", "%s", why);
	err = a->where != NM_WHERE_NONE ? deny_test_cgroup(a, cgroup, len) : 0;
	if (err)
		return err;
	if (nm_query_parse(argc, argv, a, msg, sizeof(msg)))
		return nm_usage("deny test", "%s", msg);
	return 0;
}

/* Every scope from the cgroup up to the cgroup2 root, innermost first. */
static int deny_test_scopes(const char *path, const struct nm_rule *addrs, size_t n, bool one_port,
			    json_t *scopes)
{
	char dir[NM_PATH_MAX], mount[NM_PATH_MAX];
	struct nm_scope rec;
	uint64_t cgid;
	uint32_t id;
	int err = nm_cgroup2_mount(mount, sizeof(mount));

	snprintf(dir, sizeof(dir), "%s", path);
	while (!err) {
		char *slash;

		if (nm_cgroup_id(dir, &cgid) == 0 && nm_scope_of(cgid, &id, &rec) == 0)
			json_array_append_new(scopes, deny_test_scope(addrs, n, one_port, id, rec.path,
								      rec.default_deny, &err));
		slash = strrchr(dir, '/');
		if (!strcmp(dir, mount) || !slash || slash == dir)
			break;
		*slash = '\0';
	}
	return err;
}

static void deny_test_print_scopes(json_t *scopes)
{
	size_t i, k;
	json_t *s, *r;

	json_array_foreach(scopes, i, s) {
		const char *by = json_string_value(json_object_get(s, "by"));
		json_t *rules = json_object_get(s, !strcmp(by, "allow rule") ? "allow_rules" : "deny_rules");

		printf("scope %lld (%s): %s, by %s\n", (long long)json_integer_value(json_object_get(s, "scope")),
		       json_string_value(json_object_get(s, "cgroup")),
		       !strcmp(json_string_value(json_object_get(s, "verdict")), "deny") ? "denied" : "allowed", by);
		if (!strcmp(by, "allow rule") || !strcmp(by, "deny rule"))
			json_array_foreach(rules, k, r)
				printf("  %s\n", json_string_value(r));
	}
}

int deny_test(int argc, char **argv)
{
	struct deny_test_job j = { .rules = json_array(), .dirs = nm_enforced_dirs() };
	struct nm_query_args a = {};
	const struct nm_rule *q = &a.op;
	struct nm_rule addrs[2];
	struct nm_config cfg = {};
	json_t *checked = json_array();
	char text[INET6_ADDRSTRLEN];
	size_t n, i;
	char cgroup[NM_PATH_MAX] = "";
	json_t *scopes = json_array(), *global = NULL;
	bool denied;
	int lock, err = deny_test_args(argc, argv, &a, cgroup, sizeof(cgroup));

	if (!err)
		err = nm_require_loaded("deny test");
	lock = err ? -1 : nm_lock_shared();
	if (!err && lock < 0)
		err = nm_sys(nm_opts.pin_dir, lock);
	if (!err && (err = nm_notes_load(&deny_test_notes)) != 0)
		err = nm_sys("deny test: comments", err);
	n = err ? 0 : deny_test_addrs(q, addrs);
	j.pclass = err ? 0 : q->port.protos;
	for (i = 0; !err && i < n; i++) {
		int ret = nm_store_test(&addrs[i], q->port.lo != q->port.hi, deny_test_rule, &j);

		if (ret)
			err = nm_sys("deny test", ret);
		nm_addr_format(addrs[i].family, addrs[i].addr, text, sizeof(text));
		json_array_append_new(checked, json_string(text));
	}
	if (!err && (err = nm_config_read(&cfg)) != 0)
		err = nm_sys("deny test: config", err);
	if (!err) /* the global scope: its allow list and default too */
		global = deny_test_scope(addrs, n, q->port.lo != q->port.hi, 0, NULL, cfg.default_deny, &err);
	if (!err && cgroup[0])
		err = deny_test_scopes(cgroup, addrs, n, q->port.lo != q->port.hi, scopes);
	if (lock >= 0)
		close(lock);
	if (err < 0) /* an exit code (> 0) was reported already */
		err = nm_sys("deny test", err);
	denied = global && !strcmp(json_string_value(json_object_get(global, "verdict")), "deny");
	for (i = 0; !err && i < json_array_size(scopes); i++)
		denied |= !strcmp(json_string_value(json_object_get(json_array_get(scopes, i), "verdict")), "deny");
	if (!err && nm_opts.json)
		nm_json_print(json_pack("{s:s, s:b, s:s, s:O, s:O, s:O, s:O}", "verdict",
					!denied ? "allow" : cfg.mode == NM_MODE_AUDIT ? "audit" : "deny", "enforced",
					j.enforced > 0, "mode",
					cfg.mode == NM_MODE_AUDIT ? "audit" : "enforce", "checked", checked, "rules",
					j.rules, "global", global, "scopes", scopes));
	else if (!err) {
		deny_test_print(&j, q, cfg.mode, global);
		deny_test_print_scopes(scopes);
	}
	nm_notes_free(&deny_test_notes);
	json_decref(checked);
	json_decref(j.rules);
	json_decref(global);
	json_decref(scopes);
	return err;
}

