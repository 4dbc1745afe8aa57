// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer: the rule parser (nm_rule_parse) on argv words.
 * Input: words separated by blanks, newlines or NUL bytes (up to 16).
 * Checks, beyond the sanitizers: an accepted RULE stands for 1 to
 * NM_RULE_SPLIT_MAX rules, no two the same (port lists fold duplicates);
 * each formats to text that parses back to that one rule and formats the
 * same again (a comment quoted, nm_line_words); its map key and bucket
 * slot stay inside the layout; a
 * rejection has a one-line message.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "nm.h"
#include "fuzz.h"

static void check_accepted(const struct nm_rule *r)
{
	char text[NM_RULE_TEXT_MAX], again[NM_RULE_TEXT_MAX], err[300], buf[NM_RULE_TEXT_MAX], *argv[16];
	struct nm_rule r2[2];
	struct nm_rule_key k;
	int argc;

	nm_rule_format(r, text, sizeof(text));
	snprintf(buf, sizeof(buf), "%s", text);
	argc = nm_line_words(buf, argv, 16, err, sizeof(err)); /* a comment is quoted */
	FUZZ_ASSERT(argc > 0);
	FUZZ_ASSERT(nm_rule_parse(argc, argv, r2, 2, err, sizeof(err)) == 1);
	FUZZ_ASSERT(!memcmp(r, &r2[0], sizeof(*r)));
	nm_rule_format(&r2[0], again, sizeof(again));
	FUZZ_ASSERT(!strcmp(text, again));

	FUZZ_ASSERT(r->dir < NM_DIR_MAX && r->port.lo <= r->port.hi);
	/* one class, or ANY; a class without ports has no port condition */
	FUZZ_ASSERT(r->port.protos == NM_PROTO_ANY ||
		    (r->port.protos && !(r->port.protos & (r->port.protos - 1)) &&
		     r->port.protos <= NM_PROTO_RAW));
	FUZZ_ASSERT((r->port.protos & NM_PROTO_PORTED) || nm_port_rule_portless(&r->port));
	nm_rule_key(r, &k);
	FUZZ_ASSERT(k.prefixlen <= NM_MAX_PREFIXLEN);
	if (r->family != NM_FAM_ANY) {
		FUZZ_ASSERT(r->family == NM_FAM_V4 ? r->plen <= 32 : r->plen <= 128);
		FUZZ_ASSERT(nm_bucket_slot(k.dir, k.family, k.addr) < nm_wide_slot(k.dir, k.family));
		FUZZ_ASSERT(nm_wide_slot(k.dir, k.family) < NM_BUCKET_SLOTS_ALL);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct nm_rule r[NM_RULE_SPLIT_MAX];
	char *buf, *argv[16], err[300] = "";
	size_t i, start = 0;
	int argc = 0, n, j, k;

	buf = malloc(size + 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = 0;
	for (i = 0; i <= size; i++) {
		if (i < size && buf[i] != ' ' && buf[i] != '\n' && buf[i] != 0)
			continue;
		buf[i] = 0;
		if (i > start && argc < 16)
			argv[argc++] = buf + start;
		start = i + 1;
	}
	n = nm_rule_parse(argc, argv, r, NM_RULE_SPLIT_MAX, err, sizeof(err));
	if (n < 0)
		FUZZ_ASSERT(n == -EINVAL && err[0] && !strchr(err, '\n'));
	FUZZ_ASSERT(n <= NM_RULE_SPLIT_MAX && n != 0);
	for (j = 0; j < n; j++) {
		check_accepted(&r[j]);
		for (k = 0; k < j; k++)
			FUZZ_ASSERT(memcmp(&r[j], &r[k], sizeof(r[j])));
	}
	free(buf);
	nm_note_pool_free();
	return 0;
}
