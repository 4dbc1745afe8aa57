// SPDX-License-Identifier: GPL-2.0
/* netmonctl pin { prog NAME | map NAME | link NAME } PATH */
#include <errno.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "cmds.h"

int do_pin(int argc, char **argv)
{
	static const char *const kw[] = { "prog", "map", "link", NULL };
	static const char *const sub[] = { "progs", "maps", "links" };
	char src[NM_PATH_MAX], tmp[NM_PATH_MAX], dir[NM_PATH_MAX];
	int k, fd, lock, err;

	if (argc == 1 && !strcmp(argv[0], "help")) {
		nm_help_one("pin");
		return 0;
	}
	if (argc != 3)
		return nm_usage("pin", "expected { prog | map | link } NAME PATH");
	k = nm_keyword(argv[0], kw);
	if (k < 0)
		return nm_usage("pin", "'%s': expected prog, map or link", argv[0]);
	if (strchr(argv[1], '/') || argv[1][0] == '.')
		return nm_usage("pin", "'%s': not an object name (see 'netmonctl status')", argv[1]);
	snprintf(tmp, sizeof(tmp), "%s", argv[2]);
	snprintf(dir, sizeof(dir), "%s", dirname(tmp));
	if (!nm_on_bpffs(dir))
		return nm_usage("pin", "%s: not on a bpffs (mount -t bpf bpf %s)", argv[2], dir);
	err = nm_lock_loaded("pin", &lock);
	if (err)
		return err;
	nm_pin_path(src, sizeof(src), sub[k], argv[1]);
	fd = bpf_obj_get(src);
	if (fd < 0) {
		err = errno;
		close(lock);
		return nm_fail(NM_EXIT_RUNTIME, "pin", "no %s named '%s' (%s)", kw[k], argv[1],
			       strerror(err));
	}
	err = bpf_obj_pin(fd, argv[2]) ? errno : 0;
	close(fd);
	close(lock);
	if (err)
		return nm_fail(NM_EXIT_RUNTIME, argv[2], "cannot pin: %s", strerror(err));
	if (nm_opts.json)
		nm_json_print(json_pack("{s:s, s:s, s:s}", "type", kw[k], "name", argv[1], "path", argv[2]));
	else
		nm_info("pinned %s %s at %s\n", kw[k], argv[1], argv[2]);
	return 0;
}
