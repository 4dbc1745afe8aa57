// SPDX-License-Identifier: GPL-2.0
/*
 * netmonctl events [count N] [timeout SEC] [output {text|json|journal}] [FILTER...]
 *   FILTER := hook HOOK | verdict { deny | audit } | pid PID | comm NAME |
 *             cgroup PATH | addr ADDR[/LEN] | port N[-M]
 *
 * Reads the pinned ring buffer: whatever was blocked while nobody read is
 * waiting there (up to the ring's size) and comes out first. A ring has one
 * consumer position, so one reader per ring: a lock under /run says who.
 * The reader itself is src/events_reader.c; this file parses the command
 * line, handles signals and prints what the reader reports.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "cmds.h"
#include "events.h"

static int events_help(int argc, char **argv)
{
	(void)argv;
	nm_help_one("events");
	fprintf(stderr,
		NM_HELP_FILTER
		"HOOK   := connect4 | connect6 | sendmsg4 | sendmsg6 | bind4 | bind6 | sock_create |\n"
		"          lsm_connect | lsm_bind | lsm_listen | lsm_accept | lsm_sendmsg | lsm_recvmsg |\n"
		"          connect | sendmsg | bind | listen | accept | recvmsg | socket\n"
		"Filters of different kinds must all match; repeats of one kind: any.\n"
		"-j (or output json) prints one JSON object per line (NDJSON); output journal\n"
		"sends each event to systemd-journald with its keys as NETMONCTL_* fields.\n");
	return argc < 0 ? NM_EXIT_USAGE : 0;
}

/* Print what src/events_*.c reported, once. */
static int ev_fail(const struct nm_ev_err *e)
{
	char what[600];

	if (e->err) {
		snprintf(what, sizeof(what), "events%s%s", *e->msg ? ": " : "", e->msg);
		return nm_sys(what, e->err);
	}
	if (!*e->msg) /* said already, where it was found */
		return e->code ? e->code : NM_EXIT_RUNTIME;
	return nm_fail(e->code ? e->code : NM_EXIT_RUNTIME, "events", "%s", e->msg);
}

/* output {text|json|journal}: journal is JSON lines turned into entries. */
static int ev_parse_output(struct nm_ev_opts *o, const char *word)
{
	static const char *const outs[] = { "text", "json", "journal", NULL };
	int k = nm_keyword(word, outs);

	if (k < 0)
		return nm_usage("events", "output %s: expected text, json or journal", word);
	o->json = k > 0;
	o->journal = k == 2;
	return 0;
}

static int ev_parse(struct nm_ev_opts *o, struct nm_ev_filter *f, int argc, char **argv)
{
	static const char *const kw[] = { "count", "timeout", "output", "hook", "verdict", "pid",
					  "comm", "cgroup", "addr", "port", NULL };
	struct nm_ev_err e = {};
	int i, k;

	for (i = 0; i < argc; i += 2) {
		k = nm_keyword(argv[i], kw);
		if (k == -2)
			return nm_usage("events", "'%s' is ambiguous; see 'netmonctl events help'", argv[i]);
		if (k < 0)
			return nm_usage("events", "unknown keyword '%s'; see 'netmonctl events help'", argv[i]);
		if (i + 1 >= argc)
			return nm_usage("events", "%s needs a value", kw[k]);
		if (k == 0) {
			if (nm_parse_u64(argv[i + 1], UINT64_MAX, &o->count) || o->count == 0)
				return nm_usage("events", "count %s: expected a positive number", argv[i + 1]);
		} else if (k == 1) {
			uint64_t ns;

			if (nm_parse_seconds(argv[i + 1], 1000000000, &ns))
				return nm_usage("events", "timeout %s: expected seconds (0 or more)",
						argv[i + 1]);
			o->timeout_ns = (int64_t)ns;
		} else if (k == 2) {
			if (ev_parse_output(o, argv[i + 1]))
				return NM_EXIT_USAGE;
		} else if (nm_ev_filter_add(f, k - 3, argv[i + 1], &e)) {
			return ev_fail(&e);
		}
	}
	return 0;
}

/* Text mode: drops go to stderr, between the lines of stdout. */
static void ev_on_drops(void *arg, uint64_t lost, uint64_t total)
{
	(void)arg;
	fprintf(stderr,
		"netmonctl: events: %llu event%s lost: the ring buffer was full (the hooks still "
		"enforced; %llu lost since load)\n",
		(unsigned long long)lost, lost == 1 ? "" : "s", (unsigned long long)total);
}

static void ev_signals(void)
{
	struct sigaction sa = {};

	sa.sa_handler = nm_ev_interrupt; /* no SA_RESTART: blocking calls return EINTR */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN); /* a closed pipe is EPIPE from write(): exit 0 */
}

static void ev_print_stats(const struct nm_ev_stats *s)
{
	fprintf(stderr,
		"netmonctl: events: read %llu records, shown %llu, drops reported since load %llu; "
		"most records read before the ring was next empty %llu; busy sleeps %llu, "
		"longest oversleep %.3f ms\n",
		(unsigned long long)s->consumed, (unsigned long long)s->shown,
		(unsigned long long)s->reported, (unsigned long long)s->max_drain,
		(unsigned long long)s->sleeps, s->max_oversleep / 1e6);
}

int do_events(int argc, char **argv)
{
	struct nm_ev_opts o = { .json = nm_opts.json, .timeout_ns = -1, .out_fd = STDOUT_FILENO,
				.on_drops = ev_on_drops };
	struct nm_ev_filter *f;
	struct nm_ev_reader *r = NULL;
	struct nm_ev_err e = {};
	int err;

	if (argc == 1 && !strcmp(argv[0], "help"))
		return events_help(0, argv);
	f = calloc(1, sizeof(*f));
	if (!f)
		return nm_sys("events", ENOMEM);
	err = ev_parse(&o, f, argc, argv);
	if (!err)
		err = nm_require_loaded("events");
	if (!err && o.journal) {
		o.out_fd = nm_ev_journal_open(&e);
		if (o.out_fd < 0)
			err = ev_fail(&e);
	}
	if (!err) {
		o.header = !o.json && isatty(o.out_fd);
		if (nm_ev_reader_open(&r, &o, f, &e))
			err = ev_fail(&e);
	}
	if (!err) {
		ev_signals();
		if (nm_ev_reader_run(r, &e))
			err = ev_fail(&e);
		if (nm_opts.debug)
			ev_print_stats(nm_ev_reader_stats(r));
	}
	nm_ev_reader_close(r);
	if (o.journal && o.out_fd >= 0)
		close(o.out_fd);
	nm_ev_filter_free(f);
	free(f);
	return err;
}
