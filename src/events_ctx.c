// SPDX-License-Identifier: GPL-2.0
/*
 * netmonctl events, per reader: the clocks, the cgroup id -> path cache and
 * the matched rule -> text cache (their hit paths are inline in
 * events_internal.h; the misses are here), and the error helpers.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include "events_internal.h"

/* ------------------------------------------------------------------ */
/* errors                                                              */

int nm_ev_errf(struct nm_ev_err *e, int code, const char *fmt, ...)
{
	va_list ap;

	e->code = code;
	e->err = 0;
	va_start(ap, fmt);
	vsnprintf(e->msg, sizeof(e->msg), fmt, ap);
	va_end(ap);
	return -EINVAL;
}

int nm_ev_errno(struct nm_ev_err *e, int err, const char *ctx)
{
	e->code = NM_EXIT_RUNTIME;
	e->err = err < 0 ? -err : err;
	snprintf(e->msg, sizeof(e->msg), "%s", ctx);
	return -e->err;
}

/* ------------------------------------------------------------------ */
/* cgroup id -> path cache                                             */

/* cgroup2 file handles are the 64-bit id (kernfs FILEID_KERNFS). */
#define NM_FILEID_KERNFS 0xfe
static int ev_cg_by_handle(struct nm_ev_ctx *c, uint64_t id, char *buf, size_t len)
{
	union {
		struct file_handle fh;
		char raw[sizeof(struct file_handle) + sizeof(uint64_t)];
	} h;
	char proc[64];
	ssize_t n;
	int fd;

	memset(&h, 0, sizeof(h));
	h.fh.handle_bytes = sizeof(uint64_t);
	h.fh.handle_type = NM_FILEID_KERNFS;
	memcpy(h.fh.f_handle, &id, sizeof(id));
	fd = open_by_handle_at(c->cg_mount_fd, &h.fh, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	n = readlink(proc, buf, len - 1);
	close(fd);
	if (n < 0)
		return -errno;
	buf[n] = 0;
	return 0;
}

static int ev_cg_resolve(struct nm_ev_ctx *c, uint64_t id, char *buf, size_t len)
{
	int err = -ENOENT;

	if (id == 0)
		return -ENOENT;
	if (c->cg_mount_fd >= 0) {
		err = ev_cg_by_handle(c, id, buf, len);
		if (err == 0 || err == -ESTALE || err == -ENOENT)
			return err;
		/* No file handles here: walk the tree from now on. */
		close(c->cg_mount_fd);
		c->cg_mount_fd = -1;
	}
	return nm_cgroup_path(id, buf, len);
}

static bool ev_cg_filter(const struct nm_ev_filter *f, uint64_t id, const char *path)
{
	int i;

	if (!f || !f->ncg)
		return true;
	for (i = 0; i < f->ncg; i++) {
		size_t n = strlen(f->cg_path[i]);

		if (f->cg_id[i] == id)
			return true;
		if (*path && !strncmp(path, f->cg_path[i], n) && path[n] == '/')
			return true;
	}
	return false;
}

/* A miss in slot e: resolve id, keep the path escaped both ways. */
struct nm_ev_cg *nm_ev_cg_fill(struct nm_ev_ctx *c, struct nm_ev_cg *e, uint64_t id)
{
	char path[PATH_MAX];
	char *mem, *o;
	size_t plen;

	if (e->used)
		free(e->path);
	memset(e, 0, sizeof(*e));
	if (ev_cg_resolve(c, id, path, sizeof(path)))
		path[0] = 0;
	plen = strlen(path);
	if (plen * 6 > CG_ESC_MAX)
		plen = CG_ESC_MAX / 6; /* absurdly deep: shown truncated */
	path[plen] = 0;
	mem = malloc(plen + 1 + plen * 6 + plen * 4 + 2);
	if (!mem)
		return NULL;
	e->path = mem;
	memcpy(mem, path, plen + 1);
	e->json = mem + plen + 1;
	o = put_json_esc(e->json, path, plen);
	e->jlen = o - e->json;
	e->text = o;
	o = put_text_esc(e->text, path, plen);
	e->tlen = o - e->text;
	e->plen = plen;
	e->id = id;
	e->used = true;
	e->match = ev_cg_filter(c->filter, id, path);
	return e;
}

const char *nm_ev_cgroup(struct nm_ev_ctx *c, uint64_t id)
{
	struct nm_ev_cg *e = ev_cg_get(c, id);

	return e ? e->path : "";
}

/* ------------------------------------------------------------------ */
/* matched rule -> text cache                                          */

void nm_ev_rule_fill(struct nm_ev_rule *slot, const struct nm_rule_key *k, const struct nm_event *e)
{
	struct nm_rule r;
	size_t len;

	slot->used = true;
	slot->key = *k;
	memcpy(&slot->port, &e->rule_port, sizeof(slot->port));
	if (e->rule_prefixlen == NM_RULE_FAIL_CLOSED) {
		/* No rule matched: the hook could not finish its check. */
		snprintf(slot->text, sizeof(slot->text), "fail-closed %s",
			 e->rule_port.lo == NM_FC_WALK_LIMIT ? "walk-limit" : "any-source");
	} else if (e->rule_prefixlen == NM_RULE_DEFAULT) {
		snprintf(slot->text, sizeof(slot->text), "default deny"); /* `policy default deny` */
	} else {
		nm_rule_from_key(k, &slot->port, &r);
		nm_rule_format(&r, slot->text, sizeof(slot->text));
	}
	len = strlen(slot->text);
	if (e->scope) /* `policy list` names the scope */
		snprintf(slot->text + len, sizeof(slot->text) - len, " (scope %u)", e->scope);
	slot->len = strlen(slot->text);
}

/* ------------------------------------------------------------------ */
/* context                                                             */

int64_t nm_ev_now_mono(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* Offset from CLOCK_MONOTONIC (what bpf_ktime_get_ns() stamps) to
 * CLOCK_REALTIME, measured once: the tightest of a few bracketed reads. */
static int64_t ev_mono_to_real(void)
{
	int64_t best = INT64_MAX, off = 0;
	int i;

	for (i = 0; i < 8; i++) {
		struct timespec r;
		int64_t a, b;

		a = nm_ev_now_mono();
		clock_gettime(CLOCK_REALTIME, &r);
		b = nm_ev_now_mono();
		if (b - a < best) {
			best = b - a;
			off = ((int64_t)r.tv_sec * 1000000000 + r.tv_nsec) - (a + (b - a) / 2);
		}
	}
	return off;
}

int nm_ev_ctx_init(struct nm_ev_ctx *c, const struct nm_ev_filter *f)
{
	memset(c, 0, sizeof(*c));
	c->filter = f;
	c->mono_to_real = ev_mono_to_real();
	c->tsec_json = c->tsec_text = INT64_MIN;
	c->cg_mount_fd = -1;
	if (nm_cgroup2_mount(c->cg_mount, sizeof(c->cg_mount)) == 0)
		c->cg_mount_fd = open(c->cg_mount, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	c->cg = calloc(CG_SLOTS, sizeof(*c->cg));
	c->rule = calloc(RULE_SLOTS, sizeof(*c->rule));
	if (!c->cg || !c->rule) {
		nm_ev_ctx_free(c);
		return -ENOMEM;
	}
	return 0;
}

void nm_ev_ctx_free(struct nm_ev_ctx *c)
{
	int i;

	if (c->cg)
		for (i = 0; i < CG_SLOTS; i++)
			if (c->cg[i].used)
				free(c->cg[i].path);
	free(c->cg);
	free(c->rule);
	c->cg = NULL;
	c->rule = NULL;
	if (c->cg_mount_fd >= 0)
		close(c->cg_mount_fd);
	c->cg_mount_fd = -1;
}
