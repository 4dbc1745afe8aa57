// SPDX-License-Identifier: GPL-2.0
/* netmonctl detach [cgroup PATH] [lsm]: the reverse of attach. */
#include <stdio.h>
#include <string.h>
#include "cmds.h"

int do_detach(int argc, char **argv)
{
	char root[NM_PATH_MAX];
	struct nm_target t;
	json_t *report;
	int err;

	if (argc == 1 && !strcmp(argv[0], "help")) {
		fprintf(stderr, "Usage: netmonctl detach [cgroup PATH] [lsm]\n");
		return 0;
	}
	err = nm_parse_target("detach", argc, argv, &t) ?: nm_require_loaded("detach");
	if (err)
		return err;
	if (t.bare) {
		err = nm_bare_root("detach", root, sizeof(root));
		if (err)
			return err;
		t.cgroup = root;
	}
	report = json_object();
	if (t.cgroup)
		err = nm_detach_cgroup(t.cgroup, report);
	/* Bare detach also drops LSM links if there are any; not an error if none. */
	if (!err && (t.lsm || (t.bare && nm_probe_lsm() == 0)))
		err = nm_detach_lsm(report);
	return nm_finish(report, err);
}
