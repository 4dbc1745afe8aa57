// SPDX-License-Identifier: GPL-2.0
/* netmonctl load [ringbuf BYTES] [entries N] */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "cmds.h"

/* bpffs and the pin dir, then the lock (in *lock). An `unload` can remove
 * a pin dir between the two (the lock then reports ENOENT): make it again. */
int nm_lock_for_load(int *lock)
{
	int err, tries;

	*lock = -ENOENT;
	for (tries = 0; tries < 3 && *lock == -ENOENT; tries++) {
		err = nm_bpffs_prepare();
		if (err)
			return err;
		*lock = nm_lock();
	}
	return *lock < 0 ? nm_sys(nm_opts.pin_dir, *lock) : 0;
}

static int nm_load_locked(const struct nm_load_opts *o, json_t *report)
{
	int lock, err = nm_lock_for_load(&lock);

	if (err)
		return err;
	err = nm_load(o, report);
	close(lock);
	return err;
}

int do_load(int argc, char **argv)
{
	struct nm_load_opts o = {};
	json_t *report;
	const char *lsm;
	char msg[200];
	int err;

	if (argc == 1 && !strcmp(argv[0], "help")) {
		nm_help_one("load");
		return 0;
	}
	if (nm_load_opts_parse(argc, argv, &o, msg, sizeof(msg)))
		return nm_usage("load", "%s", msg);
	report = json_object();
	err = nm_load_locked(&o, report);
	if (!err && !nm_opts.json && !nm_opts.quiet) {
		lsm = json_string_value(json_object_get(report, "lsm_layer"));
		printf("%s at %s\n", json_string_value(json_object_get(report, "action")), nm_opts.pin_dir);
		printf("cgroup layer: loaded (connect4 connect6 sendmsg4 sendmsg6 bind4 bind6 sock_create)\n");
		if (strcmp(lsm, "available"))
			printf("lsm layer: unavailable: %s\n", lsm);
		else
			printf("lsm layer: loaded (socket_connect bind listen accept sendmsg recvmsg)\n");
		if (json_object_get(report, "links_updated"))
			printf("links switched to the new programs: %lld\n",
			       json_integer_value(json_object_get(report, "links_updated")));
	}
	return nm_finish(report, err);
}
