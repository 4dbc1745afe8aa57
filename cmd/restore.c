// SPDX-License-Identifier: GPL-2.0
/*
 * netmonctl restore { FILE | - }: make the kernel match a state file
 * (src/statefile.c; `save` writes one). In order, under the pin-dir lock:
 * load if nothing is loaded; the rule set becomes the file's in one switch
 * (a rule in both is never lifted); the mode; then every attachment the
 * file names is made and every other one of netmonctl's is removed, new
 * ones first, so a layer is never missing where both states have it.
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
	uint64_t *ids; /* the file's cgroups, resolved */
	json_t *report;
	size_t added, removed;
	bool mode_changed;
};

static int restore_read(const char *name, struct nm_state *st)
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
	return 0;
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
	err = j->st.lsm ? nm_probe_lsm() : 0;
	if (err)
		return nm_fail(NM_EXIT_RUNTIME, "restore", "attach lsm: this kernel refuses BPF-LSM programs (%s); "
			       "nothing changed", nm_errno_name(err));
	return 0;
}

static int restore_mode(struct restore_job *j)
{
	struct nm_config cfg;
	int err = nm_config_read(&cfg);

	if (!err && j->st.mode >= 0 && cfg.mode != (uint32_t)j->st.mode) {
		cfg.mode = j->st.mode;
		err = nm_config_write(&cfg);
		j->mode_changed = !err;
	}
	return err ? nm_sys("restore: mode", err) : 0;
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
	char msg[512] = "";
	int lock, err = nm_lock_for_load(&lock);

	if (err)
		return err;
	if (!nm_is_loaded())
		err = nm_load(&j->st.load, j->report);
	if (!err) {
		err = nm_store_replace(0, j->st.rules.v, j->st.rules.n, &j->added, &j->removed, msg, sizeof(msg));
		if (err)
			err = nm_fail(NM_EXIT_RUNTIME, "restore", "%s", msg);
	}
	if (!err)
		err = restore_mode(j);
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
		err = restore_read(argv[0], &j.st);
	if (!err)
		err = restore_check(&j);
	if (!err)
		err = restore_locked(&j);
	if (!err) {
		json_object_set_new(j.report, "rules", json_pack("{s:I, s:I, s:I}", "added", (json_int_t)j.added,
								 "removed", (json_int_t)j.removed, "total",
								 (json_int_t)j.st.rules.n));
		json_object_set_new(j.report, "mode_changed", json_boolean(j.mode_changed));
		nm_info("restored: added %zu rule%s, removed %zu (%zu in all)%s\n", j.added,
			j.added == 1 ? "" : "s", j.removed, j.st.rules.n, j.mode_changed ? "; mode changed" : "");
	}
	free(j.ids);
	nm_state_free(&j.st);
	return nm_finish(j.report, err);
}
