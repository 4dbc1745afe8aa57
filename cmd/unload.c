// SPDX-License-Identifier: GPL-2.0
/*
 * netmonctl unload: detach and remove what netmonctl pinned, by name. Other
 * pins in the pin dir (another tool's, a nested netmonctl's pin dir) stay,
 * and so does the pin dir unless `load` made it and it is empty now.
 */
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "cmds.h"

int do_unload(int argc, char **argv)
{
	struct nm_config cfg;
	bool gone;
	int lock, err;

	if (argc == 1 && !strcmp(argv[0], "help")) {
		nm_help_one("unload");
		return 0;
	}
	if (argc)
		return nm_usage("unload", "takes no arguments");
	err = nm_lock_loaded("unload", &lock);
	if (err)
		return err;
	/* The LSM switch off, then links: the kernel frees an LSM link a little
	 * after its last reference goes, and it must decide nothing meanwhile. */
	if (nm_config_read(&cfg) == 0 && cfg.lsm_enabled) {
		cfg.lsm_enabled = 0;
		nm_config_write(&cfg);
	}
	nm_error_clear(); /* an unreadable config does not stop an unload */
	err = nm_detach_all();
	if (!err)
		err = nm_unpin_objects();
	gone = !err && nm_pin_dir_tidy();
	close(lock);
	if (err)
		return nm_sys("unload", err);
	if (nm_opts.json)
		nm_json_print(json_pack("{s:s, s:s, s:b}", "action", "unloaded", "pin_dir", nm_opts.pin_dir,
					"pin_dir_removed", gone));
	else
		nm_info("unloaded %s%s\n", nm_opts.pin_dir,
		       gone ? "" : " (directory kept: not made by netmonctl, or other pins in it)");
	return 0;
}
