// SPDX-License-Identifier: GPL-2.0
/*
 * netmonctl events [count N] [timeout SEC] [FILTER...]
 *   FILTER := hook HOOK | verdict { deny | audit } | pid PID | comm NAME |
 *             cgroup PATH | addr ADDR[/LEN] | port N[-M]
 *
 * Reads the pinned ring buffer: whatever was blocked while nobody read is
 * waiting there (up to the ring's size) and comes out first. A ring has one
 * consumer position, so one reader per ring: a lock under /run says who.
 *
 * Output is formatted into one big buffer and written when the ring is
 * drained (so per event when events are rare, in big chunks under load) or
 * when the buffer fills. Drops (events the kernel could not queue because
 * the ring was full; the hooks still enforced) are reported once each,
 * across readers: the count already reported is kept next to the lock.
 */
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "cmds.h"
#include "events.h"

#define EV_YIELD (-11000)     /* callback: return to the loop for its timers */
#define EV_STOP (-11001)      /* callback: done (count reached, signal, EPIPE) */
#define EV_BATCH 4096         /* records per consume before the loop looks around */
#define EV_DROPS_EVERY_NS 100000000ll
#define EV_PIN_EVERY_NS 1000000000ll
#define EV_WINDOW_NS 10000000ll   /* rate window: 10 ms */
#define EV_BUSY_RATE 20000        /* events/s above which a drained reader sleeps */
#define EV_BUSY_SLEEP_NS 1000000  /* 1 ms */

enum ev_stop { EV_RUNNING, EV_COUNT, EV_TIMEOUT, EV_SIGNAL, EV_PIPE, EV_WRITE_ERR, EV_GONE };

struct ev_run {
	struct nm_ev_ctx ctx;
	struct nm_ev_buf out;
	struct nm_ev_filter filter;
	struct nm_ev_lock lock;
	uint64_t count, seen;
	int64_t deadline; /* CLOCK_MONOTONIC ns, 0 = none */
	unsigned batch;
	enum ev_stop stop;
	int64_t timeout_ns;
	bool json, has_count, has_timeout;
	/* drops */
	int counters_fd, ncpu;
	struct nm_counters *percpu;
	uint64_t reported;
	bool dirty;             /* consumed records since the last drops check */
	int64_t drops_checked;  /* when */
	int64_t pin_checked;
	/* load */
	uint64_t consumed, win_consumed;
	int64_t win_start;
	bool busy;
	/* -d statistics */
	uint64_t shown, sleeps, max_drain, drain_start;
	int64_t max_oversleep;
};

static volatile sig_atomic_t ev_signalled;
static int ev_wake_fd = -1;

static void ev_on_signal(int sig)
{
	int saved = errno;
	uint64_t one = 1;

	ev_signalled = sig;
	nm_ev_interrupted = 1;
	if (ev_wake_fd >= 0 && write(ev_wake_fd, &one, sizeof(one)) < 0) {
		/* the flag is enough */
	}
	errno = saved;
}

static int events_help(int argc, char **argv)
{
	(void)argv;
	fprintf(stderr,
		"Usage: netmonctl events [count N] [timeout SEC] [FILTER...]\n"
		"FILTER := hook HOOK | verdict { deny | audit } | pid PID | comm NAME |\n"
		"          cgroup PATH | addr ADDR[/LEN] | port N[-M]\n"
		"HOOK   := connect4 | connect6 | sendmsg4 | sendmsg6 | lsm_connect | lsm_bind |\n"
		"          lsm_listen | lsm_accept | lsm_sendmsg | lsm_recvmsg |\n"
		"          connect | sendmsg | bind | listen | accept | recvmsg\n"
		"Filters of different kinds must all match; repeats of one kind: any.\n"
		"-j prints one JSON object per line (NDJSON).\n");
	return argc < 0 ? NM_EXIT_USAGE : 0;
}

static int ev_parse(struct ev_run *r, int argc, char **argv)
{
	static const char *const kw[] = { "count", "timeout", "hook", "verdict", "pid", "comm",
					  "cgroup", "addr", "port", NULL };
	int i, k, err;

	for (i = 0; i < argc; i += 2) {
		k = nm_keyword(argv[i], kw);
		if (k == -2)
			return nm_usage("events", "'%s' is ambiguous; see 'netmonctl events help'", argv[i]);
		if (k < 0)
			return nm_usage("events", "unknown keyword '%s'; see 'netmonctl events help'", argv[i]);
		if (i + 1 >= argc)
			return nm_usage("events", "%s needs a value", kw[k]);
		if (k == 0) {
			if (nm_parse_u64(argv[i + 1], UINT64_MAX, &r->count) || r->count == 0)
				return nm_usage("events", "count %s: expected a positive number", argv[i + 1]);
			r->has_count = true;
		} else if (k == 1) {
			char *end;
			double sec = strtod(argv[i + 1], &end);

			if (!*argv[i + 1] || *end || !(sec >= 0) || sec > 1e9)
				return nm_usage("events", "timeout %s: expected seconds (0 or more)",
						argv[i + 1]);
			r->timeout_ns = (int64_t)(sec * 1e9);
			r->has_timeout = true;
		} else {
			err = nm_ev_filter_add(&r->filter, k - 2, argv[i + 1]);
			if (err)
				return err;
		}
	}
	return 0;
}

static int ev_sample(void *ctx, void *data, size_t size)
{
	struct ev_run *r = ctx;
	const struct nm_event *e = data;

	r->dirty = true;
	r->consumed++;
	if (size >= sizeof(*e) && nm_ev_match(&r->ctx, e)) {
		if (r->json)
			nm_ev_json(&r->ctx, &r->out, e);
		else
			nm_ev_text(&r->ctx, &r->out, e);
		if (r->out.err) {
			r->stop = r->out.err == EPIPE ? EV_PIPE : EV_WRITE_ERR;
			return EV_STOP;
		}
		r->shown++;
		if (r->has_count && ++r->seen >= r->count) {
			r->stop = EV_COUNT;
			return EV_STOP;
		}
	}
	if (ev_signalled) {
		r->stop = EV_SIGNAL;
		return EV_STOP;
	}
	if (++r->batch >= EV_BATCH)
		return EV_YIELD;
	return 0;
}

static int ev_flush(struct ev_run *r)
{
	if (r->out.len && nm_ev_flush(&r->out)) {
		r->stop = r->out.err == EPIPE ? EV_PIPE : ev_signalled ? EV_SIGNAL : EV_WRITE_ERR;
		return -1;
	}
	return 0;
}

/* Ring-full drops since load: the sum of every hook's per-CPU rb_drops. */
static int ev_drops_total(struct ev_run *r, uint64_t *total)
{
	uint32_t h;
	int c;

	*total = 0;
	for (h = 0; h < NM_HOOK_MAX; h++) {
		if (bpf_map_lookup_elem(r->counters_fd, &h, r->percpu))
			return -errno;
		for (c = 0; c < r->ncpu; c++)
			*total += r->percpu[c].rb_drops;
	}
	return 0;
}

/* Report drops not reported yet (by this reader or an earlier one). */
static void ev_check_drops(struct ev_run *r)
{
	uint64_t total, lost;

	r->dirty = false;
	r->drops_checked = nm_ev_now_mono();
	if (ev_drops_total(r, &total) || total == r->reported)
		return;
	if (total < r->reported) { /* cannot happen with the same map; resync */
		r->reported = total;
		nm_ev_drops_save(&r->lock, total);
		return;
	}
	lost = total - r->reported;
	if (r->json) {
		nm_ev_json_drops(&r->ctx, &r->out, lost, total);
		ev_flush(r);
	} else {
		ev_flush(r);
		fprintf(stderr,
			"netmonctl: events: %llu event%s lost: the ring buffer was full (the hooks still "
			"enforced; %llu lost since load)\n",
			(unsigned long long)lost, lost == 1 ? "" : "s", (unsigned long long)total);
	}
	r->reported = total;
	nm_ev_drops_save(&r->lock, total);
}

static uint32_t ev_map_id(int fd, uint32_t *type)
{
	struct bpf_map_info info = {};
	uint32_t len = sizeof(info);

	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return 0;
	if (type)
		*type = info.type;
	return info.id;
}

/* Still the ring pinned at the pin dir? (unload, or unload + load, orphans it) */
static bool ev_still_pinned(struct ev_run *r)
{
	int fd = nm_open_map(NM_MAP_EVENTS);
	uint32_t id;

	r->pin_checked = nm_ev_now_mono();
	if (fd < 0)
		return fd != -ENOENT;
	id = ev_map_id(fd, NULL);
	close(fd);
	return id == 0 || id == r->lock.events_id;
}

static int ev_epoll_add(int ep, int fd, uint32_t events)
{
	struct epoll_event ev = { .events = events, .data.fd = fd };

	return epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev);
}

static int ev_loop(struct ev_run *r, struct ring_buffer *rb, int ring_fd)
{
	struct epoll_event evs[4];
	int ep, n, i, wait;
	bool out_polled;

	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		return nm_sys("events", errno);
	if (ev_epoll_add(ep, ring_fd, EPOLLIN) || ev_epoll_add(ep, ev_wake_fd, EPOLLIN)) {
		close(ep);
		return nm_sys("events", errno);
	}
	/* A pipe's write end reports EPOLLERR once the reader is gone: notice
	 * `| head -1` while idle. Regular files and /dev/null cannot be polled. */
	out_polled = ev_epoll_add(ep, STDOUT_FILENO, 0) == 0;

	while (!r->stop) {
		int64_t now;

		if (ev_signalled) {
			r->stop = EV_SIGNAL;
			break;
		}
		r->batch = 0;
		n = ring_buffer__consume(rb);
		if (n != EV_YIELD) { /* drained: how far behind were we? */
			if (r->consumed - r->drain_start > r->max_drain)
				r->max_drain = r->consumed - r->drain_start;
			r->drain_start = r->consumed;
		}
		if (r->stop)
			break;
		if (n < 0 && n != EV_YIELD) {
			close(ep);
			ev_flush(r);
			return nm_sys("events: reading the ring buffer", n);
		}
		now = nm_ev_now_mono();
		/* timeout 0: what is queued, then stop (within a second on a busy ring). */
		if (r->deadline && now >= r->deadline &&
		    (r->timeout_ns || n != EV_YIELD || now - r->deadline >= EV_PIN_EVERY_NS)) {
			r->stop = EV_TIMEOUT;
			break;
		}
		if (now - r->pin_checked >= EV_PIN_EVERY_NS && !ev_still_pinned(r)) {
			r->stop = EV_GONE;
			break;
		}
		if (n == EV_YIELD) { /* busy: keep draining, mind the drops timer */
			if (now - r->drops_checked >= EV_DROPS_EVERY_NS)
				ev_check_drops(r);
			continue;
		}
		/* Drained: the output goes now, so a live reader sees each event. */
		if (ev_flush(r))
			break;
		if (r->dirty && now - r->drops_checked >= EV_DROPS_EVERY_NS) {
			ev_check_drops(r);
			if (r->stop)
				break;
		}
		/*
		 * The kernel queues a wakeup for every record submitted while the
		 * reader is caught up. Under load that is one wakeup per event and
		 * it slows the hooks down several times; so above EV_BUSY_RATE a
		 * drained reader sleeps EV_BUSY_SLEEP_NS instead of waiting for a
		 * wakeup (one wakeup per sleep, at most that much added latency).
		 */
		if (now - r->win_start >= EV_WINDOW_NS) {
			r->busy = (r->consumed - r->win_consumed) * (1000000000ll / EV_WINDOW_NS) >= EV_BUSY_RATE;
			r->win_start = now;
			r->win_consumed = r->consumed;
		}
		if (r->busy) {
			struct timespec ts = { 0, EV_BUSY_SLEEP_NS };

			if (r->deadline && r->deadline - now < EV_BUSY_SLEEP_NS)
				ts.tv_nsec = r->deadline - now > 0 ? r->deadline - now : 0;
			nanosleep(&ts, NULL); /* a signal cuts it short */
			r->sleeps++;
			if (nm_ev_now_mono() - now - ts.tv_nsec > r->max_oversleep)
				r->max_oversleep = nm_ev_now_mono() - now - ts.tv_nsec;
			if (out_polled) { /* not waiting in epoll: look at stdout here */
				struct pollfd p = { .fd = STDOUT_FILENO };

				if (poll(&p, 1, 0) == 1 && (p.revents & (POLLERR | POLLHUP)))
					r->stop = EV_PIPE;
			}
			continue;
		}
		wait = EV_PIN_EVERY_NS / 1000000;
		if (r->dirty) {
			int64_t left = r->drops_checked + EV_DROPS_EVERY_NS - now;

			wait = left <= 0 ? 0 : (int)((left + 999999) / 1000000);
		}
		if (r->deadline) {
			int64_t left = r->deadline - now;
			int ms = left <= 0 ? 0 : (int)((left + 999999) / 1000000);

			if (ms < wait)
				wait = ms;
		}
		n = epoll_wait(ep, evs, 4, wait);
		if (n < 0 && errno != EINTR) {
			close(ep);
			return nm_sys("events: epoll_wait", errno);
		}
		for (i = 0; i < n; i++) {
			if (evs[i].data.fd == STDOUT_FILENO && (evs[i].events & (EPOLLERR | EPOLLHUP)))
				r->stop = EV_PIPE;
			else if (evs[i].data.fd == ev_wake_fd)
				r->stop = EV_SIGNAL;
		}
	}
	close(ep);
	if (nm_opts.debug)
		fprintf(stderr,
			"netmonctl: events: read %llu records, shown %llu, drops reported since load %llu; "
			"most records read before the ring was next empty %llu; busy sleeps %llu, "
			"longest oversleep %.3f ms\n",
			(unsigned long long)r->consumed, (unsigned long long)r->shown,
			(unsigned long long)r->reported, (unsigned long long)r->max_drain,
			(unsigned long long)r->sleeps, r->max_oversleep / 1e6);
	switch (r->stop) {
	case EV_TIMEOUT:
		/* Everything is consumed: drops not reported yet come last. */
		if (r->dirty)
			ev_check_drops(r);
		/* fall through */
	case EV_COUNT:
		ev_flush(r);
		break;
	case EV_SIGNAL:
		ev_flush(r); /* whole lines only; a second signal abandons even that */
		break;
	default:
		break;
	}
	if (r->stop == EV_WRITE_ERR)
		return nm_fail(NM_EXIT_RUNTIME, "events", "writing the output: %s", strerror(r->out.err));
	if (r->stop == EV_GONE) {
		ev_flush(r);
		return nm_fail(NM_EXIT_RUNTIME, "events", "netmonctl was unloaded from %s; stopping",
			       nm_opts.pin_dir);
	}
	return 0;
}

static int ev_signals(void)
{
	struct sigaction sa = {};

	ev_wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (ev_wake_fd < 0)
		return -errno;
	sa.sa_handler = ev_on_signal; /* no SA_RESTART: blocking calls return EINTR */
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN); /* a closed pipe is EPIPE from write(): exit 0 */
	return 0;
}

/*
 * A reader the scheduler keeps waiting longer than the ring lasts loses
 * events, while it needs only a few percent of a CPU even at 500000
 * events/s. So, like auditd's priority_boost, it raises its priority (to
 * nice EV_NICE) where it may, but only from the default: a nice the user
 * chose is kept.
 */
#define EV_NICE (-5)
static void ev_boost(void)
{
	int cur;

	errno = 0;
	cur = getpriority(PRIO_PROCESS, 0);
	if (errno == 0 && cur == 0 && setpriority(PRIO_PROCESS, 0, EV_NICE)) {
		/* not allowed: fine, run as is */
	}
}

static int ev_open(struct ev_run *r, int *ring_fd)
{
	uint32_t type = 0, events_id, counters_id;
	char who[400];
	int err;

	*ring_fd = nm_open_map(NM_MAP_EVENTS);
	if (*ring_fd < 0)
		return nm_sys("events: opening the ring buffer", *ring_fd);
	events_id = ev_map_id(*ring_fd, &type);
	if (!events_id)
		return nm_sys("events", errno);
	if (type != BPF_MAP_TYPE_RINGBUF)
		return nm_fail(NM_EXIT_RUNTIME, "events", "pinned map '%s' is not a ring buffer",
			       NM_MAP_EVENTS);
	r->counters_fd = nm_open_map(NM_MAP_COUNTERS);
	if (r->counters_fd < 0)
		return nm_sys("events: opening the counters", r->counters_fd);
	err = nm_map_check(r->counters_fd, NM_MAP_COUNTERS, sizeof(uint32_t), sizeof(struct nm_counters));
	if (err)
		return err == -EPROTO ? NM_EXIT_RUNTIME : nm_sys("events", err);
	counters_id = ev_map_id(r->counters_fd, NULL);
	r->ncpu = libbpf_num_possible_cpus();
	if (r->ncpu <= 0)
		return nm_sys("events", r->ncpu ? r->ncpu : EINVAL);
	r->percpu = calloc(r->ncpu, sizeof(*r->percpu));
	if (!r->percpu)
		return nm_sys("events", ENOMEM);
	err = nm_ev_lock(&r->lock, events_id, counters_id, who, sizeof(who));
	if (err == -EBUSY)
		return nm_fail(NM_EXIT_RUNTIME, "events",
			       "another reader is running: %s; a ring buffer has one consumer, "
			       "a second reader would steal its events",
			       who);
	if (err)
		return nm_fail(NM_EXIT_RUNTIME, "events", "%s: %s", r->lock.path, strerror(-err));
	r->reported = nm_ev_drops_reported(&r->lock);
	return 0;
}

int do_events(int argc, char **argv)
{
	struct ev_run *r;
	struct ring_buffer *rb = NULL;
	int ring_fd = -1, err;

	if (argc == 1 && !strcmp(argv[0], "help"))
		return events_help(0, argv);
	r = calloc(1, sizeof(*r));
	if (!r)
		return nm_sys("events", ENOMEM);
	r->counters_fd = -1;
	r->lock.fd = -1;
	r->json = nm_opts.json;
	r->dirty = true; /* check drops once the backlog is out */
	r->drops_checked = r->pin_checked = nm_ev_now_mono() - EV_PIN_EVERY_NS;
	err = ev_parse(r, argc, argv);
	if (!err)
		err = nm_require_loaded("events");
	if (!err)
		err = ev_open(r, &ring_fd);
	if (!err && (nm_ev_ctx_init(&r->ctx, &r->filter) || nm_ev_buf_init(&r->out, STDOUT_FILENO)))
		err = nm_sys("events", ENOMEM);
	if (!err && ev_signals())
		err = nm_sys("events", errno);
	if (!err) {
		rb = ring_buffer__new(ring_fd, ev_sample, r, NULL);
		if (!rb)
			err = nm_sys("events: ring_buffer__new", errno);
	}
	if (!err) {
		if (!r->json && isatty(STDOUT_FILENO))
			nm_ev_text_header(&r->out);
		ev_boost();
		if (r->has_timeout)
			r->deadline = nm_ev_now_mono() + r->timeout_ns;
		err = ev_loop(r, rb, ring_fd);
	}
	ring_buffer__free(rb);
	nm_ev_unlock(&r->lock);
	nm_ev_ctx_free(&r->ctx);
	nm_ev_buf_free(&r->out);
	nm_ev_filter_free(&r->filter);
	free(r->percpu);
	if (r->counters_fd >= 0)
		close(r->counters_fd);
	if (ring_fd >= 0)
		close(ring_fd);
	if (ev_wake_fd >= 0)
		close(ev_wake_fd);
	ev_wake_fd = -1;
	free(r);
	return err;
}
