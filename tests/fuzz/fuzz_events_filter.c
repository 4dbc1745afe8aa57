// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer: the `events` filter parser (nm_ev_filter_add, src/events.h).
 * Input: lines; the first byte of a line picks the kind ('0'-'6': hook
 * verdict pid comm cgroup addr port; any other byte modulo 7), the rest is
 * the value. All lines go into one
 * filter, so the per-kind limits are exercised too.
 * Checks, beyond the sanitizers: a rejection is -EINVAL with a one-line
 * message; counts never pass NM_EV_FILTER_MAX, port ranges are ordered,
 * comm is terminated, hook and verdict bits are in range.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "events.h"

#define FUZZ_ASSERT(c)                                                                        \
	do {                                                                                 \
		if (!(c)) {                                                                  \
			fprintf(stderr, "fuzz_events_filter: %s:%d: %s\n", __FILE__, __LINE__, #c); \
			abort();                                                             \
		}                                                                            \
	} while (0)

static int nkinds(void)
{
	int n = 0;

	while (nm_ev_filter_kw[n])
		n++;
	return n;
}

static void check(const struct nm_ev_filter *f)
{
	int i;

	FUZZ_ASSERT(f->npid <= NM_EV_FILTER_MAX && f->ncomm <= NM_EV_FILTER_MAX);
	FUZZ_ASSERT(f->ncg <= NM_EV_FILTER_MAX && f->naddr <= NM_EV_FILTER_MAX);
	FUZZ_ASSERT(f->nport <= NM_EV_FILTER_MAX);
	FUZZ_ASSERT(!(f->hooks >> NM_HOOK_MAX));
	FUZZ_ASSERT(!(f->verdicts & ~((1u << NM_VERDICT_DENY) | (1u << NM_VERDICT_AUDIT))));
	for (i = 0; i < f->nport; i++)
		FUZZ_ASSERT(f->port[i].lo <= f->port[i].hi);
	for (i = 0; i < f->ncomm; i++)
		FUZZ_ASSERT(memchr(f->comm[i], 0, NM_COMM_LEN));
	for (i = 0; i < f->npid; i++)
		FUZZ_ASSERT(f->pid[i] != 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nm_ev_filter f;
	char *buf, *line, *save = NULL;
	int kinds = nkinds();

	buf = malloc(size + 1);
	if (!buf)
		return 0;
	memcpy(buf, data, size);
	buf[size] = 0;
	memset(&f, 0, sizeof(f));
	for (line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		unsigned char c = line[0];
		struct nm_ev_err e;
		int rc;

		memset(&e, 0, sizeof(e));
		rc = nm_ev_filter_add(&f, c >= '0' && c < '0' + kinds ? c - '0' : c % kinds, line + 1, &e);
		FUZZ_ASSERT(rc == 0 || rc == -EINVAL || rc == -ENOMEM);
		if (rc == -EINVAL)
			FUZZ_ASSERT(e.msg[0] && !memchr(e.msg, '\n', sizeof(e.msg)));
		check(&f);
	}
	nm_ev_filter_free(&f);
	free(buf);
	return 0;
}
