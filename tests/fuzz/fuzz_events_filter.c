// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer: the `events` filters, as the command line gives them.
 * The input is split into words (at blanks and newlines, like a shell
 * would); the words go in KIND VALUE pairs to nm_ev_filter_add(), all into
 * one filter (so the per-kind limits are reached too). KIND is a filter
 * keyword or a unique prefix of one (as `netmonctl events` takes it); a
 * word that is neither is taken as a kind index by its first byte, so bad
 * kinds reach the parser as well. Then nm_ev_match() runs on a few
 * synthetic events, and everything is freed.
 * Checks, beyond the sanitizers: a rejection is -EINVAL (or -ENOMEM) with a
 * one-line message; counts never pass NM_EV_FILTER_MAX, port ranges are
 * ordered, comm is terminated, hook and verdict bits are in range; an empty
 * filter matches everything.
 *
 * Uses only src/events.h. Links: src/events_filter.c src/events_ctx.c
 * src/rule.c src/cgroup.c src/util.c (+ src/output.c, src/objects.c for
 * what util.c and rule.c reference) -ljansson -lbpf.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include "events.h"
#include "fuzz.h"

#define MAX_WORDS 256

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
	for (i = 0; i < f->naddr; i++)
		FUZZ_ASSERT(f->addr[i].plen <= (f->addr[i].family == NM_FAM_V4 ? 32 : 128));
}

static int kind_of(const char *w)
{
	int k = nm_keyword(w, nm_ev_filter_kw);

	if (k >= 0)
		return k;
	/* not a keyword: any index, in range or not */
	return (int)(signed char)w[0] - '0';
}

/* A few events: IPv4 egress, IPv6 bind, garbage numbers, an unknown cgroup. */
static void synth(struct nm_event *ev, int n, const uint8_t *data, size_t size)
{
	int i;

	memset(ev, 0, n * sizeof(*ev));
	ev[0].hook = NM_HOOK_CONNECT4;
	ev[0].verdict = NM_VERDICT_DENY;
	ev[0].pid = 100;
	memcpy(ev[0].comm, "nmprobe", 7);
	ev[0].family = NM_FAM_V4;
	inet_pton(AF_INET, "127.0.0.2", ev[0].raddr);
	ev[0].rport = 9;
	ev[1].hook = NM_HOOK_LSM_BIND;
	ev[1].verdict = NM_VERDICT_AUDIT;
	ev[1].pid = 1;
	memcpy(ev[1].comm, "sixteen-bytes-xy", 16); /* unterminated */
	ev[1].family = NM_FAM_V6;
	ev[1].dir = NM_DIR_BIND;
	inet_pton(AF_INET6, "2001:db8::1", ev[1].raddr);
	ev[1].rport = 8080;
	ev[1].cgroup_id = 1; /* no such cgroup (the root's id is larger) */
	/* the last one from the input's own bytes */
	for (i = 0; i < (int)sizeof(ev[2]) && (size_t)i < size; i++)
		((uint8_t *)&ev[2])[i] = data[size - 1 - i];
	ev[2].cgroup_id = 0;
}

static struct nm_ev_ctx shared;
static bool shared_ready;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct nm_ev_filter *f = calloc(1, sizeof(*f));
	struct nm_event ev[3];
	struct nm_ev_ctx ctx;
	char *buf = malloc(size + 1), *words[MAX_WORDS], *save = NULL, *w;
	int n = 0, i;

	if (!f || !buf)
		goto out;
	memcpy(buf, data, size);
	buf[size] = 0;
	for (w = strtok_r(buf, " \t\n", &save); w && n < MAX_WORDS; w = strtok_r(NULL, " \t\n", &save))
		words[n++] = w;
	for (i = 0; i + 1 < n; i += 2) {
		struct nm_ev_err e;
		int rc;

		memset(&e, 0, sizeof(e));
		rc = nm_ev_filter_add(f, kind_of(words[i]), words[i + 1], &e);
		FUZZ_ASSERT(rc == 0 || rc == -EINVAL || rc == -ENOMEM);
		if (rc)
			FUZZ_ASSERT(rc == -ENOMEM ||
				    (e.code == NM_EXIT_USAGE && e.msg[0] && !memchr(e.msg, '\n', sizeof(e.msg))));
		check(f);
	}
	synth(ev, 3, data, size);
	/* The cgroup cache keeps what the filter said of each cgroup: a filter
	 * with cgroups gets a fresh context, the others share one (fast). */
	if (f->ncg && nm_ev_ctx_init(&ctx, f))
		goto out;
	if (!f->ncg) {
		if (!shared_ready && nm_ev_ctx_init(&shared, NULL))
			goto out;
		shared_ready = true;
		shared.filter = f;
	}
	for (i = 0; i < 3; i++) {
		bool any = !f->hooks && !f->verdicts && !f->npid && !f->ncomm && !f->ncg && !f->naddr &&
			   !f->nport;
		bool m = nm_ev_match(f->ncg ? &ctx : &shared, &ev[i]);

		FUZZ_ASSERT(m || !any);
	}
	if (f->ncg)
		nm_ev_ctx_free(&ctx);
out:
	if (f)
		nm_ev_filter_free(f);
	free(f);
	free(buf);
	return 0;
}
