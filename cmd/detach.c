// SPDX-License-Identifier: GPL-2.0
/* netmonctl detach [cgroup PATH] [lsm]: the reverse of attach, same grammar. */
#include "cmds.h"

int do_detach(int argc, char **argv)
{
	return nm_target_cmd("detach", argc, argv, false);
}
