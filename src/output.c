// SPDX-License-Identifier: GPL-2.0
/* JSON output: one document per command on stdout, compact or pretty. */
#include <stdio.h>
#include "nm.h"

void nm_json_print(json_t *root)
{
	size_t flags = JSON_PRESERVE_ORDER;

	flags |= nm_opts.pretty ? JSON_INDENT(2) : JSON_COMPACT;
	json_dumpf(root, stdout, flags);
	fputc('\n', stdout);
	fflush(stdout);
	json_decref(root);
}

json_t *nm_json_counters(const struct nm_counters *c)
{
	return json_pack("{s:I, s:I, s:I, s:I}", "checked", (json_int_t)c->checked, "denied",
			 (json_int_t)c->denied, "audited", (json_int_t)c->audited, "rb_drops",
			 (json_int_t)c->rb_drops);
}
