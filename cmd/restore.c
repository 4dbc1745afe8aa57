// SPDX-License-Identifier: GPL-2.0
/*
 * netmonctl restore { FILE | - }: make the kernel match a state file
 * (src/statefile.c; `save` writes one). In order, under the pin-dir lock:
 * load if nothing is loaded; each list becomes the file's in one switch
 * (a rule in both is never lifted): the global allow and deny lists, then
 * each scope's (made if new) and its default, then the scopes the file
 * does not name are removed; the global default and the mode; then every
 * attachment the file names is made and every other one of netmonctl's
 * is removed, new ones first, so a layer is never missing where both
 * states have it. Allow lists go before deny lists and defaults last, so
 * a moment between two switches denies more, not less.
 * Running it twice changes nothing the second time. A bad file, a cgroup
 * that does not exist or an LSM layer this kernel refuses changes nothing.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cmds.h"

struct restore_job {
	struct nm_state st;
	size_t at[NM_LISTS + 1]; /* st.rules grouped by list (nm_state_group) */
	uint64_t *ids; /* the file's cgroups, resolved */
	json_t *report;
	size_t added, removed, total;
	bool mode_changed;
};

static int restore_read(const char *name, struct nm_state *st, size_t at[NM_LISTS + 1])
{
	bool std = !strcmp(name, "-");
	int fd = std ? STDIN_FILENO : open(name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	char msg[600];
	int err;

	if (fd < 0)
		return nm_fail(NM_EXIT_USAGE, "restore", "%s: %s", name, strerror(errno));
	err = nm_statefile_read(fd, std ? "<stdin>" : name, st, msg, sizeof(msg));
	if (!std)
		close(fd);
	if (err)
		return nm_fail(err == -EINVAL ? NM_EXIT_USAGE : NM_EXIT_RUNTIME, "restore", "%s; nothing changed",
			       msg);
	err = nm_state_group(st, at);
	return err ? nm_sys("restore", err) : 0;
}

/* Everything the file asks for that could fail before a change: checked first. */
static int restore_check(struct restore_job *j)
{
	char path[NM_PATH_MAX];
	size_t i;
	int err;

	j->ids = calloc(j->st.n_cgroups + 1, sizeof(*j->ids));
	if (!j->ids)
		return nm_sys("restore", ENOMEM);
	for (i = 0; i < j->st.n_cgroups; i++) {
		err = nm_cgroup_resolve(j->st.cgroups[i], path, sizeof(path));
		if (!err)
			err = nm_cgroup_id(path, &j->ids[i]);
		if (err)
			return nm_fail(NM_EXIT_RUNTIME, "restore", "attach cgroup %s: %s; nothing changed",
				       j->st.cgroups[i], err == -ENOTDIR ? "not a cgroup v2 directory" : strerror(-err));
	}
	for (i = 0; i < j->st.n_scopes; i++) {
		uint64_t id;
		size_t k;

		err = nm_cgroup_resolve(j->st.scopes[i].cgroup, path, sizeof(path));
		if (!err)
			err = nm_cgroup_id(path, &id);
		if (err)
			return nm_fail(NM_EXIT_RUNTIME, "restore", "cgroup %s: %s; nothing changed",
				       j->st.scopes[i].cgroup,
				       err == -ENOTDIR ? "not a cgroup v2 directory" : strerror(-err));
		for (k = 0; k < j->st.n_cgroups; k++)
			if (j->ids[k] == id)
				return nm_fail(NM_EXIT_USAGE, "restore", "cgroup %s: both a scope and where the "
					       "cgroup layer is attached; nothing changed", j->st.scopes[i].cgroup);
	}
	err = j->st.lsm ? nm_probe_lsm() : 0;
	if (err)
		return nm_fail(NM_EXIT_RUNTIME, "restore", "attach lsm: this kernel refuses BPF-LSM programs (%s); "
			       "nothing changed", nm_errno_name(err));
	return 0;
}

/* The global default, and the mode when the file gives one. */
static int restore_config(struct restore_job *j)
{
	struct nm_config cfg;
	int err = nm_config_read(&cfg);

	j->mode_changed = !err && j->st.mode >= 0 && cfg.mode != (uint32_t)j->st.mode;
	if (!err && (j->mode_changed || cfg.default_deny != j->st.default_deny)) {
		if (j->st.mode >= 0)
			cfg.mode = j->st.mode;
		cfg.default_deny = j->st.default_deny;
		err = nm_config_write(&cfg);
	}
	return err ? nm_sys("restore: config", err) : 0;
}

/* List `list` becomes the file's list `file_list` (see struct nm_state). */
static int restore_list(struct restore_job *j, uint16_t file_list, uint16_t list)
{
	struct nm_rules rs = {};
	char msg[512] = "";
	size_t i, added = 0, removed = 0;
	int err = 0;

	for (i = j->at[file_list]; i < j->at[file_list + 1] && !err; i++)
		err = nm_rules_push(&rs, &j->st.rules.v[i]);
	if (!err)
		err = nm_rules_set_list(&rs, 0, list);
	if (err) {
		nm_rules_free(&rs);
		return nm_sys("restore", err);
	}
	err = nm_store_replace(list, rs.v, rs.n, &added, &removed, msg, sizeof(msg));
	j->added += added;
	j->removed += removed;
	j->total += rs.n;
	nm_rules_free(&rs);
	return err ? nm_fail(NM_EXIT_RUNTIME, "restore", "%s", msg) : 0;
}

/* Allow list first: see the top of the file. */
static int restore_lists(struct restore_job *j, uint32_t file_scope, uint32_t scope)
{
	int err = restore_list(j, nm_list_id(file_scope, 1), nm_list_id(scope, 1));

	return err ?: restore_list(j, nm_list_id(file_scope, 0), nm_list_id(scope, 0));
}

struct restore_kept {
	bool keep[NM_MAX_SCOPES + 1];
	uint32_t drop[NM_MAX_SCOPES + 1];
	size_t n_drop;
};

static int restore_scope_unnamed(uint32_t id, const struct nm_scope *rec, void *arg)
{
	struct restore_kept *k = arg;

	(void)rec;
	if (id <= NM_MAX_SCOPES && !k->keep[id])
		k->drop[k->n_drop++] = id;
	return 0;
}

/* The file's scopes made to match it, then every other one removed. */
static int restore_scopes(struct restore_job *j)
{
	struct restore_kept *k = calloc(1, sizeof(*k));
	struct nm_scope rec;
	uint64_t gone[2];
	char msg[512] = "";
	uint32_t id;
	size_t i;
	int err = k ? 0 : nm_sys("restore", ENOMEM);

	for (i = 0; !err && i < j->st.n_scopes; i++) {
		err = nm_scope_get("restore", j->st.scopes[i].cgroup, true, &id, &rec);
		if (!err)
			err = restore_lists(j, (uint32_t)i + 1, id);
		if (!err && rec.default_deny != j->st.scopes[i].default_deny) {
			rec.default_deny = j->st.scopes[i].default_deny;
			err = nm_scope_write(id, &rec);
			err = err ?: nm_scope_sync(id, &rec);
			err = err ? nm_sys("restore: scope", err) : 0;
		}
		if (!err && id <= NM_MAX_SCOPES)
			k->keep[id] = true;
	}
	if (!err && (err = nm_scopes_walk(restore_scope_unnamed, k)) != 0)
		err = nm_sys("restore: scopes", err);
	for (i = 0; !err && i < k->n_drop; i++) {
		gone[0] = gone[1] = 0;
		if (nm_scope_drop(k->drop[i], gone, msg, sizeof(msg)))
			err = nm_fail(NM_EXIT_RUNTIME, "restore", "%s", msg);
		j->removed += gone[0] + gone[1];
	}
	free(k);
	return err;
}

static bool restore_has_id(const struct restore_job *j, uint64_t id)
{
	size_t i;

	for (i = 0; i < j->st.n_cgroups; i++)
		if (j->ids[i] == id)
			return true;
	return false;
}

/* The file's attachments made, then every other one removed. */
static int restore_links(struct restore_job *j)
{
	uint64_t *have = NULL;
	size_t n = 0, i;
	bool lsm;
	int err = 0;

	for (i = 0; !err && i < j->st.n_cgroups; i++)
		err = nm_attach_cgroup(j->st.cgroups[i], j->report);
	if (!err && j->st.lsm)
		err = nm_attach_lsm(j->report);
	if (!err && (err = nm_attached(&have, &n, &lsm)) != 0)
		err = nm_sys("restore: links", err);
	for (i = 0; !err && i < n; i++)
		if (!restore_has_id(j, have[i]))
			err = nm_detach_cgroup_id(have[i], j->report);
	if (!err && lsm && !j->st.lsm)
		err = nm_detach_lsm(j->report);
	free(have);
	return err;
}

static int restore_locked(struct restore_job *j)
{
	int lock, err = nm_lock_for_load(&lock);

	if (err)
		return err;
	if (!nm_is_loaded())
		err = nm_load(&j->st.load, j->report);
	if (!err)
		err = restore_lists(j, 0, 0);
	if (!err)
		err = restore_scopes(j);
	if (!err)
		err = restore_config(j);
	if (!err)
		err = restore_links(j);
	close(lock);
	return err;
}

int do_restore(int argc, char **argv)
{
	struct restore_job j = { .report = json_object() };
	int err;

	if (argc == 1 && !strcmp(argv[0], "help")) {
		nm_help_one("restore");
		json_decref(j.report);
		return 0;
	}
	err = argc == 1 ? 0 : nm_usage("restore", "expected one FILE or -");
	if (!err)
		err = restore_read(argv[0], &j.st, j.at);
	if (!err)
		err = restore_check(&j);
	if (!err)
		err = restore_locked(&j);
	if (!err) {
		json_object_set_new(j.report, "rules", json_pack("{s:I, s:I, s:I}", "added", (json_int_t)j.added,
								 "removed", (json_int_t)j.removed, "total",
								 (json_int_t)j.total));
		json_object_set_new(j.report, "scopes", json_integer((json_int_t)j.st.n_scopes));
		json_object_set_new(j.report, "mode_changed", json_boolean(j.mode_changed));
		nm_info("restored: added %zu rule%s, removed %zu (%zu in all", j.added, j.added == 1 ? "" : "s",
			j.removed, j.total);
		if (j.st.n_scopes)
			nm_info(", %zu scope%s", j.st.n_scopes, j.st.n_scopes == 1 ? "" : "s");
		nm_info(")%s\n", j.mode_changed ? "; mode changed" : "");
	}
	free(j.ids);
	nm_state_free(&j.st);
	return nm_finish(j.report, err);
}
