// SPDX-License-Identifier: GPL-2.0
/* netmonctl load [ringbuf BYTES] [entries N] */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include "cmds.h"

static int nm_load_args(int argc, char **argv, struct nm_load_opts *o)
{
	static const char *const kw[] = { "ringbuf", "entries", NULL };
	long page = sysconf(_SC_PAGESIZE);
	uint64_t v;
	int i, k;

	for (i = 0; i < argc; i += 2) {
		k = nm_keyword(argv[i], kw);
		if (k < 0)
			return nm_usage("load", "unknown keyword '%s'; expected ringbuf or entries", argv[i]);
		if (i + 1 >= argc)
			return nm_usage("load", "%s needs a value", kw[k]);
		if (k == 0) {
			if (nm_parse_size(argv[i + 1], &v) || v < (uint64_t)page || v > (1ull << 30) ||
			    (v & (v - 1)))
				return nm_usage("load", "ringbuf %s: a power of two from %ld to 1G (e.g. 4M)",
						argv[i + 1], page);
			o->ringbuf = v;
			o->ringbuf_set = true;
		} else {
			if (nm_parse_u64(argv[i + 1], 1u << 26, &v) || v == 0)
				return nm_usage("load", "entries %s: a number from 1 to %u", argv[i + 1], 1u << 26);
			o->entries = v;
			o->entries_set = true;
		}
	}
	return 0;
}

/* bpffs and the pin dir, then the lock. An `unload` can remove a pin dir
 * between the two (the lock then reports ENOENT): make it again. */
static int nm_load_locked(const struct nm_load_opts *o, json_t *report)
{
	int lock = -ENOENT, err = 0, tries;

	for (tries = 0; tries < 3 && lock == -ENOENT; tries++) {
		err = nm_bpffs_prepare();
		if (err)
			return err;
		lock = nm_lock();
	}
	if (lock < 0)
		return nm_sys(nm_opts.pin_dir, lock);
	err = nm_load(o, report);
	close(lock);
	return err;
}

int do_load(int argc, char **argv)
{
	struct nm_load_opts o = {};
	json_t *report;
	const char *lsm;
	int err;

	if (argc == 1 && !strcmp(argv[0], "help")) {
		fprintf(stderr, "Usage: netmonctl load [ringbuf BYTES] [entries N]\n");
		return 0;
	}
	err = nm_load_args(argc, argv, &o);
	if (err)
		return err;
	report = json_object();
	err = nm_load_locked(&o, report);
	if (!err && !nm_opts.json) {
		lsm = json_string_value(json_object_get(report, "lsm_layer"));
		printf("%s at %s\n", json_string_value(json_object_get(report, "action")), nm_opts.pin_dir);
		printf("cgroup layer: loaded (connect4 connect6 sendmsg4 sendmsg6 bind4 bind6)\n");
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
