/* SPDX-License-Identifier: GPL-2.0 */
/*
 * netmonctl events: formatting, filtering and the single-reader lock.
 * The loop itself lives in cmd/events.c; everything here is per event and
 * allocation-free on the hot path (caches allocate once per new cgroup).
 */
#ifndef NM_EVENTS_H
#define NM_EVENTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "nm.h"

/* ---- output buffer: big chunks, write(2) when told or when full ---- */
#define NM_EV_BUF_SIZE (256u << 10)
#define NM_EV_BUF_ROOM (16u << 10) /* flush first when less than this is left */
struct nm_ev_buf {
	char *p;
	size_t len;
	int fd;
	int err; /* first write error (positive errno); EPIPE = reader went away */
};
int nm_ev_buf_init(struct nm_ev_buf *b, int fd);
void nm_ev_buf_free(struct nm_ev_buf *b);
int nm_ev_flush(struct nm_ev_buf *b); /* 0 or -errno (also kept in b->err) */
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
/* Parse one `KIND VALUE` filter. argv[0] is the (already matched) kind
 * keyword index into nm_ev_filter_kw, value the word after it.
 * Returns 0, or NM_EXIT_USAGE after printing the error. */
extern const char *const nm_ev_filter_kw[]; /* hook verdict pid comm cgroup addr port */
int nm_ev_filter_add(struct nm_ev_filter *f, int kind, const char *value);
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
	char tstr_json[32], tstr_text[32];
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

/* ---- one reader per ring: lock and drop bookkeeping under /run ---- */
#define NM_EV_RUN_DIR "/run/netmonctl"
struct nm_ev_lock {
	int fd;
	uint32_t events_id;   /* ring map id: the lock's key */
	uint32_t counters_id; /* counters map id: drops state is only valid for it */
	char path[NM_PATH_MAX];
	char state[NM_PATH_MAX];
};
/* 0 locked; -EBUSY held by another reader (described in who); else -errno. */
int nm_ev_lock(struct nm_ev_lock *l, uint32_t events_id, uint32_t counters_id, char *who,
	       size_t wholen);
void nm_ev_unlock(struct nm_ev_lock *l);
/* Drops already reported for this ring (0 when none recorded). */
uint64_t nm_ev_drops_reported(const struct nm_ev_lock *l);
int nm_ev_drops_save(const struct nm_ev_lock *l, uint64_t reported);

/* Monotonic clock in ns (what the kernel stamps events with). */
int64_t nm_ev_now_mono(void);

#endif
