/* SPDX-License-Identifier: GPL-2.0 */
/*
 * netmonctl events: the reader loop (events_reader.c), formatting
 * (events_format.c), filters (events_filter.c), per-reader caches
 * (events_ctx.c) and the single-reader lock (events_lock.c). Per event,
 * everything is allocation-free (caches allocate once per new cgroup).
 *
 * Nothing here prints: functions that can fail fill a struct nm_ev_err and
 * return a negative errno; cmd/events.c prints once.
 */
#ifndef NM_EVENTS_H
#define NM_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "nm.h"

/* ---- errors ---- */
struct nm_ev_err {
	int code;      /* NM_EXIT_USAGE or NM_EXIT_RUNTIME */
	int err;       /* errno: msg is context for strerror(err); 0: msg is all */
	char msg[512];
};

/* ---- output buffer: big chunks, write(2) when told or when full ---- */
#define NM_EV_BUF_SIZE (256u << 10)
#define NM_EV_BUF_ROOM (16u << 10) /* flush first when less than this is left */
struct nm_ev_buf {
	char *p;
	size_t len;
	int fd;
	int err; /* first write error (positive errno); EPIPE = reader went away */
	bool journal; /* fd is journald's socket: each line goes as one entry */
};
int nm_ev_buf_init(struct nm_ev_buf *b, int fd);
void nm_ev_buf_free(struct nm_ev_buf *b);
int nm_ev_flush(struct nm_ev_buf *b); /* 0 or -errno (also kept in b->err) */
/* `output journal` (events_journal.c): the socket (NETMONCTL_JOURNAL_SOCKET
 * or journald's), connected; fd or -errno (e says why). The flush sends
 * each NDJSON line of the buffer as one entry, its keys as NETMONCTL_ fields. */
int nm_ev_journal_open(struct nm_ev_err *e);
const char *nm_ev_journal_path(void);
int nm_ev_journal_flush(struct nm_ev_buf *b);
/* Set from a signal handler: an interrupted write finishes its line, then stops. */
extern volatile int nm_ev_interrupted;

/* ---- filters: kinds AND together, repeats of one kind OR ---- */
#define NM_EV_FILTER_MAX 16
struct nm_ev_port_range {
	uint16_t lo, hi;
};
struct nm_ev_filter {
	uint32_t hooks;    /* bit per enum nm_hook; 0 = any */
	uint32_t verdicts; /* bit per enum nm_verdict; 0 = any */
	int npid, ncomm, ncg, naddr, nport;
	uint32_t pid[NM_EV_FILTER_MAX];
	char comm[NM_EV_FILTER_MAX][NM_COMM_LEN];
	uint64_t cg_id[NM_EV_FILTER_MAX];
	char *cg_path[NM_EV_FILTER_MAX]; /* canonical path, for descendants */
	struct nm_rule addr[NM_EV_FILTER_MAX];
	struct nm_ev_port_range port[NM_EV_FILTER_MAX];
};
/* Parse one `KIND VALUE` filter: kind is an index into nm_ev_filter_kw,
 * value the word after it. Returns 0; -EINVAL for a bad value (a usage
 * error, described in e) or -ENOMEM. A zeroed struct is an empty filter. */
enum nm_ev_filter_kind {
	NM_EV_F_HOOK, NM_EV_F_VERDICT, NM_EV_F_PID, NM_EV_F_COMM, NM_EV_F_CGROUP, NM_EV_F_ADDR,
	NM_EV_F_PORT, NM_EV_F_MAX,
};
extern const char *const nm_ev_filter_kw[NM_EV_F_MAX + 1]; /* hook verdict pid comm cgroup addr port */
int nm_ev_filter_add(struct nm_ev_filter *f, int kind, const char *value, struct nm_ev_err *e);
void nm_ev_filter_free(struct nm_ev_filter *f);

/* ---- per-reader context: clocks, caches ---- */
struct nm_ev_cg;
struct nm_ev_rule;
struct nm_ev_ctx {
	const struct nm_ev_filter *filter;
	int64_t mono_to_real; /* add to a CLOCK_MONOTONIC ns value */
	int cg_mount_fd;      /* cgroup2 mount, for open_by_handle_at; -1 none */
	char cg_mount[NM_PATH_MAX];
	struct nm_ev_cg *cg;     /* id -> path cache */
	struct nm_ev_rule *rule; /* matched rule -> text cache */
	int64_t tsec_json, tsec_text;
	char tstr_json[32], tstr_text[32], tstr_zone[8];
};
int nm_ev_ctx_init(struct nm_ev_ctx *c, const struct nm_ev_filter *f);
void nm_ev_ctx_free(struct nm_ev_ctx *c);

bool nm_ev_match(struct nm_ev_ctx *c, const struct nm_event *e);
void nm_ev_json(struct nm_ev_ctx *c, struct nm_ev_buf *b, const struct nm_event *e);
void nm_ev_text(struct nm_ev_ctx *c, struct nm_ev_buf *b, const struct nm_event *e);
void nm_ev_text_header(struct nm_ev_buf *b);
/* {"type":"drops",...} line; `lost` since the last report, `total` since load. */
void nm_ev_json_drops(struct nm_ev_ctx *c, struct nm_ev_buf *b, uint64_t lost, uint64_t total);
/* Cgroup path of an id through the cache ("" when unknown). */
const char *nm_ev_cgroup(struct nm_ev_ctx *c, uint64_t id);

/* ---- one reader per ring: lock and drop bookkeeping under /run ----
 * The directory must be a real directory (not a symlink) owned by root that
 * only its owner can write; it is created 0700. Its files are opened below
 * a descriptor of it, never through a link, and used only when they are
 * regular files owned by root with one link. */
#define NM_EV_RUN_DIR "/run/netmonctl"
struct nm_ev_lock {
	int fd;
	int dirfd;            /* NM_EV_RUN_DIR, checked */
	uint32_t events_id;   /* ring map id: the lock's key */
	uint32_t counters_id; /* counters map id: drops state is only valid for it */
	char path[NM_PATH_MAX];  /* for messages */
	char name[64];           /* events-ID.lock */
	char state[64];          /* events-ID.drops */
};
/* Open (creating it 0700 if missing) and check NM_EV_RUN_DIR: fd or -errno (e says why). */
int nm_ev_run_dir(struct nm_ev_err *e);
/* 0 locked; -EBUSY held by another reader (e names it); else -errno. */
int nm_ev_lock(struct nm_ev_lock *l, uint32_t events_id, uint32_t counters_id, struct nm_ev_err *e);
void nm_ev_unlock(struct nm_ev_lock *l);
/* Drops already reported for this ring (0 when none recorded). */
uint64_t nm_ev_drops_reported(const struct nm_ev_lock *l);
int nm_ev_drops_save(const struct nm_ev_lock *l, uint64_t reported);

/* Monotonic clock in ns (what the kernel stamps events with). */
int64_t nm_ev_now_mono(void);

/* ---- the reader: ring buffer -> filter -> output ---- */
struct nm_ev_opts {
	bool json;
	bool header;           /* text: column header first */
	bool journal;          /* out_fd is journald's socket (json is set too) */
	uint64_t count;        /* stop after this many shown; 0 = no limit */
	int64_t timeout_ns;    /* stop after this long; < 0 = none; 0 = what is queued */
	int out_fd;
	/* text mode: drops are reported here (JSON: as a line of the output) */
	void (*on_drops)(void *arg, uint64_t lost, uint64_t total);
	void *arg;
};
struct nm_ev_stats { /* for -d */
	uint64_t consumed, shown, reported, max_drain, sleeps;
	int64_t max_oversleep; /* ns */
};
struct nm_ev_reader;
/* Open the ring, the counters and the lock. The filter must outlive the reader. */
int nm_ev_reader_open(struct nm_ev_reader **rp, const struct nm_ev_opts *o,
		      const struct nm_ev_filter *f, struct nm_ev_err *e);
/* Read until count, timeout, a signal (nm_ev_interrupt), the output going
 * away (EPIPE: 0) or the ring being unloaded (an error). */
int nm_ev_reader_run(struct nm_ev_reader *r, struct nm_ev_err *e);
const struct nm_ev_stats *nm_ev_reader_stats(const struct nm_ev_reader *r);
void nm_ev_reader_close(struct nm_ev_reader *r);
/* Async-signal-safe: stop the running reader (whole lines only). */
void nm_ev_interrupt(int sig);

#endif
