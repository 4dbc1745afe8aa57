// SPDX-License-Identifier: GPL-2.0
/* netmonctl attach [cgroup PATH] [lsm] */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "cmds.h"

/* Never mounts anything: without a bpffs there, netmonctl is not loaded. */
int nm_require_loaded(const char *cmd)
{
	int err = nm_pin_dir_check();

	if (err)
		return err;
	if (!nm_is_loaded())
		return nm_fail(NM_EXIT_RUNTIME, cmd, "netmonctl is not loaded at %s (%srun 'netmonctl load')",
			       nm_opts.pin_dir, nm_bpffs_present() ? "" : "no bpffs there; ");
	return 0;
}

/* Loaded, and stays so: the pin-dir lock, then the check again under it. */
int nm_lock_loaded(const char *cmd, int *lock)
{
	int err = nm_require_loaded(cmd);

	if (err)
		return err;
	*lock = nm_lock();
	if (*lock == -ENOENT) /* unloaded meanwhile */
		return nm_fail(NM_EXIT_RUNTIME, cmd, "netmonctl is not loaded at %s (unloaded meanwhile)",
			       nm_opts.pin_dir);
	if (*lock < 0)
		return nm_sys(nm_opts.pin_dir, *lock);
	if (!nm_is_loaded()) {
		close(*lock);
		*lock = -1;
		return nm_require_loaded(cmd);
	}
	return 0;
}

int nm_parse_target(const char *cmd, int argc, char **argv, struct nm_target *t)
{
	static const char *const kw[] = { "cgroup", "lsm", NULL };
	int i, k;

	memset(t, 0, sizeof(*t));
	t->bare = argc == 0;
	for (i = 0; i < argc; i++) {
		k = nm_keyword(argv[i], kw);
		if (k < 0)
			return nm_usage(cmd, "unknown keyword '%s'; expected cgroup PATH or lsm", argv[i]);
		if (k == 1) {
			t->lsm = true;
			continue;
		}
		if (t->cgroup)
			return nm_usage(cmd, "cgroup given twice");
		if (++i >= argc)
			return nm_usage(cmd, "cgroup needs a PATH");
		t->cgroup = argv[i];
	}
	return 0;
}

/* Bare attach/detach means every layer, system-wide: the cgroup2 root
 * (found from /proc/mounts) plus LSM when it is loaded. */
int nm_bare_root(const char *cmd, char *buf, size_t len)
{
	int err = nm_cgroup2_mount(buf, len);

	return err ? nm_fail(NM_EXIT_RUNTIME, cmd, "no cgroup2 mount in /proc/mounts") : 0;
}

/* attach and detach share grammar and defaults; only the direction differs. */
int nm_target_cmd(const char *cmd, int argc, char **argv, bool attach)
{
	char root[NM_PATH_MAX];
	struct nm_target t;
	json_t *report;
	int lock, err;

	if (argc == 1 && !strcmp(argv[0], "help")) {
		nm_help_one(cmd);
		return 0;
	}
	err = nm_parse_target(cmd, argc, argv, &t);
	if (!err && t.bare) {
		err = nm_bare_root(cmd, root, sizeof(root));
		t.cgroup = root;
		/* Every available layer: LSM only where this kernel loads it. */
		t.lsm = nm_probe_lsm() == 0;
	}
	/* Under the lock: a `load` upgrading meanwhile would switch every
	 * pinned link but miss the one this command is about to pin. */
	if (!err)
		err = nm_lock_loaded(cmd, &lock);
	if (err)
		return err;
	report = json_object();
	if (t.cgroup)
		err = attach ? nm_attach_cgroup(t.cgroup, report) : nm_detach_cgroup(t.cgroup, report);
	if (!err && t.lsm)
		err = attach ? nm_attach_lsm(report) : nm_detach_lsm(report);
	close(lock);
	return nm_finish(report, err);
}

int do_attach(int argc, char **argv)
{
	return nm_target_cmd("attach", argc, argv, true);
}
