// SPDX-License-Identifier: GPL-2.0
/*
 * netmonctl events, per event: filter, format (NDJSON or aligned text),
 * and the one-reader-per-ring lock with its drop bookkeeping.
 *
 * The hot path does no heap allocation and no stdio: records are formatted
 * straight into one big output buffer with small hand-written emitters.
 * What is expensive and repeats is cached: cgroup id -> path (escaped once
 * per cgroup), matched rule -> text, the date/time prefix per second.
 */
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "events.h"

/* ------------------------------------------------------------------ */
/* output buffer                                                       */

int nm_ev_buf_init(struct nm_ev_buf *b, int fd)
{
	b->p = malloc(NM_EV_BUF_SIZE);
	b->len = 0;
	b->fd = fd;
	b->err = 0;
	return b->p ? 0 : -ENOMEM;
}

void nm_ev_buf_free(struct nm_ev_buf *b)
{
	free(b->p);
	b->p = NULL;
}

/* Set by cmd/events.c's signal handler: a write interrupted by it finishes
 * the line it is in (never a torn line) and then gives up. */
volatile int nm_ev_interrupted;

int nm_ev_flush(struct nm_ev_buf *b)
{
	size_t off = 0, stop = b->len;
	bool finishing = false;

	if (b->err) {
		b->len = 0;
		return -b->err;
	}
	while (off < stop) {
		ssize_t n = write(b->fd, b->p + off, stop - off);

		if (n > 0) {
			off += n;
			continue;
		}
		if (n < 0 && errno == EINTR) {
			if (nm_ev_interrupted && !finishing) {
				char *nl = memchr(b->p + off, '\n', stop - off);

				/* Complete the current line, drop the rest. */
				finishing = true;
				if (off == 0 || b->p[off - 1] == '\n')
					break;
				stop = nl ? (size_t)(nl - b->p) + 1 : stop;
			} else if (nm_ev_interrupted && finishing) {
				break; /* a second signal: give up on that line too */
			}
			continue;
		}
		if (n < 0 && errno == EAGAIN) { /* stdout inherited non-blocking */
			struct pollfd p = { .fd = b->fd, .events = POLLOUT };

			poll(&p, 1, -1);
			continue;
		}
		b->err = n < 0 ? errno : EIO;
		break;
	}
	b->len = 0;
	return b->err ? -b->err : 0;
}

/* ------------------------------------------------------------------ */
/* small emitters: each returns the new end                            */

static inline char *put_mem(char *o, const void *s, size_t n)
{
	memcpy(o, s, n);
	return o + n;
}
#define PUT_LIT(o, s) put_mem((o), (s), sizeof(s) - 1)

static inline char *put_str(char *o, const char *s)
{
	return put_mem(o, s, strlen(s));
}

static const char nm_digits2[201] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
				    "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
				    "8081828384858687888990919293949596979899";

static char *put_u64(char *o, uint64_t v)
{
	char tmp[24];
	char *t = tmp + sizeof(tmp);
	size_t n;

	while (v >= 100) {
		unsigned d = (v % 100) * 2;

		v /= 100;
		*--t = nm_digits2[d + 1];
		*--t = nm_digits2[d];
	}
	if (v >= 10) {
		*--t = nm_digits2[v * 2 + 1];
		*--t = nm_digits2[v * 2];
	} else {
		*--t = '0' + v;
	}
	n = tmp + sizeof(tmp) - t;
	return put_mem(o, t, n);
}

/* Exactly `width` digits, zero padded. */
static char *put_u64_pad(char *o, uint64_t v, int width)
{
	int i;

	for (i = width - 1; i >= 0; i--) {
		o[i] = '0' + v % 10;
		v /= 10;
	}
	return o + width;
}

static char *put_pad(char *o, const char *start, size_t width)
{
	size_t n = o - start;

	if (n < width) {
		memset(o, ' ', width - n);
		o += width - n;
	}
	*o++ = ' ';
	return o;
}

static char *put_addr(char *o, uint8_t family, const uint8_t *a)
{
	char buf[INET6_ADDRSTRLEN];

	if (family == NM_FAM_V4) {
		o = put_u64(o, a[0]);
		*o++ = '.';
		o = put_u64(o, a[1]);
		*o++ = '.';
		o = put_u64(o, a[2]);
		*o++ = '.';
		return put_u64(o, a[3]);
	}
	if (family == NM_FAM_V6 && inet_ntop(AF_INET6, a, buf, sizeof(buf)))
		return put_str(o, buf);
	return o;
}

/* Length of the valid UTF-8 sequence at s (n bytes available), 0 if none. */
static int utf8_seq(const unsigned char *s, size_t n)
{
	unsigned c = s[0];
	int need, i;
	unsigned lo = 0x80, hi = 0xbf;

	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		need = 1;
	else if (c >= 0xe0 && c <= 0xef) {
		need = 2;
		if (c == 0xe0)
			lo = 0xa0;
		else if (c == 0xed)
			hi = 0x9f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		need = 3;
		if (c == 0xf0)
			lo = 0x90;
		else if (c == 0xf4)
			hi = 0x8f;
	} else {
		return 0;
	}
	if ((size_t)need >= n)
		return 0;
	for (i = 1; i <= need; i++) {
		if (s[i] < lo || s[i] > hi)
			return 0;
		lo = 0x80;
		hi = 0xbf;
	}
	return need + 1;
}

static const char nm_hex[] = "0123456789abcdef";

/* JSON string body (no quotes): valid UTF-8 passes, invalid bytes become
 * U+FFFD, controls are escaped. At most 6 bytes out per byte in. */
static char *put_json_esc(char *o, const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	while (i < n) {
		unsigned c = s[i];
		int k;

		if (c >= 0x20 && c < 0x80 && c != '"' && c != '\\') {
			*o++ = c;
			i++;
			continue;
		}
		if (c == '"' || c == '\\') {
			*o++ = '\\';
			*o++ = c;
			i++;
			continue;
		}
		if (c < 0x20) {
			*o++ = '\\';
			switch (c) {
			case '\n': *o++ = 'n'; break;
			case '\r': *o++ = 'r'; break;
			case '\t': *o++ = 't'; break;
			case '\b': *o++ = 'b'; break;
			case '\f': *o++ = 'f'; break;
			default:
				o = PUT_LIT(o, "u00");
				*o++ = nm_hex[c >> 4];
				*o++ = nm_hex[c & 15];
			}
			i++;
			continue;
		}
		k = utf8_seq(s + i, n - i);
		if (k == 0) {
			o = PUT_LIT(o, "\\ufffd");
			i++;
		} else {
			o = put_mem(o, s + i, k);
			i += k;
		}
	}
	return o;
}

/* Text for a terminal: controls (C0, DEL, C1), backslash and invalid UTF-8
 * as \xNN, so no name can forge a line or drive the terminal. */
static char *put_text_esc(char *o, const char *str, size_t n)
{
	const unsigned char *s = (const unsigned char *)str;
	size_t i = 0;

	while (i < n) {
		unsigned c = s[i];
		int k = c < 0x80 ? 1 : utf8_seq(s + i, n - i);

		if (c >= 0x20 && c < 0x7f && c != '\\') {
			*o++ = c;
			i++;
		} else if (c == '\\') {
			*o++ = '\\';
			*o++ = '\\';
			i++;
		} else if (k > 1 && !(c == 0xc2 && s[i + 1] < 0xa0)) {
			o = put_mem(o, s + i, k);
			i += k;
		} else {
			*o++ = '\\';
			*o++ = 'x';
			*o++ = nm_hex[c >> 4];
			*o++ = nm_hex[c & 15];
			i++;
		}
	}
	return o;
}

/* ------------------------------------------------------------------ */
/* names                                                               */

static const char *ev_hook_name(uint8_t h)
{
	return h < NM_HOOK_MAX ? nm_progs[h].name : "unknown";
}

static const char *ev_verdict_name(uint8_t v)
{
	switch (v) {
	case NM_VERDICT_DENY: return "deny";
	case NM_VERDICT_AUDIT: return "audit";
	case NM_VERDICT_ALLOW: return "allow";
	default: return "unknown";
	}
}

static char *put_proto(char *o, uint8_t p)
{
	if (p == 6)
		return PUT_LIT(o, "tcp");
	if (p == 17)
		return PUT_LIT(o, "udp");
	return put_u64(o, p);
}

static const char *ev_dir_name(uint8_t d)
{
	return d < NM_DIR_MAX ? nm_dir_names[d] : "unknown";
}

/* ------------------------------------------------------------------ */
/* filters                                                             */

const char *const nm_ev_filter_kw[] = { "hook", "verdict", "pid", "comm", "cgroup", "addr", "port", NULL };

/* Program names, then the operations they share (`connect` = connect4,
 * connect6 and lsm_connect). */
static const char *const ev_hook_kw[] = {
	"connect4", "connect6", "sendmsg4", "sendmsg6", "lsm_connect", "lsm_bind", "lsm_listen",
	"lsm_accept", "lsm_sendmsg", "lsm_recvmsg", "connect", "sendmsg", "bind", "listen",
	"accept", "recvmsg", NULL,
};
static const uint32_t ev_hook_op_mask[] = {
	(1u << NM_HOOK_CONNECT4) | (1u << NM_HOOK_CONNECT6) | (1u << NM_HOOK_LSM_CONNECT),
	(1u << NM_HOOK_SENDMSG4) | (1u << NM_HOOK_SENDMSG6) | (1u << NM_HOOK_LSM_SENDMSG),
	1u << NM_HOOK_LSM_BIND,
	1u << NM_HOOK_LSM_LISTEN,
	1u << NM_HOOK_LSM_ACCEPT,
	1u << NM_HOOK_LSM_RECVMSG,
};

static int ev_parse_port(const char *s, struct nm_ev_port_range *p)
{
	char buf[16], *dash;
	uint64_t lo, hi;

	if (strlen(s) >= sizeof(buf))
		return -EINVAL;
	strcpy(buf, s);
	dash = strchr(buf, '-');
	if (dash)
		*dash++ = 0;
	if (nm_parse_u64(buf, 65535, &lo) || (dash && nm_parse_u64(dash, 65535, &hi)))
		return -EINVAL;
	if (!dash)
		hi = lo;
	if (lo > hi)
		return -EINVAL;
	p->lo = lo;
	p->hi = hi;
	return 0;
}

int nm_ev_filter_add(struct nm_ev_filter *f, int kind, const char *v)
{
	const char *what = nm_ev_filter_kw[kind];
	int *n[] = { NULL, NULL, &f->npid, &f->ncomm, &f->ncg, &f->naddr, &f->nport };
	char path[NM_PATH_MAX], msg[300];
	uint64_t x;
	int i, err;

	if (n[kind] && *n[kind] >= NM_EV_FILTER_MAX)
		return nm_usage("events", "at most %d '%s' filters", NM_EV_FILTER_MAX, what);
	switch (kind) {
	case 0: /* hook */
		for (i = 0; ev_hook_kw[i] && strcmp(v, ev_hook_kw[i]); i++)
			; /* exact first: `connect` is also a prefix of connect4 */
		if (!ev_hook_kw[i])
			i = nm_keyword(v, ev_hook_kw);
		if (i < 0)
			return nm_usage("events", "hook %s: %s; expected a program name (connect4, connect6, "
				       "sendmsg4, sendmsg6, lsm_connect, lsm_bind, lsm_listen, lsm_accept, "
				       "lsm_sendmsg, lsm_recvmsg) or an operation (connect, sendmsg, bind, "
				       "listen, accept, recvmsg)", v, i == -2 ? "ambiguous" : "unknown");
		f->hooks |= i < NM_HOOK_MAX ? 1u << i : ev_hook_op_mask[i - NM_HOOK_MAX];
		return 0;
	case 1: { /* verdict */
		static const char *const kw[] = { "deny", "audit", NULL };

		i = nm_keyword(v, kw);
		if (i < 0)
			return nm_usage("events", "verdict %s: expected deny | audit", v);
		f->verdicts |= 1u << (i == 0 ? NM_VERDICT_DENY : NM_VERDICT_AUDIT);
		return 0;
	}
	case 2: /* pid */
		if (nm_parse_u64(v, UINT32_MAX, &x) || x == 0)
			return nm_usage("events", "pid %s: expected a process id", v);
		f->pid[f->npid++] = x;
		return 0;
	case 3: /* comm: the kernel keeps 15 bytes */
		if (!*v)
			return nm_usage("events", "comm: expected a command name");
		snprintf(f->comm[f->ncomm++], NM_COMM_LEN, "%s", v);
		return 0;
	case 4: /* cgroup: that cgroup and everything below it */
		err = nm_cgroup_resolve(v, path, sizeof(path));
		if (err == -ENOTDIR)
			return nm_usage("events", "cgroup %s: not a cgroup v2 directory", v);
		if (err)
			return nm_usage("events", "cgroup %s: %s", v, strerror(-err));
		err = nm_cgroup_id(path, &x);
		if (err)
			return nm_usage("events", "cgroup %s: %s", v, strerror(-err));
		f->cg_path[f->ncg] = strdup(path);
		if (!f->cg_path[f->ncg])
			return nm_sys("events", ENOMEM);
		f->cg_id[f->ncg++] = x;
		return 0;
	case 5: { /* addr ADDR[/LEN] */
		char *word = (char *)v;

		if (nm_rule_parse(1, &word, &f->addr[f->naddr], msg, sizeof(msg)))
			return nm_usage("events", "addr %s", msg);
		f->naddr++;
		return 0;
	}
	case 6: /* port N[-M] */
		if (ev_parse_port(v, &f->port[f->nport]))
			return nm_usage("events", "port %s: expected a port 0-65535 or a range N-M", v);
		f->nport++;
		return 0;
	}
	return nm_usage("events", "unknown filter");
}

void nm_ev_filter_free(struct nm_ev_filter *f)
{
	int i;

	for (i = 0; i < f->ncg; i++)
		free(f->cg_path[i]);
	f->ncg = 0;
}

/* ------------------------------------------------------------------ */
/* cgroup id -> path cache                                             */

#define CG_SLOTS 1024
#define CG_ESC_MAX 8192
struct nm_ev_cg {
	uint64_t id;
	bool used;
	bool match; /* the cgroup filters accept it */
	uint16_t plen, jlen, tlen;
	char *path, *json, *text; /* one allocation: raw, JSON-escaped, text-escaped */
};

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

static struct nm_ev_cg *ev_cg_get(struct nm_ev_ctx *c, uint64_t id)
{
	struct nm_ev_cg *e = &c->cg[(id * 0x9e3779b97f4a7c15ull) >> 54];
	char path[PATH_MAX];
	char *mem, *o;
	size_t plen;

	if (e->used && e->id == id)
		return e;
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

#define RULE_SLOTS 256
struct nm_ev_rule {
	bool used;
	struct nm_rule_key key;
	struct nm_port_rule port;
	uint8_t len;
	char text[160];
};

/* The rule key the kernel matched: the checked address masked to the
 * matched prefix (rule_prefixlen counts key bits: 8 = any, else 32 + L). */
static void ev_rule_key(const struct nm_event *e, struct nm_rule_key *k)
{
	int plen, bytes, i;

	memset(k, 0, sizeof(*k));
	k->dir = e->dir;
	if (e->rule_prefixlen <= NM_KEY_ANY_BITS) {
		k->prefixlen = NM_KEY_ANY_BITS;
		return;
	}
	k->family = e->family;
	bytes = e->family == NM_FAM_V4 ? 4 : 16;
	plen = e->rule_prefixlen - NM_KEY_HDR_BITS;
	if (plen > bytes * 8)
		plen = bytes * 8;
	k->prefixlen = NM_KEY_HDR_BITS + plen;
	for (i = 0; i < bytes; i++) {
		int keep = plen - i * 8;

		k->addr[i] = keep >= 8 ? e->raddr[i] : keep <= 0 ? 0 : e->raddr[i] & (uint8_t)(0xff << (8 - keep));
	}
}

static const struct nm_ev_rule *ev_rule_get(struct nm_ev_ctx *c, const struct nm_event *e)
{
	struct nm_rule_key k;
	struct nm_rule r;
	struct nm_ev_rule *slot;
	uint32_t h = 2166136261u;
	const uint8_t *p;
	size_t i;

	ev_rule_key(e, &k);
	for (p = (const uint8_t *)&k, i = 0; i < sizeof(k); i++)
		h = (h ^ p[i]) * 16777619u;
	for (p = (const uint8_t *)&e->rule_port, i = 0; i < sizeof(e->rule_port); i++)
		h = (h ^ p[i]) * 16777619u;
	slot = &c->rule[h % RULE_SLOTS];
	if (slot->used && !memcmp(&slot->key, &k, sizeof(k)) &&
	    !memcmp(&slot->port, &e->rule_port, sizeof(slot->port)))
		return slot;
	slot->used = true;
	slot->key = k;
	memcpy(&slot->port, &e->rule_port, sizeof(slot->port));
	nm_rule_from_key(&k, &slot->port, &r);
	nm_rule_format(&r, slot->text, sizeof(slot->text));
	slot->len = strlen(slot->text);
	return slot;
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

/* ------------------------------------------------------------------ */
/* matching                                                            */

static bool ev_addr_in(const struct nm_rule *r, uint8_t family, const uint8_t *a)
{
	int full, i;

	if (r->family == NM_FAM_ANY)
		return true;
	if (r->family != family)
		return false;
	full = r->plen / 8;
	if (memcmp(r->addr, a, full))
		return false;
	i = r->plen % 8;
	return !i || ((r->addr[full] ^ a[full]) & (uint8_t)(0xff << (8 - i))) == 0;
}

/* The two ends of an event. The checked address is remote for egress and
 * ingress and local for bind; the other end is known when non-zero. */
struct ev_ends {
	const uint8_t *laddr, *raddr;
	uint16_t lport, rport;
	bool lknown, rknown;
};

static void ev_ends(const struct nm_event *e, struct ev_ends *x)
{
	static const uint8_t zero[16];

	if (e->dir == NM_DIR_BIND) {
		x->laddr = e->raddr;
		x->lport = e->rport;
		x->lknown = true;
		x->raddr = zero;
		x->rport = 0;
		x->rknown = false;
	} else {
		x->raddr = e->raddr;
		x->rport = e->rport;
		x->rknown = true;
		x->laddr = e->laddr;
		x->lport = e->lport;
		x->lknown = e->lport || memcmp(e->laddr, zero, 16);
	}
}

bool nm_ev_match(struct nm_ev_ctx *c, const struct nm_event *e)
{
	const struct nm_ev_filter *f = c->filter;
	struct ev_ends x;
	int i;

	if (!f)
		return true;
	if (f->hooks && (e->hook >= 32 || !(f->hooks & (1u << e->hook))))
		return false;
	if (f->verdicts && (e->verdict >= 32 || !(f->verdicts & (1u << e->verdict))))
		return false;
	if (f->npid) {
		for (i = 0; i < f->npid && f->pid[i] != e->pid; i++)
			;
		if (i == f->npid)
			return false;
	}
	if (f->ncomm) {
		for (i = 0; i < f->ncomm && strncmp(f->comm[i], e->comm, NM_COMM_LEN); i++)
			;
		if (i == f->ncomm)
			return false;
	}
	if (f->ncg) {
		const struct nm_ev_cg *cg = ev_cg_get(c, e->cgroup_id);

		if (!cg || !cg->match)
			return false;
	}
	if (f->naddr || f->nport)
		ev_ends(e, &x);
	if (f->naddr) {
		for (i = 0; i < f->naddr; i++)
			if ((x.lknown && ev_addr_in(&f->addr[i], e->family, x.laddr)) ||
			    (x.rknown && ev_addr_in(&f->addr[i], e->family, x.raddr)))
				break;
		if (i == f->naddr)
			return false;
	}
	if (f->nport) {
		for (i = 0; i < f->nport; i++)
			if ((x.lknown && x.lport >= f->port[i].lo && x.lport <= f->port[i].hi) ||
			    (x.rknown && x.rport >= f->port[i].lo && x.rport <= f->port[i].hi))
				break;
		if (i == f->nport)
			return false;
	}
	return true;
}

/* ------------------------------------------------------------------ */
/* formatting                                                          */

static void ev_split(int64_t ns, int64_t *sec, int64_t *frac)
{
	*sec = ns / 1000000000;
	*frac = ns % 1000000000;
	if (*frac < 0) {
		*frac += 1000000000;
		(*sec)--;
	}
}

/* RFC 3339, UTC, nanoseconds: 2025-01-02T15:04:05.123456789Z */
static char *put_time_json(struct nm_ev_ctx *c, char *o, uint64_t mono)
{
	int64_t sec, ns;

	ev_split((int64_t)mono + c->mono_to_real, &sec, &ns);
	if (sec != c->tsec_json) {
		time_t t = sec;
		struct tm tm;

		gmtime_r(&t, &tm);
		strftime(c->tstr_json, sizeof(c->tstr_json), "%Y-%m-%dT%H:%M:%S", &tm);
		c->tsec_json = sec;
	}
	o = put_str(o, c->tstr_json);
	*o++ = '.';
	o = put_u64_pad(o, ns, 9);
	*o++ = 'Z';
	return o;
}

/* Local time, microseconds: 2025-01-02 16:04:05.123456 */
static char *put_time_text(struct nm_ev_ctx *c, char *o, uint64_t mono)
{
	int64_t sec, ns;

	ev_split((int64_t)mono + c->mono_to_real, &sec, &ns);
	if (sec != c->tsec_text) {
		time_t t = sec;
		struct tm tm;

		localtime_r(&t, &tm);
		strftime(c->tstr_text, sizeof(c->tstr_text), "%Y-%m-%d %H:%M:%S", &tm);
		c->tsec_text = sec;
	}
	o = put_str(o, c->tstr_text);
	*o++ = '.';
	return put_u64_pad(o, ns / 1000, 6);
}

static char *ev_reserve(struct nm_ev_buf *b)
{
	if (b->len > NM_EV_BUF_SIZE - NM_EV_BUF_ROOM - CG_ESC_MAX)
		nm_ev_flush(b);
	return b->p + b->len;
}

void nm_ev_json(struct nm_ev_ctx *c, struct nm_ev_buf *b, const struct nm_event *e)
{
	const struct nm_ev_cg *cg = ev_cg_get(c, e->cgroup_id);
	const struct nm_ev_rule *rule = ev_rule_get(c, e);
	char *o = ev_reserve(b);
	struct ev_ends x;

	ev_ends(e, &x);
	o = PUT_LIT(o, "{\"type\":\"event\",\"time\":\"");
	o = put_time_json(c, o, e->ts_ns);
	o = PUT_LIT(o, "\",\"ts_ns\":");
	o = put_u64(o, e->ts_ns);
	o = PUT_LIT(o, ",\"verdict\":\"");
	o = put_str(o, ev_verdict_name(e->verdict));
	o = PUT_LIT(o, "\",\"hook\":\"");
	o = put_str(o, ev_hook_name(e->hook));
	o = PUT_LIT(o, "\",\"pid\":");
	o = put_u64(o, e->pid);
	o = PUT_LIT(o, ",\"tid\":");
	o = put_u64(o, e->tid);
	o = PUT_LIT(o, ",\"uid\":");
	o = put_u64(o, e->uid);
	o = PUT_LIT(o, ",\"comm\":\"");
	o = put_json_esc(o, e->comm, strnlen(e->comm, NM_COMM_LEN));
	o = PUT_LIT(o, "\",\"cgroup_id\":");
	o = put_u64(o, e->cgroup_id);
	o = PUT_LIT(o, ",\"cgroup\":\"");
	if (cg)
		o = put_mem(o, cg->json, cg->jlen);
	o = PUT_LIT(o, "\",\"family\":\"");
	o = e->family == NM_FAM_V6 ? PUT_LIT(o, "ipv6") : PUT_LIT(o, "ipv4");
	o = PUT_LIT(o, "\",\"proto\":\"");
	o = put_proto(o, e->protocol);
	o = PUT_LIT(o, "\",\"saddr\":\"");
	if (x.lknown)
		o = put_addr(o, e->family, x.laddr);
	o = PUT_LIT(o, "\",\"sport\":");
	o = put_u64(o, x.lport);
	o = PUT_LIT(o, ",\"daddr\":\"");
	if (x.rknown)
		o = put_addr(o, e->family, x.raddr);
	o = PUT_LIT(o, "\",\"dport\":");
	o = put_u64(o, x.rport);
	o = PUT_LIT(o, ",\"dir\":\"");
	o = put_str(o, ev_dir_name(e->dir));
	o = PUT_LIT(o, "\",\"rule\":\"");
	o = put_mem(o, rule->text, rule->len);
	o = PUT_LIT(o, "\"}\n");
	b->len = o - b->p;
}

void nm_ev_json_drops(struct nm_ev_ctx *c, struct nm_ev_buf *b, uint64_t lost, uint64_t total)
{
	char *o = ev_reserve(b);
	int64_t now = nm_ev_now_mono();

	o = PUT_LIT(o, "{\"type\":\"drops\",\"time\":\"");
	o = put_time_json(c, o, now);
	o = PUT_LIT(o, "\",\"ts_ns\":");
	o = put_u64(o, now);
	o = PUT_LIT(o, ",\"drops\":");
	o = put_u64(o, lost);
	o = PUT_LIT(o, ",\"drops_total\":");
	o = put_u64(o, total);
	o = PUT_LIT(o, "}\n");
	b->len = o - b->p;
}

static char *put_endpoint(char *o, uint8_t family, const uint8_t *a, uint16_t port, bool known)
{
	if (!known)
		return PUT_LIT(o, "-");
	if (family == NM_FAM_V6)
		*o++ = '[';
	o = put_addr(o, family, a);
	if (family == NM_FAM_V6)
		*o++ = ']';
	*o++ = ':';
	return put_u64(o, port);
}

/* Column widths of the text line (values that are longer push the rest). */
#define W_TIME 26
#define W_VERDICT 7
#define W_HOOK 11
#define W_PID 7
#define W_COMM 15
#define W_CGROUP 32
#define W_PROTO 5
#define W_ADDR 21

void nm_ev_text_header(struct nm_ev_buf *b)
{
	char *o = b->p + b->len;

	o += sprintf(o, "%-*s %-*s %-*s %*s %-*s %-*s %-*s %-*s %-*s %s\n", W_TIME, "TIME", W_VERDICT,
		     "VERDICT", W_HOOK, "HOOK", W_PID, "PID", W_COMM, "COMM", W_CGROUP, "CGROUP",
		     W_PROTO, "PROTO", W_ADDR, "LOCAL", W_ADDR, "REMOTE", "RULE");
	b->len = o - b->p;
}

void nm_ev_text(struct nm_ev_ctx *c, struct nm_ev_buf *b, const struct nm_event *e)
{
	const struct nm_ev_cg *cg = ev_cg_get(c, e->cgroup_id);
	const struct nm_ev_rule *rule = ev_rule_get(c, e);
	char *o = ev_reserve(b), *start, num[24];
	struct ev_ends x;
	size_t n;

	ev_ends(e, &x);
	start = o;
	o = put_time_text(c, o, e->ts_ns);
	o = put_pad(o, start, W_TIME);
	start = o;
	o = put_str(o, ev_verdict_name(e->verdict));
	o = put_pad(o, start, W_VERDICT);
	start = o;
	o = put_str(o, ev_hook_name(e->hook));
	o = put_pad(o, start, W_HOOK);
	/* pid, right aligned; "-" when the hook cannot know it */
	if (e->pid) {
		n = put_u64(num, e->pid) - num;
	} else {
		num[0] = '-';
		n = 1;
	}
	if (n < W_PID) {
		memset(o, ' ', W_PID - n);
		o += W_PID - n;
	}
	o = put_mem(o, num, n);
	*o++ = ' ';
	start = o;
	n = strnlen(e->comm, NM_COMM_LEN);
	o = n ? put_text_esc(o, e->comm, n) : PUT_LIT(o, "-");
	o = put_pad(o, start, W_COMM);
	start = o;
	if (cg && cg->tlen)
		o = put_mem(o, cg->text, cg->tlen);
	else if (e->cgroup_id)
		o = put_u64(PUT_LIT(o, "id:"), e->cgroup_id);
	else
		o = PUT_LIT(o, "-");
	o = put_pad(o, start, W_CGROUP);
	start = o;
	o = put_proto(o, e->protocol);
	o = put_pad(o, start, W_PROTO);
	start = o;
	o = put_endpoint(o, e->family, x.laddr, x.lport, x.lknown);
	o = put_pad(o, start, W_ADDR);
	start = o;
	o = put_endpoint(o, e->family, x.raddr, x.rport, x.rknown);
	o = put_pad(o, start, W_ADDR);
	o = put_mem(o, rule->text, rule->len);
	*o++ = '\n';
	b->len = o - b->p;
}

/* ------------------------------------------------------------------ */
/* one reader per ring                                                 */

static int ev_mkdir_run(void)
{
	if (mkdir("/run", 0755) && errno != EEXIST)
		return -errno;
	if (mkdir(NM_EV_RUN_DIR, 0755) && errno != EEXIST)
		return -errno;
	return 0;
}

/* Lock and drops files of rings that no longer exist are garbage. */
static void ev_cleanup_stale(void)
{
	DIR *d = opendir(NM_EV_RUN_DIR);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		char path[NM_PATH_MAX], suffix[16];
		unsigned id;
		int fd;

		if (sscanf(de->d_name, "events-%u.%15s", &id, suffix) != 2 || strcmp(suffix, "lock"))
			continue;
		fd = bpf_map_get_fd_by_id(id);
		if (fd >= 0 || errno != ENOENT) {
			if (fd >= 0)
				close(fd);
			continue;
		}
		snprintf(path, sizeof(path), "%s/%s", NM_EV_RUN_DIR, de->d_name);
		fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0)
			continue;
		if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
			unlink(path);
			snprintf(path, sizeof(path), "%s/events-%u.drops", NM_EV_RUN_DIR, id);
			unlink(path);
		}
		close(fd);
	}
	closedir(d);
}

/* "pid N (command line)" of the reader holding the lock. */
static void ev_describe_holder(int fd, char *who, size_t len)
{
	char buf[64], path[64], cmd[256];
	long pid = 0;
	int i, n = 0, f;

	for (i = 0; i < 50 && pid <= 0; i++) { /* it writes its pid right after locking */
		n = pread(fd, buf, sizeof(buf) - 1, 0);
		if (n > 0) {
			buf[n] = 0;
			pid = strtol(buf, NULL, 10);
		}
		if (pid <= 0)
			usleep(10000);
	}
	if (pid <= 0) {
		snprintf(who, len, "another process");
		return;
	}
	snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
	f = open(path, O_RDONLY | O_CLOEXEC);
	n = f >= 0 ? read(f, cmd, sizeof(cmd) - 1) : -1;
	if (f >= 0)
		close(f);
	if (n <= 0) {
		snprintf(who, len, "pid %ld", pid);
		return;
	}
	while (n > 0 && cmd[n - 1] == 0)
		n--;
	for (i = 0; i < n; i++)
		if (cmd[i] == 0 || (unsigned char)cmd[i] < 0x20)
			cmd[i] = ' ';
	cmd[n] = 0;
	snprintf(who, len, "pid %ld (%s)", pid, cmd);
}

int nm_ev_lock(struct nm_ev_lock *l, uint32_t events_id, uint32_t counters_id, char *who,
	       size_t wholen)
{
	char pid[32];
	int err, n;

	memset(l, 0, sizeof(*l));
	l->fd = -1;
	l->events_id = events_id;
	l->counters_id = counters_id;
	err = ev_mkdir_run();
	if (err)
		return err;
	ev_cleanup_stale();
	snprintf(l->path, sizeof(l->path), "%s/events-%u.lock", NM_EV_RUN_DIR, events_id);
	snprintf(l->state, sizeof(l->state), "%s/events-%u.drops", NM_EV_RUN_DIR, events_id);
	l->fd = open(l->path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (l->fd < 0)
		return -errno;
	if (flock(l->fd, LOCK_EX | LOCK_NB)) {
		err = errno == EWOULDBLOCK ? -EBUSY : -errno;
		if (err == -EBUSY)
			ev_describe_holder(l->fd, who, wholen);
		close(l->fd);
		l->fd = -1;
		return err;
	}
	n = snprintf(pid, sizeof(pid), "%d\n", getpid());
	if (ftruncate(l->fd, 0) || pwrite(l->fd, pid, n, 0) != n) {
		err = -errno;
		nm_ev_unlock(l);
		return err;
	}
	return 0;
}

void nm_ev_unlock(struct nm_ev_lock *l)
{
	if (l->fd < 0)
		return;
	/* Leave the file: unlinking a lock file others may hold open races. */
	if (ftruncate(l->fd, 0)) {
		/* nothing useful to do */
	}
	close(l->fd);
	l->fd = -1;
}

uint64_t nm_ev_drops_reported(const struct nm_ev_lock *l)
{
	unsigned long long reported = 0;
	unsigned counters = 0;
	FILE *f = fopen(l->state, "re");

	if (!f)
		return 0;
	if (fscanf(f, "counters %u reported %llu", &counters, &reported) != 2 ||
	    counters != l->counters_id)
		reported = 0;
	fclose(f);
	return reported;
}

int nm_ev_drops_save(const struct nm_ev_lock *l, uint64_t reported)
{
	char tmp[NM_PATH_MAX + 8], line[64];
	int fd, n, err = 0;

	snprintf(tmp, sizeof(tmp), "%s.new", l->state);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return -errno;
	n = snprintf(line, sizeof(line), "counters %u reported %llu\n", l->counters_id,
		     (unsigned long long)reported);
	if (write(fd, line, n) != n)
		err = -errno ?: -EIO;
	if (close(fd) && !err)
		err = -errno;
	if (!err && rename(tmp, l->state))
		err = -errno;
	if (err)
		unlink(tmp);
	return err;
}
