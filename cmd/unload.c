// SPDX-License-Identifier: GPL-2.0
/* netmonctl unload: detach and remove everything netmonctl pinned. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "cmds.h"

int do_unload(int argc, char **argv)
{
	int lock, err;

	if (argc == 1 && !strcmp(argv[0], "help")) {
		fprintf(stderr, "Usage: netmonctl unload\n");
		return 0;
	}
	if (argc)
		return nm_usage("unload", "takes no arguments");
	err = nm_require_loaded("unload");
	if (err)
		return err;
	lock = nm_lock();
	if (lock < 0)
		return nm_sys(nm_opts.pin_dir, lock);
	/* The LSM switch off, then links: the kernel frees an LSM link a little
	 * after its last reference goes, and it must decide nothing meanwhile. */
	struct nm_config cfg;

	if (nm_config_read(&cfg) == 0 && cfg.lsm_enabled) {
		cfg.lsm_enabled = 0;
		nm_config_write(&cfg);
	}
	err = nm_detach_all();
	if (!err)
		err = nm_rmdir_tree(nm_opts.pin_dir);
	close(lock);
	if (err)
		return nm_sys("unload", err);
	if (nm_opts.json)
		nm_json_print(json_pack("{s:s, s:s}", "action", "unloaded", "pin_dir", nm_opts.pin_dir));
	else
		printf("unloaded %s\n", nm_opts.pin_dir);
	return 0;
}
