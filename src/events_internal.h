/* SPDX-License-Identifier: GPL-2.0 */
/*
 * netmonctl events, shared by src/events_*.c (and the unit test): the small
 * emitters and escapers the hot path is made of, the caches' layout and
 * their hit paths. Everything that runs per event is static inline here so
 * each file gets its own inlinable copy, as when events were one file; only
 * cache misses leave the file.
 */
#ifndef NM_EVENTS_INTERNAL_H
#define NM_EVENTS_INTERNAL_H

#include <arpa/inet.h>
#include <string.h>
#include <time.h>
#include "events.h"

/* ---- small emitters: each returns the new end ---- */

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

static const char nm_ev_digits2[201] = "00010203040506070809101112131415161718192021222324252627282930313233343536373839"
				       "40414243444546474849505152535455565758596061626364656667686970717273747576777879"
				       "8081828384858687888990919293949596979899";
static const char nm_ev_hex[17] = "0123456789abcdef";

static inline char *put_u64(char *o, uint64_t v)
{
	char tmp[24];
	char *t = tmp + sizeof(tmp);
	size_t n;

	while (v >= 100) {
		unsigned d = (v % 100) * 2;

		v /= 100;
		*--t = nm_ev_digits2[d + 1];
		*--t = nm_ev_digits2[d];
	}
	if (v >= 10) {
		*--t = nm_ev_digits2[v * 2 + 1];
		*--t = nm_ev_digits2[v * 2];
	} else {
		*--t = '0' + v;
	}
	n = tmp + sizeof(tmp) - t;
	return put_mem(o, t, n);
}

/* Exactly `width` digits, zero padded. */
static inline char *put_u64_pad(char *o, uint64_t v, int width)
{
	int i;

	for (i = width - 1; i >= 0; i--) {
		o[i] = '0' + v % 10;
		v /= 10;
	}
	return o + width;
}

/* Pad what was written since start to width, then one space. */
static inline char *put_pad(char *o, const char *start, size_t width)
{
	size_t n = o - start;

	if (n < width) {
		memset(o, ' ', width - n);
		o += width - n;
	}
	*o++ = ' ';
	return o;
}

static inline char *put_addr(char *o, uint8_t family, const uint8_t *a)
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

/* Length of the valid UTF-8 sequence at s (n bytes available), 0 if none:
 * no overlong forms, no surrogates, nothing above U+10FFFF, not truncated. */
static inline int utf8_seq(const unsigned char *s, size_t n)
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

/* JSON string body (no quotes): valid UTF-8 passes, invalid bytes become
 * U+FFFD, controls are escaped. At most 6 bytes out per byte in. */
static inline char *put_json_esc(char *o, const char *str, size_t n)
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
				*o++ = nm_ev_hex[c >> 4];
				*o++ = nm_ev_hex[c & 15];
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
 * as \xNN, so no name can forge a line or drive the terminal. At most 4
 * bytes out per byte in. */
static inline char *put_text_esc(char *o, const char *str, size_t n)
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
			*o++ = nm_ev_hex[c >> 4];
			*o++ = nm_ev_hex[c & 15];
			i++;
		}
	}
	return o;
}

/* ---- time: the date/time part is formatted once per second ---- */

static inline void ev_split(int64_t ns, int64_t *sec, int64_t *frac)
{
	*sec = ns / 1000000000;
	*frac = ns % 1000000000;
	if (*frac < 0) {
		*frac += 1000000000;
		(*sec)--;
	}
}

/* RFC 3339, UTC, nanoseconds: 2025-01-02T15:04:05.123456789Z */
static inline char *put_time_json(struct nm_ev_ctx *c, char *o, uint64_t mono)
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
static inline char *put_time_text(struct nm_ev_ctx *c, char *o, uint64_t mono)
{
	int64_t sec, ns;

	ev_split((int64_t)mono + c->mono_to_real, &sec, &ns);
	if (sec != c->tsec_text) {
		time_t t = sec;
		struct tm tm;

		localtime_r(&t, &tm);
		strftime(c->tstr_text, sizeof(c->tstr_text), "%Y-%m-%d %H:%M:%S", &tm);
		strftime(c->tstr_zone, sizeof(c->tstr_zone), "%z", &tm); /* +0100: a line says its zone */
		c->tsec_text = sec;
	}
	o = put_str(o, c->tstr_text);
	*o++ = '.';
	o = put_u64_pad(o, ns / 1000, 6);
	return put_str(o, c->tstr_zone);
}

/* ---- the two ends of an event ---- */

/* The checked address is remote for egress and ingress and local for bind;
 * the other end is known when non-zero. */
struct ev_ends {
	const uint8_t *laddr, *raddr;
	uint16_t lport, rport;
	bool lknown, rknown;
};

static inline void ev_ends(const struct nm_event *e, struct ev_ends *x)
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

/* ---- caches (src/events_ctx.c): hits inline, misses out of line ---- */

#define CG_SLOTS 1024
#define CG_ESC_MAX 8192 /* longest escaped cgroup path kept */
struct nm_ev_cg {
	uint64_t id;
	bool used;
	bool match; /* the cgroup filters accept it */
	uint16_t plen, jlen, tlen;
	char *path, *json, *text; /* one allocation: raw, JSON-escaped, text-escaped */
};
struct nm_ev_cg *nm_ev_cg_fill(struct nm_ev_ctx *c, struct nm_ev_cg *e, uint64_t id);

static inline struct nm_ev_cg *ev_cg_get(struct nm_ev_ctx *c, uint64_t id)
{
	struct nm_ev_cg *e = &c->cg[(id * 0x9e3779b97f4a7c15ull) >> 54];

	if (e->used && e->id == id)
		return e;
	return nm_ev_cg_fill(c, e, id);
}

#define RULE_SLOTS 256
struct nm_ev_rule {
	bool used;
	struct nm_rule_key key;
	struct nm_port_rule port;
	uint8_t len;
	char text[NM_RULE_TEXT_MAX];
};
void nm_ev_rule_fill(struct nm_ev_rule *slot, const struct nm_rule_key *k, const struct nm_event *e);

/* The rule key the kernel matched: the checked address masked to the
 * matched prefix (rule_prefixlen counts key bits: 8 = any, else 32 + L). */
static inline void ev_rule_key(const struct nm_event *e, struct nm_rule_key *k)
{
	int plen, bytes, i;

	memset(k, 0, sizeof(*k));
	k->dir = e->dir;
	k->list = e->scope; /* the scope that decided, told apart in the cache */
	if (e->rule_prefixlen >= NM_RULE_DEFAULT) { /* no rule: the cache keys by the reason */
		k->prefixlen = e->rule_prefixlen;
		return;
	}
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

static inline const struct nm_ev_rule *ev_rule_get(struct nm_ev_ctx *c, const struct nm_event *e)
{
	struct nm_rule_key k;
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
	nm_ev_rule_fill(slot, &k, e);
	return slot;
}

/* ---- errors ---- */
/* Full message (err = 0), or context for strerror(err) (cmd/ adds that). */
int nm_ev_errf(struct nm_ev_err *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int nm_ev_errno(struct nm_ev_err *e, int err, const char *ctx);

#endif
