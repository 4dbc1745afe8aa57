// SPDX-License-Identifier: GPL-2.0
/*
 * netmonctl events, the reader: drains the pinned ring buffer through the
 * filter into the output, reports drops, stops on count, timeout, signal,
 * a closed output or an unload.
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
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "events_internal.h"

#define EV_YIELD (-11000)     /* callback: return to the loop for its timers */
#define EV_STOP (-11001)      /* callback: done (count reached, signal, EPIPE) */
#define EV_BATCH 4096         /* records per consume before the loop looks around */
#define EV_DROPS_EVERY_NS 100000000ll
#define EV_PIN_EVERY_NS 1000000000ll
#define EV_WINDOW_NS 10000000ll   /* rate window: 10 ms */
#define EV_BUSY_RATE 20000        /* events/s above which a drained reader sleeps */
#define EV_BUSY_SLEEP_NS 1000000  /* 1 ms */

enum ev_stop { EV_RUNNING, EV_COUNT, EV_TIMEOUT, EV_SIGNAL, EV_PIPE, EV_WRITE_ERR, EV_GONE };

struct nm_ev_reader {
	struct nm_ev_opts o;
	struct nm_ev_ctx ctx;
	struct nm_ev_buf out;
	struct nm_ev_lock lock;
	struct ring_buffer *rb;
	int ring_fd;
	uint64_t seen;
	int64_t deadline; /* CLOCK_MONOTONIC ns, 0 = none */
	unsigned batch;
	enum ev_stop stop;
	/* drops */
	int counters_fd, ncpu;
	struct nm_counters *percpu;
	bool dirty;             /* consumed records since the last drops check */
	int64_t drops_checked;  /* when */
	int64_t pin_checked;
	/* load */
	uint64_t win_consumed;
	int64_t win_start;
	bool busy;
	uint64_t drain_start;
	struct nm_ev_stats st;  /* st.reported: drops reported so far (since load) */
};

static volatile sig_atomic_t ev_signalled;
static int ev_wake_fd = -1;

void nm_ev_interrupt(int sig)
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

static int ev_sample(void *ctx, void *data, size_t size)
{
	struct nm_ev_reader *r = ctx;
	const struct nm_event *e = data;

	r->dirty = true;
	r->st.consumed++;
	if (size >= sizeof(*e) && nm_ev_match(&r->ctx, e)) {
		if (r->o.json)
			nm_ev_json(&r->ctx, &r->out, e);
		else
			nm_ev_text(&r->ctx, &r->out, e);
		if (r->out.err) {
			r->stop = r->out.err == EPIPE ? EV_PIPE : EV_WRITE_ERR;
			return EV_STOP;
		}
		r->st.shown++;
		if (r->o.count && ++r->seen >= r->o.count) {
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

static int ev_flush(struct nm_ev_reader *r)
{
	if (r->out.len && nm_ev_flush(&r->out)) {
		r->stop = r->out.err == EPIPE ? EV_PIPE : ev_signalled ? EV_SIGNAL : EV_WRITE_ERR;
		return -1;
	}
	return 0;
}

/* Ring-full drops since load: the sum of every hook's per-CPU rb_drops. */
static int ev_drops_total(struct nm_ev_reader *r, uint64_t *total)
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
static void ev_check_drops(struct nm_ev_reader *r)
{
	uint64_t total, lost;

	r->dirty = false;
	r->drops_checked = nm_ev_now_mono();
	if (ev_drops_total(r, &total) || total == r->st.reported)
		return;
	if (total < r->st.reported) { /* cannot happen with the same map; resync */
		r->st.reported = total;
		nm_ev_drops_save(&r->lock, total);
		return;
	}
	lost = total - r->st.reported;
	if (r->o.json) {
		nm_ev_json_drops(&r->ctx, &r->out, lost, total);
		ev_flush(r);
	} else {
		ev_flush(r);
		if (r->o.on_drops)
			r->o.on_drops(r->o.arg, lost, total);
	}
	r->st.reported = total;
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
static bool ev_still_pinned(struct nm_ev_reader *r)
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

/* Drained and busy: sleep instead of taking a wakeup per event (see below). */
static void ev_busy_sleep(struct nm_ev_reader *r, int64_t now, bool out_polled)
{
	struct timespec ts = { 0, EV_BUSY_SLEEP_NS };

	if (r->deadline && r->deadline - now < EV_BUSY_SLEEP_NS)
		ts.tv_nsec = r->deadline - now > 0 ? r->deadline - now : 0;
	nanosleep(&ts, NULL); /* a signal cuts it short */
	r->st.sleeps++;
	if (nm_ev_now_mono() - now - ts.tv_nsec > r->st.max_oversleep)
		r->st.max_oversleep = nm_ev_now_mono() - now - ts.tv_nsec;
	if (out_polled) { /* not waiting in epoll: look at stdout here */
		struct pollfd p = { .fd = r->o.out_fd };

		if (poll(&p, 1, 0) == 1 && (p.revents & (POLLERR | POLLHUP)))
			r->stop = EV_PIPE;
	}
}

/* How long an idle reader may wait (ms): drops timer, deadline, pin check. */
static int ev_wait_ms(struct nm_ev_reader *r, int64_t now)
{
	int wait = EV_PIN_EVERY_NS / 1000000;

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
	return wait;
}

static int ev_loop(struct nm_ev_reader *r, int ep, bool out_polled, struct nm_ev_err *e)
{
	struct epoll_event evs[4];
	int n, i;

	while (!r->stop) {
		int64_t now;

		if (ev_signalled) {
			r->stop = EV_SIGNAL;
			break;
		}
		r->batch = 0;
		n = ring_buffer__consume(r->rb);
		if (n != EV_YIELD) { /* drained: how far behind were we? */
			if (r->st.consumed - r->drain_start > r->st.max_drain)
				r->st.max_drain = r->st.consumed - r->drain_start;
			r->drain_start = r->st.consumed;
		}
		if (r->stop)
			break;
		if (n < 0 && n != EV_YIELD) {
			ev_flush(r);
			return nm_ev_errno(e, n, "reading the ring buffer");
		}
		now = nm_ev_now_mono();
		/* timeout 0: what is queued, then stop (within a second on a busy ring). */
		if (r->deadline && now >= r->deadline &&
		    (r->o.timeout_ns || n != EV_YIELD || now - r->deadline >= EV_PIN_EVERY_NS)) {
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
			r->busy = (r->st.consumed - r->win_consumed) * (1000000000ll / EV_WINDOW_NS) >=
				  EV_BUSY_RATE;
			r->win_start = now;
			r->win_consumed = r->st.consumed;
		}
		if (r->busy) {
			ev_busy_sleep(r, now, out_polled);
			continue;
		}
		n = epoll_wait(ep, evs, 4, ev_wait_ms(r, now));
		if (n < 0 && errno != EINTR)
			return nm_ev_errno(e, errno, "epoll_wait");
		for (i = 0; i < n; i++) {
			if (evs[i].data.fd == r->o.out_fd && (evs[i].events & (EPOLLERR | EPOLLHUP)))
				r->stop = EV_PIPE;
			else if (evs[i].data.fd == ev_wake_fd)
				r->stop = EV_SIGNAL;
		}
	}
	return 0;
}

/* What is left to write or report once the loop stopped, and why it did. */
static int ev_finish(struct nm_ev_reader *r, struct nm_ev_err *e)
{
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
		return nm_ev_errf(e, NM_EXIT_RUNTIME, "writing the output: %s", strerror(r->out.err));
	if (r->stop == EV_GONE) {
		ev_flush(r);
		nm_ev_errf(e, NM_EXIT_RUNTIME, "netmonctl was unloaded from %s; stopping", nm_opts.pin_dir);
		return -ENOENT;
	}
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

int nm_ev_reader_run(struct nm_ev_reader *r, struct nm_ev_err *e)
{
	bool out_polled;
	int ep, err;

	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		return nm_ev_errno(e, errno, "");
	if (ev_epoll_add(ep, r->ring_fd, EPOLLIN) || ev_epoll_add(ep, ev_wake_fd, EPOLLIN)) {
		err = errno;
		close(ep);
		return nm_ev_errno(e, err, "");
	}
	/* A pipe's write end reports EPOLLERR once the reader is gone: notice
	 * `| head -1` while idle. Regular files and /dev/null cannot be polled. */
	out_polled = ev_epoll_add(ep, r->o.out_fd, 0) == 0;
	if (!r->o.json && r->o.header)
		nm_ev_text_header(&r->out);
	ev_boost();
	if (r->o.timeout_ns >= 0)
		r->deadline = nm_ev_now_mono() + r->o.timeout_ns;
	err = ev_loop(r, ep, out_polled, e);
	close(ep);
	return err ?: ev_finish(r, e);
}

const struct nm_ev_stats *nm_ev_reader_stats(const struct nm_ev_reader *r)
{
	return &r->st;
}

static int ev_open_maps(struct nm_ev_reader *r, struct nm_ev_err *e)
{
	uint32_t type = 0, events_id, counters_id;
	int err;

	r->ring_fd = nm_open_map(NM_MAP_EVENTS);
	if (r->ring_fd < 0)
		return nm_ev_errno(e, r->ring_fd, "opening the ring buffer");
	events_id = ev_map_id(r->ring_fd, &type);
	if (!events_id)
		return nm_ev_errno(e, errno, "");
	if (type != BPF_MAP_TYPE_RINGBUF) {
		nm_ev_errf(e, NM_EXIT_RUNTIME, "pinned map '%s' is not a ring buffer", NM_MAP_EVENTS);
		return -EPROTO;
	}
	r->counters_fd = nm_open_map(NM_MAP_COUNTERS);
	if (r->counters_fd < 0)
		return nm_ev_errno(e, r->counters_fd, "opening the counters");
	err = nm_map_check(r->counters_fd, NM_MAP_COUNTERS, sizeof(uint32_t), sizeof(struct nm_counters));
	if (err == -EPROTO) { /* nm_map_check() has said what is wrong */
		e->code = NM_EXIT_RUNTIME;
		e->err = 0;
		e->msg[0] = 0;
		return err;
	}
	if (err)
		return nm_ev_errno(e, err, "");
	counters_id = ev_map_id(r->counters_fd, NULL);
	r->ncpu = libbpf_num_possible_cpus();
	if (r->ncpu <= 0)
		return nm_ev_errno(e, r->ncpu ? r->ncpu : EINVAL, "");
	r->percpu = calloc(r->ncpu, sizeof(*r->percpu));
	if (!r->percpu)
		return nm_ev_errno(e, ENOMEM, "");
	err = nm_ev_lock(&r->lock, events_id, counters_id, e);
	if (err)
		return err;
	r->st.reported = nm_ev_drops_reported(&r->lock);
	return 0;
}

int nm_ev_reader_open(struct nm_ev_reader **rp, const struct nm_ev_opts *o,
		      const struct nm_ev_filter *f, struct nm_ev_err *e)
{
	struct nm_ev_reader *r = calloc(1, sizeof(*r));
	int err;

	*rp = r;
	if (!r)
		return nm_ev_errno(e, ENOMEM, "");
	r->o = *o;
	r->ring_fd = r->counters_fd = -1;
	r->lock.fd = r->lock.dirfd = -1;
	r->ctx.cg_mount_fd = -1;
	r->dirty = true; /* check drops once the backlog is out */
	r->drops_checked = r->pin_checked = nm_ev_now_mono() - EV_PIN_EVERY_NS;
	err = ev_open_maps(r, e);
	if (err)
		return err;
	if (nm_ev_ctx_init(&r->ctx, f) || nm_ev_buf_init(&r->out, o->out_fd))
		return nm_ev_errno(e, ENOMEM, "");
	r->out.journal = o->journal;
	ev_wake_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	if (ev_wake_fd < 0)
		return nm_ev_errno(e, errno, "");
	r->rb = ring_buffer__new(r->ring_fd, ev_sample, r, NULL);
	if (!r->rb)
		return nm_ev_errno(e, errno, "ring_buffer__new");
	return 0;
}

void nm_ev_reader_close(struct nm_ev_reader *r)
{
	if (!r)
		return;
	ring_buffer__free(r->rb);
	nm_ev_unlock(&r->lock);
	nm_ev_ctx_free(&r->ctx);
	nm_ev_buf_free(&r->out);
	free(r->percpu);
	if (r->counters_fd >= 0)
		close(r->counters_fd);
	if (r->ring_fd >= 0)
		close(r->ring_fd);
	if (ev_wake_fd >= 0)
		close(ev_wake_fd);
	ev_wake_fd = -1;
	free(r);
}
