// SPDX-License-Identifier: GPL-2.0
/*
 * netmonctl deny { add RULE | del RULE | { add | del | replace } file { FILE | - } | list | flush |
 *                 test ADDR [port N] [proto P] [dir D] }
 * `deny list` prints exactly what `deny add file` and `deny replace file` read.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <arpa/inet.h>
#include "cmds.h"

static int deny_help(int argc, char **argv);
static int deny_add(int argc, char **argv);
static int deny_del(int argc, char **argv);
static int deny_replace(int argc, char **argv);
static int deny_list(int argc, char **argv);
static int deny_flush(int argc, char **argv);
static int deny_test(int argc, char **argv);

const struct nm_cmd nm_deny_cmds[] = {
	{ "add", deny_add, false, "{ RULE | file { FILE | - } }", "add a RULE, or a file of rules, all or nothing" },
	{ "del", deny_del, false, "{ RULE | file { FILE | - } }", "delete them, all or nothing" },
	{ "replace", deny_replace, true, "file { FILE | - }", "make the rule set the file's, in one switch" },
	{ "list", deny_list, false, "", "every rule (-j: one object per line)" },
	{ "flush", deny_flush, true, "", "delete every rule, in one switch" },
	{ "test", deny_test, false, "ADDR [port N] [proto PROTO] [dir { egress | ingress | bind }]",
	  "which rules hold for one operation" },
	{ "help", deny_help, false, "", "this help" },
	{ NULL, NULL, false, NULL, NULL },
};

static int deny_help(int argc, char **argv)
{
	(void)argv;
	nm_help_usage("deny", nm_deny_cmds);
	fputs(NM_HELP_RULE, stderr);
	return argc < 0 ? NM_EXIT_USAGE : 0;
}

/* -d: an earlier edit was killed and this command repaired the counts. */
static void deny_note_repair(const char *what)
{
	const struct nm_repair *r = &nm_store_last_repair;

	if (!r->done || !nm_opts.debug)
		return;
	fprintf(stderr, "netmonctl: %s: repaired what an interrupted edit left: kept generation %u, "
		"took back %llu rules it had not switched to; rules counted %llu, the maps hold %llu; "
		"%llu bucket slots corrected; %llu port sets no rule named removed\n", what, r->gen,
		(unsigned long long)r->dropped, (unsigned long long)r->rules_before,
		(unsigned long long)r->rules_after, (unsigned long long)r->slots, (unsigned long long)r->sets);
}

/* Runs a store edit under the lock; `what` names the command in errors. */
static int deny_locked(const char *what, int (*edit)(void *arg, char *err, size_t len), void *arg)
{
	char msg[512] = "";
	int lock, err;

	err = nm_require_loaded(what);
	if (err)
		return err;
	lock = nm_lock();
	if (lock < 0)
		return nm_sys(nm_opts.pin_dir, lock);
	err = edit(arg, msg, sizeof(msg));
	close(lock);
	deny_note_repair(what);
	if (err)
		return nm_fail(err == -EINVAL ? NM_EXIT_USAGE : NM_EXIT_RUNTIME, what, "%s", msg);
	return 0;
}

struct deny_batch {
	struct nm_rules rules;
	size_t added;
};

static int deny_apply(void *arg, char *err, size_t len)
{
	struct deny_batch *b = arg;

	return nm_store_add(b->rules.v, b->rules.n, &b->added, err, len);
}

/* Rules of the batch that the attached layers do not enforce (their
 * direction), and those they enforce only for TCP and UDP. */
struct deny_enforcement {
	size_t no, partly;
};

static struct deny_enforcement deny_unenforced(const struct nm_rules *rs, unsigned dirs)
{
	struct deny_enforcement e = { 0, 0 };
	size_t i;

	for (i = 0; i < rs->n; i++) {
		enum nm_enforced how = nm_rule_enforced(&rs->v[i], dirs);

		e.no += how == NM_ENF_NO;
		e.partly += how == NM_ENF_PARTLY;
	}
	return e;
}

/* A rule that is listed is enforced, or said not to be: never silently neither. */
static void deny_warn_unenforced(const char *what, struct deny_enforcement e, unsigned dirs)
{
	if (nm_opts.json)
		return;
	if (e.no)
		fprintf(stderr, "netmonctl: %s: warning: %zu rule%s not enforced: %s\n", what, e.no,
			e.no == 1 ? " is" : "s are",
			dirs ? "dir ingress needs the LSM layer ('attach lsm')"
			     : "no layer is attached ('attach cgroup PATH' or 'attach lsm')");
	if (e.partly)
		fprintf(stderr, "netmonctl: %s: warning: %zu rule%s enforced for TCP and UDP only: the "
			"cgroup layer sees no raw socket and no unconnected ping send ('attach lsm', or "
			"deny those on every address: 'any proto raw', 'any proto icmp')\n", what,
			e.partly, e.partly == 1 ? " is" : "s are");
}

static int deny_report_added(struct deny_batch *b)
{
	size_t n = b->rules.n;
	unsigned dirs = nm_enforced_dirs();
	struct deny_enforcement e = deny_unenforced(&b->rules, dirs);

	if (nm_opts.json)
		nm_json_print(json_pack("{s:I, s:I, s:I, s:I}", "added", (json_int_t)b->added, "present",
					(json_int_t)(n - b->added), "unenforced", (json_int_t)e.no,
					"partly_enforced", (json_int_t)e.partly));
	else
		nm_info("added %zu rule%s%s\n", b->added, b->added == 1 ? "" : "s",
		       n > b->added ? " (the rest were present already)" : "");
	deny_warn_unenforced("deny add", e, dirs);
	return 0;
}

/* Bad content is a usage error, a read error a runtime one; both apply nothing. */
static int deny_read_file(const char *what, const char *name, struct deny_batch *b)
{
	bool std = !strcmp(name, "-");
	int fd = std ? STDIN_FILENO : open(name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	char msg[600];
	int err;

	if (fd < 0)
		return nm_fail(NM_EXIT_USAGE, what, "%s: %s", name, strerror(errno));
	err = nm_rulefile_read(fd, std ? "<stdin>" : name, &b->rules, msg, sizeof(msg));
	if (!std)
		close(fd);
	if (err)
		return nm_fail(err == -EINVAL ? NM_EXIT_USAGE : NM_EXIT_RUNTIME, what,
			       "%s; nothing applied", msg);
	return 0;
}

/* One RULE: the rules it stands for (a port list: several), in b. */
static int deny_parse(const char *what, int argc, char **argv, struct deny_batch *b)
{
	struct nm_rule r[NM_RULE_SPLIT_MAX];
	char msg[300];
	int n, i;

	n = nm_rule_parse(argc, argv, r, NM_RULE_SPLIT_MAX, msg, sizeof(msg));
	if (n < 0)
		return nm_usage(what, "%s", msg);
	for (i = 0; i < n; i++)
		if (nm_rules_push(&b->rules, &r[i]))
			return nm_sys(what, ENOMEM);
	return 0;
}

static int deny_add(int argc, char **argv)
{
	struct deny_batch b = {};
	int err;

	if (argc >= 1 && !strcmp(argv[0], "file")) {
		if (argc != 2)
			return nm_usage("deny add file", "expected one FILE or -");
		err = deny_read_file("deny add file", argv[1], &b);
	} else {
		err = deny_parse("deny add", argc, argv, &b);
	}
	if (!err)
		err = deny_locked("deny add", deny_apply, &b);
	if (!err)
		deny_report_added(&b);
	nm_rules_free(&b.rules);
	return err;
}

/* Dels, all or nothing. A missing rule is a runtime error (1), as it
 * always was for `deny del RULE`. */
struct deny_del_job {
	struct deny_batch b;
	const char *file; /* named first in a message; NULL for a RULE */
};

static int deny_del_apply(void *arg, char *err, size_t len)
{
	struct deny_del_job *j = arg;
	char msg[400];
	int ret;

	ret = nm_store_del_many(j->b.rules.v, j->b.rules.n, &j->b.added, msg, sizeof(msg));
	if (ret)
		snprintf(err, len, "%s%s%s", j->file ? j->file : "", j->file ? ": " : "", msg);
	return ret;
}

static int deny_del_file(int argc, char **argv)
{
	struct deny_del_job j = {};
	int err;

	if (argc != 2)
		return nm_usage("deny del file", "expected one FILE or -");
	j.file = strcmp(argv[1], "-") ? argv[1] : "<stdin>";
	err = deny_read_file("deny del file", argv[1], &j.b);
	if (!err)
		err = deny_locked("deny del file", deny_del_apply, &j);
	nm_rules_free(&j.b.rules);
	if (err)
		return err;
	if (nm_opts.json)
		nm_json_print(json_pack("{s:I}", "removed", (json_int_t)j.b.added));
	else
		nm_info("removed %zu rule%s\n", j.b.added, j.b.added == 1 ? "" : "s");
	return 0;
}

struct deny_replace_job {
	struct nm_rules rules;
	size_t added, removed;
};

static int deny_replace_apply(void *arg, char *err, size_t len)
{
	struct deny_replace_job *j = arg;

	return nm_store_replace(j->rules.v, j->rules.n, &j->added, &j->removed, err, len);
}

/* The whole rule set becomes the file's, in one switch. */
static int deny_replace(int argc, char **argv)
{
	struct deny_replace_job j = {};
	struct deny_batch b = {};
	struct deny_enforcement e;
	unsigned dirs;
	int err;

	if (argc != 2 || strcmp(argv[0], "file"))
		return nm_usage("deny replace", "expected: file { FILE | - }");
	err = deny_read_file("deny replace file", argv[1], &b);
	j.rules = b.rules;
	if (!err)
		err = deny_locked("deny replace file", deny_replace_apply, &j);
	if (!err) {
		dirs = nm_enforced_dirs();
		e = deny_unenforced(&j.rules, dirs);
		if (nm_opts.json)
			nm_json_print(json_pack("{s:I, s:I, s:I, s:I, s:I}", "added", (json_int_t)j.added,
						"removed", (json_int_t)j.removed, "rules",
						(json_int_t)j.rules.n, "unenforced", (json_int_t)e.no,
						"partly_enforced", (json_int_t)e.partly));
		else
			nm_info("replaced: added %zu rule%s, removed %zu\n", j.added, j.added == 1 ? "" : "s",
			       j.removed);
		deny_warn_unenforced("deny replace", e, dirs);
	}
	nm_rules_free(&j.rules);
	return err;
}

/* -j: {"deleted": RULE}, or an array of them when RULE stood for several. */
static void deny_report_deleted(const struct nm_rules *rs)
{
	json_t *list = json_array(), *one;
	char text[160];
	size_t i;

	for (i = 0; i < rs->n; i++) {
		nm_rule_format(&rs->v[i], text, sizeof(text));
		if (nm_opts.json)
			json_array_append_new(list, json_string(text));
		else
			nm_info("deleted %s\n", text);
	}
	if (!nm_opts.json) {
		json_decref(list);
		return;
	}
	one = rs->n == 1 ? json_incref(json_array_get(list, 0)) : NULL;
	if (one)
		json_decref(list);
	nm_json_print(json_pack("{s:o}", "deleted", one ? one : list));
}

static int deny_del(int argc, char **argv)
{
	struct deny_del_job j = {};
	int err;

	if (argc >= 1 && !strcmp(argv[0], "file"))
		return deny_del_file(argc, argv);
	err = deny_parse("deny del", argc, argv, &j.b);
	if (!err)
		err = deny_locked("deny del", deny_del_apply, &j);
	if (!err)
		deny_report_deleted(&j.b.rules);
	nm_rules_free(&j.b.rules);
	return err;
}

static int deny_list_text(const struct nm_rule *r, void *arg)
{
	char text[160];

	(void)arg;
	nm_rule_format(r, text, sizeof(text));
	return puts(text) < 0 ? -EIO : 0;
}

/* -j: one JSON object per rule and line (NDJSON), streamed: a tree of a
 * million rules took 13.8 s and a GiB before the first byte came out.
 * `deny add file` and `deny replace file` read these lines back. */
static int deny_list_json(const struct nm_rule *r, void *arg)
{
	unsigned dirs = *(const unsigned *)arg;
	char line[NM_RULE_JSON_MAX];
	size_t len = nm_rule_json_line(r, nm_rule_enforced(r, dirs), line, sizeof(line) - 1);
	json_t *o;
	int err = 0;

	if (!nm_opts.pretty) { /* formatted once, no tree: the 1M-rule listing is bound by this */
		line[len++] = '\n';
		return fwrite(line, 1, len, stdout) == len ? 0 : -EIO;
	}
	o = json_loads(line, 0, NULL);
	if (!o || json_dumpf(o, stdout, JSON_PRESERVE_ORDER | JSON_INDENT(2)) || putchar('\n') == EOF)
		err = -EIO;
	json_decref(o);
	return err;
}

static int deny_list(int argc, char **argv)
{
	int err, lock;

	(void)argv;
	if (argc)
		return nm_usage("deny list", "takes no arguments");
	err = nm_require_loaded("deny list");
	if (err)
		return err;
	lock = nm_lock_shared();
	if (lock < 0)
		return nm_sys(nm_opts.pin_dir, lock);
	if (nm_opts.json) {
		unsigned dirs = nm_enforced_dirs();

		err = nm_store_walk(deny_list_json, &dirs);
	} else {
		err = nm_store_walk(deny_list_text, NULL);
	}
	close(lock);
	fflush(stdout);
	return err ? nm_sys("deny list", err) : 0;
}

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

static int deny_test(int argc, char **argv)
{
	struct deny_test_job j = { .rules = json_array(), .dirs = nm_enforced_dirs() };
	struct deny_batch b = {};
	struct nm_rule addrs[2];
	struct nm_config cfg = {};
	json_t *checked = json_array();
	char text[INET6_ADDRSTRLEN];
	size_t n, i;
	int err = deny_parse("deny test", argc, argv, &b), lock;
	const struct nm_rule *q = b.rules.v;
	bool any_port = !err && q->port.lo == 0 && q->port.hi == 65535; /* no port given */

	if (!err && (b.rules.n != 1 || (q->port.lo != q->port.hi && !any_port)))
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
	nm_rules_free(&b.rules);
	return err;
}

static int deny_flush_all(void *arg, char *err, size_t len)
{
	return nm_store_flush(arg, err, len);
}

static int deny_flush(int argc, char **argv)
{
	uint64_t removed = 0;
	int err;

	(void)argv;
	if (argc)
		return nm_usage("deny flush", "takes no arguments");
	err = deny_locked("deny flush", deny_flush_all, &removed);
	if (err)
		return err;
	if (nm_opts.json)
		nm_json_print(json_pack("{s:I}", "removed", (json_int_t)removed));
	else
		nm_info("removed %llu rule%s\n", (unsigned long long)removed, removed == 1 ? "" : "s");
	return 0;
}

int do_deny(int argc, char **argv)
{
	if (argc < 1)
		return deny_help(-1, argv);
	return nm_dispatch("deny", nm_deny_cmds, argc, argv, deny_help);
}
