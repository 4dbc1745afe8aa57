// SPDX-License-Identifier: GPL-2.0
/*
 * netmonctl policy { default { allow | deny } [dir DIR] [cgroup PATH] | list | del cgroup PATH }
 * A scope's default is what it does with an operation no rule of its
 * lists matches; the global scope's lives in the config, a cgroup scope's
 * in its record and its cgroup's storage (src/scope.c).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "cmds.h"

static int policy_default(int argc, char **argv);
static int policy_list(int argc, char **argv);
static int policy_del(int argc, char **argv);
static int policy_help(int argc, char **argv);

const struct nm_cmd nm_policy_cmds[] = {
	{ "default", policy_default, false, "{ allow | deny } [dir { egress | bind | ingress }] [cgroup PATH]",
	  "what a scope does where no rule matches" },
	{ "list", policy_list, false, "", "every scope: cgroup, default, rules, attached" },
	{ "del", policy_del, true, "cgroup PATH", "remove a scope: its rules, default and programs" },
	{ "help", policy_help, false, "", "this help" },
	{ NULL, NULL, false, NULL, NULL },
};

static int policy_help(int argc, char **argv)
{
	(void)argv;
	nm_help_usage("policy", nm_policy_cmds);
	return argc < 0 ? NM_EXIT_USAGE : 0;
}

/* "egress,bind", or "-" when the default allows. */
static void policy_dirs_text(uint8_t mask, char *buf, size_t len)
{
	size_t o = 0;
	int d;

	buf[0] = '\0';
	for (d = 0; d < NM_DIR_MAX; d++)
		if (mask & (1u << d))
			o += snprintf(buf + o, o < len ? len - o : 0, "%s%s", o ? "," : "", nm_dir_names[d]);
	if (!o)
		snprintf(buf, len, "-");
}

static json_t *policy_dirs_json(uint8_t mask)
{
	json_t *a = json_array();
	int d;

	for (d = 0; d < NM_DIR_MAX; d++)
		if (mask & (1u << d))
			json_array_append_new(a, json_string(nm_dir_names[d]));
	return a;
}

static uint8_t policy_apply_mask(uint8_t mask, const struct nm_default_args *a)
{
	return nm_default_apply(mask, a->deny, a->dirs);
}

static int policy_default(int argc, char **argv)
{
	struct nm_default_args a;
	struct nm_config cfg;
	struct nm_scope rec;
	char where[NM_PATH_MAX] = "global", dirs[64], why[512]; /* nm_fail() keeps 512 bytes of it */
	uint32_t id = 0;
	uint8_t mask = 0;
	int lock, err = 0;

	if (nm_default_args_parse(argc, argv, &a, why, sizeof(why)))
		err = nm_usage("policy default", "%s", why);
	if (!err)
		err = nm_lock_loaded("policy default", &lock);
	if (err)
		return err;
	if (a.cgroup) {
		err = nm_scope_get("policy default", a.cgroup, true, &id, &rec);
		if (!err) {
			rec.default_deny = mask = policy_apply_mask(rec.default_deny, &a);
			err = nm_scope_write(id, &rec);
			err = err ?: nm_scope_sync(id, &rec);
			err = err ? nm_sys("policy default", err) : 0;
			snprintf(where, sizeof(where), "%s", rec.path);
		}
	} else {
		err = nm_config_read(&cfg);
		if (!err) {
			cfg.default_deny = mask = policy_apply_mask(cfg.default_deny, &a);
			err = nm_config_write(&cfg);
		}
		err = err ? nm_sys("policy default", err) : 0;
	}
	close(lock);
	if (err)
		return err;
	policy_dirs_text(mask, dirs, sizeof(dirs));
	if (nm_opts.json)
		nm_json_print(json_pack("{s:s, s:o}", "scope", where, "default_deny", policy_dirs_json(mask)));
	else
		nm_info("%s: default deny for %s\n", where, dirs);
	return 0;
}

/* ---- policy list ---- */

struct policy_row {
	json_t *rows;
	const struct nm_meta *meta;
};

static json_t *policy_row(const char *scope, const char *cgroup, bool present, uint8_t mask,
			  const struct nm_meta *m, uint32_t id, int attached, int of)
{
	return json_pack("{s:s, s:s?, s:b, s:o, s:I, s:I, s:i, s:i}", "scope", scope, "cgroup", cgroup,
			 "cgroup_present", present, "default_deny", policy_dirs_json(mask), "deny_rules",
			 (json_int_t)m->list_rules[nm_list_id(id, 0)], "allow_rules",
			 (json_int_t)m->list_rules[nm_list_id(id, 1)], "programs_attached", attached,
			 "programs", of);
}

static int policy_cgroup_programs(void)
{
	int i, n = 0;

	for (i = 0; i < NM_HOOK_MAX; i++)
		n += nm_progs[i].layer == NM_LAYER_CGROUP;
	return n;
}

static int policy_scope_row(uint32_t id, const struct nm_scope *rec, void *arg)
{
	struct policy_row *p = arg;
	char name[16], path[NM_PATH_MAX];
	bool present = nm_cgroup_path(rec->cgroup_id, path, sizeof(path)) == 0;

	snprintf(name, sizeof(name), "%u", id);
	json_array_append_new(p->rows, policy_row(name, rec->path, present, rec->default_deny, p->meta, id,
						  nm_scope_attached(id), policy_cgroup_programs()));
	return 0;
}

static void policy_print(json_t *rows)
{
	size_t i;
	json_t *r;

	printf("%-7s %-12s %10s %10s %-9s %s\n", "SCOPE", "DEFAULT-DENY", "DENY", "ALLOW", "PROGRAMS", "CGROUP");
	json_array_foreach(rows, i, r) {
		json_t *dirs = json_object_get(r, "default_deny"), *d;
		char text[64] = "", progs[16] = "-";
		size_t k, o = 0;

		json_array_foreach(dirs, k, d)
			o += snprintf(text + o, sizeof(text) - o, "%s%s", o ? "," : "", json_string_value(d));
		if (json_is_string(json_object_get(r, "cgroup")))
			snprintf(progs, sizeof(progs), "%lld/%lld",
				 (long long)json_integer_value(json_object_get(r, "programs_attached")),
				 (long long)json_integer_value(json_object_get(r, "programs")));
		printf("%-7s %-12s %10lld %10lld %-9s %s%s\n", json_string_value(json_object_get(r, "scope")),
		       o ? text : "-", (long long)json_integer_value(json_object_get(r, "deny_rules")),
		       (long long)json_integer_value(json_object_get(r, "allow_rules")), progs,
		       json_is_string(json_object_get(r, "cgroup")) ? json_string_value(json_object_get(r, "cgroup")) : "-",
		       json_is_false(json_object_get(r, "cgroup_present")) ? " (cgroup removed: 'policy del')" : "");
	}
}

static int policy_list(int argc, char **argv)
{
	struct nm_config cfg;
	struct nm_meta meta;
	struct policy_row p = { json_array(), &meta };
	uint32_t gen;
	int lock, err;

	(void)argv;
	if (argc)
		return nm_usage("policy list", "takes no arguments");
	err = nm_require_loaded("policy list");
	if (err)
		return err;
	lock = nm_lock_shared();
	if (lock < 0)
		return nm_sys(nm_opts.pin_dir, lock);
	err = nm_config_read(&cfg);
	err = err ?: nm_meta_read(&meta, &gen);
	if (!err)
		json_array_append_new(p.rows, policy_row("global", NULL, true, cfg.default_deny, &meta, 0, 0, 0));
	err = err ?: nm_scopes_walk(policy_scope_row, &p);
	close(lock);
	if (err) {
		json_decref(p.rows);
		return nm_sys("policy list", err);
	}
	if (nm_opts.json)
		nm_json_print(json_pack("{s:o}", "scopes", p.rows));
	else {
		policy_print(p.rows);
		json_decref(p.rows);
	}
	return 0;
}

/* ---- policy del cgroup PATH ---- */

static int policy_del(int argc, char **argv)
{
	struct nm_scope rec;
	char msg[512] = "";
	uint64_t gone[2] = { 0, 0 };
	uint32_t id;
	int lock, err;

	if (argc != 2 || nm_keyword(argv[0], (const char *const[]){ "cgroup", NULL }) != 0)
		return nm_usage("policy del", "expected cgroup PATH");
	err = nm_lock_loaded("policy del", &lock);
	if (err)
		return err;
	err = nm_scope_get("policy del", argv[1], false, &id, &rec);
	if (!err && nm_scope_drop(id, gone, msg, sizeof(msg)))
		err = nm_fail(NM_EXIT_RUNTIME, "policy del", "%s", msg);
	close(lock);
	if (err)
		return err;
	if (nm_opts.json)
		nm_json_print(json_pack("{s:s, s:I, s:I}", "removed_scope", rec.path, "deny_rules",
					(json_int_t)gone[0], "allow_rules", (json_int_t)gone[1]));
	else
		nm_info("removed the scope of %s (%llu deny, %llu allow rules)\n", rec.path,
			(unsigned long long)gone[0], (unsigned long long)gone[1]);
	return 0;
}

int do_policy(int argc, char **argv)
{
	if (argc < 1)
		return policy_help(-1, argv);
	return nm_dispatch("policy", nm_policy_cmds, argc, argv, policy_help);
}
