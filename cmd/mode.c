// SPDX-License-Identifier: GPL-2.0
/* netmonctl mode [ enforce | audit ] */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "cmds.h"

static const char *const mode_kw[] = { "enforce", "audit", NULL };

int do_mode(int argc, char **argv)
{
	struct nm_config cfg;
	int k = -1, lock, err;

	if (argc == 1 && !strcmp(argv[0], "help")) {
		nm_help_one("mode");
		return 0;
	}
	if (argc > 1)
		return nm_usage("mode", "expected enforce or audit");
	if (argc == 1 && (k = nm_keyword(argv[0], mode_kw)) < 0)
		return nm_usage("mode", "'%s': expected enforce or audit", argv[0]);
	err = nm_lock_loaded("mode", &lock);
	if (err)
		return err;
	err = nm_config_read(&cfg);
	if (!err && k >= 0) {
		cfg.mode = k;
		err = nm_config_write(&cfg);
	}
	close(lock);
	if (err)
		return nm_sys("mode", err);
	if (nm_opts.json)
		nm_json_print(json_pack("{s:s}", "mode", mode_kw[cfg.mode == NM_MODE_AUDIT]));
	else if (k < 0 || !nm_opts.quiet) /* showing the mode is data; setting it, a success line */
		printf("%s\n", mode_kw[cfg.mode == NM_MODE_AUDIT]);
	return 0;
}
