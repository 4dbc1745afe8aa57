// SPDX-License-Identifier: GPL-2.0
/*
 * netmonctl { deny | allow } { add RULE | del RULE | { add | del | replace } file { FILE | - } |
 *                              list | flush } [cgroup PATH]
 * The same commands edit the deny list and the allow list of the global
 * scope, or with `cgroup PATH` of that cgroup's scope (src/scope.c).
 * `deny list` prints exactly what `deny add file` and `deny replace file`
 * read. `deny test` lives in deny_test.c.
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
static int allow_help(int argc, char **argv);

/* The edits and listings deny and allow share: one definition of their usage lines. */
#define NM_SCOPE_ARG " [cgroup PATH]"
#define NM_LIST_CMDS                                                                                      \
	{ "add", deny_add, false, "{ RULE | file { FILE | - } }" NM_SCOPE_ARG,                             \
	  "add a RULE, or a file of rules, all or nothing" },                                             \
	{ "del", deny_del, false, "{ RULE | file { FILE | - } }" NM_SCOPE_ARG, "delete them, all or nothing" }, \
	{ "replace", deny_replace, true, "file { FILE | - }" NM_SCOPE_ARG,                                 \
	  "make the list the file's, in one switch" },                                                    \
	{ "list", deny_list, false, NM_SCOPE_ARG + 1, "every rule of the list (-j: one object per line)" }, \
	{ "flush", deny_flush, true, NM_SCOPE_ARG + 1, "delete every rule of the list, in one switch" }

const struct nm_cmd nm_deny_cmds[] = {
	NM_LIST_CMDS,
	{ "test", deny_test, false,
	  "ADDR [port N] [proto PROTO] [dir { egress | ingress | bind }] [cgroup PATH | pid PID]",
	  "the verdict on one operation, and every rule and scope that decided it" },
	{ "help", deny_help, false, "", "this help" },
	{ NULL, NULL, false, NULL, NULL },
};

/* The same commands for the allow lists: exceptions inside their scope. */
const struct nm_cmd nm_allow_cmds[] = {
	NM_LIST_CMDS,
	{ "help", allow_help, false, "", "this help" },
	{ NULL, NULL, false, NULL, NULL },
};

/* Which list this process edits: set by do_deny/do_allow, then by the
 * command's `cgroup PATH` once the scope is found under the lock. */
static struct {
	const char *verb; /* "deny" or "allow" */
	bool allow;
	const char *cgroup; /* NULL: the global scope */
	uint32_t scope;
	uint16_t list;
} D = { "deny", false, NULL, 0, 0 };

static int deny_help(int argc, char **argv)
{
	(void)argv;
	nm_help_usage("deny", nm_deny_cmds);
	fputs(NM_HELP_RULE, stderr);
	return argc < 0 ? NM_EXIT_USAGE : 0;
}

static int allow_help(int argc, char **argv)
{
	(void)argv;
	nm_help_usage("allow", nm_allow_cmds);
	fputs(NM_HELP_RULE, stderr);
	return argc < 0 ? NM_EXIT_USAGE : 0;
}

/* "deny add", "allow flush": the command's name in messages. */
static const char *deny_what(const char *sub)
{
	static char buf[64];

	snprintf(buf, sizeof(buf), "%s %s", D.verb, sub);
	return buf;
}

/* `cgroup PATH` names the scope; taken off argv. After a RULE's address
 * it may stand between its keyword pairs (`... cgroup P comment T`);
 * elsewhere (`file F`, list, flush) it comes last. */
static void deny_take_scope(int *argc, char **argv)
{
	bool rule = *argc >= 3 && strcmp(argv[0], "file");
	int i;

	for (i = rule ? 1 : *argc - 2; i >= 0 && i + 1 < *argc; i += 2) {
		if (strcmp(argv[i], "cgroup"))
			continue;
		D.cgroup = argv[i + 1];
		memmove(&argv[i], &argv[i + 2], (size_t)(*argc - i - 2) * sizeof(*argv));
		*argc -= 2;
		return;
	}
}

/* The scope's list, found (or made: create) under the lock. */
static int deny_find_list(const char *what, bool create)
{
	struct nm_scope rec;
	int err;

	if (!D.cgroup) {
		D.list = nm_list_id(0, D.allow);
		return 0;
	}
	err = nm_scope_get(what, D.cgroup, create, &D.scope, &rec);
	if (!err)
		D.list = nm_list_id(D.scope, D.allow);
	return err;
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

/* Runs a store edit under the lock, on the rules rs (put in the list
 * first; NULL for a flush); `what` names the command in errors. create:
 * a scope that does not exist yet is made. */
static int deny_locked(const char *what, struct nm_rules *rs, bool create,
		       int (*edit)(void *arg, char *err, size_t len), void *arg)
{
	char msg[512] = "";
	int lock, err;

	err = nm_require_loaded(what);
	if (err)
		return err;
	lock = nm_lock();
	if (lock < 0)
		return nm_sys(nm_opts.pin_dir, lock);
	err = deny_find_list(what, create && rs && rs->n);
	if (err) {
		close(lock);
		return err;
	}
	if (rs && nm_rules_set_list(rs, 0, D.list)) {
		close(lock);
		return nm_sys(what, ENOMEM);
	}
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
			dirs || D.cgroup ? "dir ingress needs the LSM layer ('attach lsm')"
					 : "no layer is attached ('attach cgroup PATH' or 'attach lsm')");
	if (e.partly && D.cgroup)
		fprintf(stderr, "netmonctl: %s: warning: %zu rule%s enforced for TCP and UDP only: "
			"without the LSM layer a scope's rules are checked by the cgroup layer, which sees "
			"no raw socket and no unconnected ping send ('attach lsm', or deny those in the scope "
			"on every address: 'any proto raw', 'any proto icmp', or 'policy default deny')\n",
			what, e.partly, e.partly == 1 ? " is" : "s are");
	else if (e.partly)
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
	deny_warn_unenforced(deny_what("add"), e, dirs);
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

	deny_take_scope(&argc, argv);
	if (argc >= 1 && !strcmp(argv[0], "file")) {
		if (argc != 2)
			return nm_usage(deny_what("add file"), "expected one FILE or -");
		err = deny_read_file(deny_what("add file"), argv[1], &b);
	} else {
		err = deny_parse(deny_what("add"), argc, argv, &b);
	}
	if (!err)
		err = deny_locked(deny_what("add"), &b.rules, true, deny_apply, &b);
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
		return nm_usage(deny_what("del file"), "expected one FILE or -");
	j.file = strcmp(argv[1], "-") ? argv[1] : "<stdin>";
	err = deny_read_file(deny_what("del file"), argv[1], &j.b);
	if (!err)
		err = deny_locked(deny_what("del file"), &j.b.rules, false, deny_del_apply, &j);
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

	return nm_store_replace(D.list, j->rules.v, j->rules.n, &j->added, &j->removed, err, len);
}

/* The whole rule set becomes the file's, in one switch. */
static int deny_replace(int argc, char **argv)
{
	struct deny_replace_job j = {};
	struct deny_batch b = {};
	struct deny_enforcement e;
	unsigned dirs;
	int err;

	deny_take_scope(&argc, argv);
	if (argc != 2 || strcmp(argv[0], "file"))
		return nm_usage(deny_what("replace"), "expected: file { FILE | - } [cgroup PATH]");
	err = deny_read_file(deny_what("replace file"), argv[1], &b);
	j.rules = b.rules;
	if (!err)
		err = deny_locked(deny_what("replace file"), &j.rules, true, deny_replace_apply, &j);
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
		deny_warn_unenforced(deny_what("replace"), e, dirs);
	}
	nm_rules_free(&j.rules);
	return err;
}

/* -j: {"deleted": RULE}, or an array of them when RULE stood for several. */
static void deny_report_deleted(const struct nm_rules *rs)
{
	json_t *list = json_array(), *one;
	char text[NM_RULE_TEXT_MAX];
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

	deny_take_scope(&argc, argv);
	if (argc >= 1 && !strcmp(argv[0], "file"))
		return deny_del_file(argc, argv);
	err = deny_parse(deny_what("del"), argc, argv, &j.b);
	if (!err)
		err = deny_locked(deny_what("del"), &j.b.rules, false, deny_del_apply, &j);
	if (!err)
		deny_report_deleted(&j.b.rules);
	nm_rules_free(&j.b.rules);
	return err;
}

/* What a listing prints each rule with. */
struct deny_list_ctx {
	unsigned dirs;
	struct nm_hits hits;
	struct nm_notes notes;
};

/* -d adds each rule's hits as a comment, which rule files skip: the
 * listing still reads back as the same set. */
static int deny_list_text(const struct nm_rule *key_rule, void *arg)
{
	const struct deny_list_ctx *c = arg;
	char text[NM_RULE_TEXT_MAX];
	struct nm_rule rule = *key_rule, *r = &rule;

	r->note = nm_notes_of(&c->notes, r);
	nm_rule_format(r, text, sizeof(text));
	if (nm_opts.debug)
		return printf("%s  # hits %llu\n", text, (unsigned long long)nm_hits_of(&c->hits, r)) < 0 ? -EIO : 0;
	return puts(text) < 0 ? -EIO : 0;
}

/* -j: one JSON object per rule and line (NDJSON), streamed: a tree of a
 * million rules took 13.8 s and a GiB before the first byte came out.
 * `deny add file` and `deny replace file` read these lines back (the
 * "rule" field). */
static int deny_list_json(const struct nm_rule *key_rule, void *arg)
{
	const struct deny_list_ctx *c = arg;
	char line[NM_RULE_JSON_MAX + 32];
	struct nm_rule rule = *key_rule, *r = &rule;
	size_t len;
	json_t *o;
	int err = 0;

	r->note = nm_notes_of(&c->notes, r);
	len = nm_rule_json_line(r, nm_rule_enforced(r, c->dirs), line, NM_RULE_JSON_MAX);
	/* the hits before the closing brace */
	len += (size_t)snprintf(line + len - 1, sizeof(line) - len, ",\"hits\":%llu}",
				(unsigned long long)nm_hits_of(&c->hits, r)) - 1;
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
	const char *what = deny_what("list");
	struct deny_list_ctx c = {};
	int err, lock;

	(void)argv;
	deny_take_scope(&argc, argv);
	if (argc)
		return nm_usage(what, "takes only [cgroup PATH]");
	err = nm_require_loaded(what);
	if (err)
		return err;
	lock = nm_lock_shared();
	if (lock < 0)
		return nm_sys(nm_opts.pin_dir, lock);
	err = deny_find_list(what, false);
	if (err) {
		close(lock);
		return err;
	}
	c.dirs = nm_opts.json ? nm_enforced_dirs() : 0;
	if (nm_opts.json || nm_opts.debug)
		err = nm_hits_load(&c.hits);
	if (!err)
		err = nm_notes_load(&c.notes);
	if (!err)
		err = nm_store_walk(D.list, nm_opts.json ? deny_list_json : deny_list_text, &c);
	close(lock);
	if (c.hits.full && !nm_opts.json)
		fprintf(stderr, "netmonctl: %s: note: the hit counts are partial: %d rules have hits, "
			"the most counted\n", what, NM_MAX_HIT_RULES);
	nm_hits_free(&c.hits);
	nm_notes_free(&c.notes);
	fflush(stdout);
	return err ? nm_sys(what, err) : 0;
}

static int deny_flush_all(void *arg, char *err, size_t len)
{
	return nm_store_flush(D.list, arg, err, len);
}

static int deny_flush(int argc, char **argv)
{
	uint64_t removed = 0;
	int err;

	(void)argv;
	deny_take_scope(&argc, argv);
	if (argc)
		return nm_usage(deny_what("flush"), "takes only [cgroup PATH]");
	err = deny_locked(deny_what("flush"), NULL, false, deny_flush_all, &removed);
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

int do_allow(int argc, char **argv)
{
	D.verb = "allow";
	D.allow = true;
	if (argc < 1)
		return allow_help(-1, argv);
	return nm_dispatch("allow", nm_allow_cmds, argc, argv, allow_help);
}
