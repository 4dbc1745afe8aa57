// SPDX-License-Identifier: GPL-2.0
/* netmonctl events: placeholder until the events issue lands. */
#include "cmds.h"

int do_events(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	return nm_fail(NM_EXIT_RUNTIME, "events", "not built yet");
}
