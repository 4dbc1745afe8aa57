// SPDX-License-Identifier: GPL-2.0
/*
 * Events, the parts that need no kernel: the JSON and text escapers, time
 * formatting, whole JSON/text lines of synthetic events, the filter parser
 * (nm_ev_filter_add) and the per-event match (nm_ev_match).
 * src/events_internal.h holds the escapers and time emitters as static
 * inline functions, so this file calls the very code the reader runs.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <dirent.h>
#include <unistd.h>
#include <jansson.h>
#include "events_internal.h"
#include "unit.h"

/* ---- helpers ---- */

#define GUARD 0x5a

/* Escape n bytes of in with fn into a buffer of max_per_byte * n bytes
 * followed by guard bytes; NUL-terminate into out (len bytes). Returns the
 * escaped length, or -1 if the escaper wrote past its documented bound. */
static int esc(char *(*fn)(char *, const char *, size_t), const char *in, size_t n, int max_per_byte,
	       char *out, size_t len)
{
	size_t bound = (size_t)max_per_byte * n;
	char *buf = malloc(bound + 64), *end;
	size_t i, got;
	int ok = 1;

	memset(buf, GUARD, bound + 64);
	end = fn(buf, in, n);
	got = end - buf;
	for (i = bound; i < bound + 64; i++)
		ok &= (unsigned char)buf[i] == GUARD;
	if (got > bound || !ok) {
		free(buf);
		return -1;
	}
	snprintf(out, len, "%.*s", (int)got, buf);
	free(buf);
	return (int)got;
}

static char *json_esc_fn(char *o, const char *s, size_t n)
{
	return put_json_esc(o, s, n);
}

static char *text_esc_fn(char *o, const char *s, size_t n)
{
	return put_text_esc(o, s, n);
}

#define JSON_ESC(in, want)                                                                  \
	do {                                                                                \
		char out_[512];                                                             \
		int n_ = esc(json_esc_fn, in, sizeof(in) - 1, 6, out_, sizeof(out_));       \
		CHECK_MSG(n_ >= 0, "json escape of %s wrote past 6 bytes per byte", #in);  \
		if (n_ >= 0)                                                                \
			CHECK_STR(out_, want);                                              \
	} while (0)

#define TEXT_ESC(in, want)                                                                  \
	do {                                                                                \
		char out_[512];                                                             \
		int n_ = esc(text_esc_fn, in, sizeof(in) - 1, 4, out_, sizeof(out_));       \
		CHECK_MSG(n_ >= 0, "text escape of %s wrote past 4 bytes per byte", #in);  \
		if (n_ >= 0)                                                                \
			CHECK_STR(out_, want);                                              \
	} while (0)

/* A small deterministic PRNG (xorshift64*), for the property tests. */
static uint64_t rng_state = 0x9e3779b97f4a7c15ull;
static uint64_t rng(void)
{
	rng_state ^= rng_state >> 12;
	rng_state ^= rng_state << 25;
	rng_state ^= rng_state >> 27;
	return rng_state * 2685821657736338717ull;
}

/* Random bytes biased towards the interesting ones. */
static size_t random_bytes(unsigned char *b, size_t max)
{
	static const unsigned char pick[] = { 0x00, 0x01, 0x0a, 0x1b, 0x1f, '"', '\\', 0x7f, 0x80, 0x9f,
					      0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xed, 0xef,
					      0xf0, 0xf4, 0xf5, 0xff, 'a' };
	size_t n = rng() % (max + 1), i;

	for (i = 0; i < n; i++)
		b[i] = rng() % 3 ? pick[rng() % sizeof(pick)] : (unsigned char)rng();
	return n;
}

/* Independent reference: is b[0..n) valid UTF-8 (RFC 3629)? */
static bool utf8_valid(const unsigned char *b, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned c = b[i], cp, need, k;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc0 && c < 0xe0) {
			need = 1;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c < 0xf0) {
			need = 2;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c < 0xf8) {
			need = 3;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (i + need >= n)
			return false;
		for (k = 1; k <= need; k++) {
			if ((b[i + k] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (b[i + k] & 0x3f);
		}
		if ((need == 1 && cp < 0x80) || (need == 2 && cp < 0x800) || (need == 3 && cp < 0x10000))
			return false; /* overlong */
		if ((cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
			return false;
		i += need + 1;
	}
	return true;
}

/* ---- JSON escaper ---- */

static void test_json_esc_ascii_quotes_backslash(void)
{
	JSON_ESC("", "");
	JSON_ESC("nmprobe", "nmprobe");
	JSON_ESC("a\"b", "a\\\"b");
	JSON_ESC("a\\b", "a\\\\b");
	JSON_ESC("\"\\\"", "\\\"\\\\\\\"");
	JSON_ESC("/sys/fs/cgroup/a b", "/sys/fs/cgroup/a b");
	JSON_ESC("~\x7f", "~\x7f"); /* DEL is legal in a JSON string */
}

static void test_json_esc_controls(void)
{
	JSON_ESC("\n\r\t\b\f", "\\n\\r\\t\\b\\f");
	JSON_ESC("\x01", "\\u0001");
	JSON_ESC("\x1b[31m", "\\u001b[31m");
	JSON_ESC("\x1f", "\\u001f");
	JSON_ESC("a\0b", "a\\u0000b");
	JSON_ESC("\x0b", "\\u000b");
}

static void test_json_esc_utf8_valid(void)
{
	JSON_ESC("\xc3\xa9", "\xc3\xa9");                 /* é */
	JSON_ESC("\xc2\x85", "\xc2\x85");                 /* U+0085: valid UTF-8, legal in JSON */
	JSON_ESC("\xe2\x82\xac", "\xe2\x82\xac");         /* € */
	JSON_ESC("\xe2\x80\xa8", "\xe2\x80\xa8");         /* U+2028 */
	JSON_ESC("\xef\xbf\xbf", "\xef\xbf\xbf");         /* U+FFFF */
	JSON_ESC("\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80"); /* 😀 */
	JSON_ESC("\xf4\x8f\xbf\xbf", "\xf4\x8f\xbf\xbf"); /* U+10FFFF */
}

static void test_json_esc_utf8_invalid(void)
{
	JSON_ESC("\x80", "\\ufffd");                           /* lone continuation */
	JSON_ESC("\xbf", "\\ufffd");
	JSON_ESC("\xff", "\\ufffd");
	JSON_ESC("\xfe", "\\ufffd");
	JSON_ESC("\xf5\x80\x80\x80", "\\ufffd\\ufffd\\ufffd\\ufffd"); /* beyond U+10FFFF */
	JSON_ESC("\xf4\x90\x80\x80", "\\ufffd\\ufffd\\ufffd\\ufffd"); /* U+110000 */
	JSON_ESC("\xed\xa0\x80", "\\ufffd\\ufffd\\ufffd");       /* surrogate U+D800 */
	JSON_ESC("\xed\xbf\xbf", "\\ufffd\\ufffd\\ufffd");       /* surrogate U+DFFF */
	JSON_ESC("a\xc3(", "a\\ufffd(");                         /* bad continuation */
}

static void test_json_esc_overlong(void)
{
	JSON_ESC("\xc0\xaf", "\\ufffd\\ufffd");                 /* '/' in 2 bytes */
	JSON_ESC("\xc1\xbf", "\\ufffd\\ufffd");
	JSON_ESC("\xc0\x80", "\\ufffd\\ufffd");                 /* NUL in 2 bytes */
	JSON_ESC("\xe0\x80\xaf", "\\ufffd\\ufffd\\ufffd");      /* '/' in 3 bytes */
	JSON_ESC("\xe0\x9f\xbf", "\\ufffd\\ufffd\\ufffd");      /* U+07FF in 3 bytes */
	JSON_ESC("\xf0\x80\x80\xaf", "\\ufffd\\ufffd\\ufffd\\ufffd");
	JSON_ESC("\xf0\x8f\xbf\xbf", "\\ufffd\\ufffd\\ufffd\\ufffd"); /* U+FFFF in 4 bytes */
	JSON_ESC("\xe0\xa0\x80", "\xe0\xa0\x80");               /* U+0800: shortest form, fine */
}

static void test_json_esc_truncated(void)
{
	JSON_ESC("\xc3", "\\ufffd");
	JSON_ESC("\xe2\x82", "\\ufffd\\ufffd");
	JSON_ESC("\xf0\x9f\x98", "\\ufffd\\ufffd\\ufffd");
	JSON_ESC("ok\xf0\x9f", "ok\\ufffd\\ufffd");
	/* cut by the length, not by a NUL: the byte after is never read as part of it */
	{
		const char s[] = "\xe2\x82\xac";
		char out[64];

		CHECK_INT(esc(json_esc_fn, s, 2, 6, out, sizeof(out)), 12);
		CHECK_STR(out, "\\ufffd\\ufffd");
	}
}

/* Random bytes: the output is a JSON string jansson accepts, within 6
 * bytes per byte, and it decodes to the input whenever the input is valid
 * UTF-8 (invalid bytes become U+FFFD, so only those may differ). */
static void test_json_esc_property(void)
{
	unsigned char in[24];
	char out[24 * 6 + 3];
	int i, bad = 0;

	for (i = 0; i < 20000 && bad < 5; i++) {
		size_t n = random_bytes(in, sizeof(in)), len;
		json_error_t jerr;
		json_t *j;
		char *end;

		out[0] = '"';
		end = put_json_esc(out + 1, (const char *)in, n);
		len = end - (out + 1);
		*end++ = '"';
		if (len > 6 * n) {
			UNIT_FAIL("escape of %zu bytes took %zu", n, len);
			bad++;
			continue;
		}
		j = json_loadb(out, end - out, JSON_DECODE_ANY | JSON_ALLOW_NUL, &jerr);
		if (!j || !json_is_string(j)) {
			UNIT_FAIL("not a JSON string: %.*s (%s)", (int)(end - out), out, jerr.text);
			bad++;
		} else if (utf8_valid(in, n) &&
			   (json_string_length(j) != n || memcmp(json_string_value(j), in, n))) {
			UNIT_FAIL("valid UTF-8 did not round-trip: %.*s", (int)(end - out), out);
			bad++;
		}
		json_decref(j);
	}
}

/* ---- text escaper ---- */

static void test_text_esc_ascii_backslash(void)
{
	TEXT_ESC("", "");
	TEXT_ESC("nmprobe", "nmprobe");
	TEXT_ESC("we\"ird", "we\"ird");
	TEXT_ESC("a\\b", "a\\\\b");
	TEXT_ESC("\\x41", "\\\\x41"); /* a name cannot forge an escape */
}

static void test_text_esc_controls(void)
{
	TEXT_ESC("a\nb", "a\\x0ab");
	TEXT_ESC("\r\t", "\\x0d\\x09");
	TEXT_ESC("\x1b[2J", "\\x1b[2J");
	TEXT_ESC("\x7f", "\\x7f");
	TEXT_ESC("\0", "\\x00");
	TEXT_ESC("\xc2\x85", "\\xc2\\x85"); /* C1 NEL */
	TEXT_ESC("\xc2\x9b", "\\xc2\\x9b"); /* C1 CSI: drives terminals */
	TEXT_ESC("\xc2\xa0", "\xc2\xa0");   /* U+00A0 is not a control */
}

static void test_text_esc_utf8(void)
{
	TEXT_ESC("caf\xc3\xa9", "caf\xc3\xa9");
	TEXT_ESC("\xe2\x82\xac", "\xe2\x82\xac");
	TEXT_ESC("\xf0\x9f\x98\x80", "\xf0\x9f\x98\x80");
	TEXT_ESC("\xff", "\\xff");
	TEXT_ESC("\x80", "\\x80");
	TEXT_ESC("\xc0\xaf", "\\xc0\\xaf");                 /* overlong */
	TEXT_ESC("\xe0\x80\xaf", "\\xe0\\x80\\xaf");        /* overlong */
	TEXT_ESC("\xed\xa0\x80", "\\xed\\xa0\\x80");        /* surrogate */
	TEXT_ESC("\xf4\x90\x80\x80", "\\xf4\\x90\\x80\\x80"); /* > U+10FFFF */
	TEXT_ESC("\xe2\x82", "\\xe2\\x82");                 /* truncated */
	TEXT_ESC("x\xf0\x9f\x98", "x\\xf0\\x9f\\x98");      /* truncated */
}

/* Random bytes: at most 4 bytes out per byte, no C0/DEL byte out, every
 * non-ASCII run is valid UTF-8 with no C1 control. */
static void test_text_esc_property(void)
{
	unsigned char in[24], out[24 * 4];
	int i, bad = 0;

	for (i = 0; i < 20000 && bad < 5; i++) {
		size_t n = random_bytes(in, sizeof(in)), len, j;

		len = (unsigned char *)put_text_esc((char *)out, (const char *)in, n) - out;
		if (len > 4 * n) {
			UNIT_FAIL("escape of %zu bytes took %zu", n, len);
			bad++;
			continue;
		}
		for (j = 0; j < len; j++)
			if (out[j] < 0x20 || out[j] == 0x7f || (out[j] == 0xc2 && j + 1 < len && out[j + 1] < 0xa0))
				break;
		if (j < len || !utf8_valid(out, len)) {
			UNIT_FAIL("unsafe text output at byte %zu of %zu", j, len);
			bad++;
		}
	}
}

/* ---- time ---- */

#define T_2025 1735830245ll /* 2025-01-02T15:04:05Z */

static void time_ctx(struct nm_ev_ctx *c, int64_t real_ns_at_mono_0)
{
	memset(c, 0, sizeof(*c));
	c->mono_to_real = real_ns_at_mono_0;
	c->tsec_json = c->tsec_text = INT64_MIN;
	c->cg_mount_fd = -1;
}

static void json_time(struct nm_ev_ctx *c, uint64_t mono, char *out)
{
	*put_time_json(c, out, mono) = 0;
}

static void text_time(struct nm_ev_ctx *c, uint64_t mono, char *out)
{
	*put_time_text(c, out, mono) = 0;
}

static void test_time_json_rfc3339(void)
{
	struct nm_ev_ctx c;
	char s[64];

	time_ctx(&c, T_2025 * 1000000000ll - 5000000000ll);
	json_time(&c, 5000000000ull + 123456789, s);
	CHECK_STR(s, "2025-01-02T15:04:05.123456789Z");
	json_time(&c, 5000000000ull + 999999999, s); /* same second, from the cache */
	CHECK_STR(s, "2025-01-02T15:04:05.999999999Z");
	json_time(&c, 6000000000ull, s); /* next second: the cache moves on */
	CHECK_STR(s, "2025-01-02T15:04:06.000000000Z");
	json_time(&c, 5000000000ull + 7, s); /* and back */
	CHECK_STR(s, "2025-01-02T15:04:05.000000007Z");
	time_ctx(&c, 0);
	json_time(&c, 0, s);
	CHECK_STR(s, "1970-01-01T00:00:00.000000000Z");
	/* an event stamped before the epoch (clock set back): floor, not truncation */
	time_ctx(&c, -1);
	json_time(&c, 0, s);
	CHECK_STR(s, "1969-12-31T23:59:59.999999999Z");
	/* leap day, year end */
	time_ctx(&c, 1709164800ll * 1000000000ll); /* 2024-02-29T00:00:00Z */
	json_time(&c, 0, s);
	CHECK_STR(s, "2024-02-29T00:00:00.000000000Z");
	time_ctx(&c, 1767225599ll * 1000000000ll); /* 2025-12-31T23:59:59Z */
	json_time(&c, 1000000000, s);
	CHECK_STR(s, "2026-01-01T00:00:00.000000000Z");
}

/* JSON time is UTC whatever TZ says. */
static void test_time_json_ignores_tz(void)
{
	struct nm_ev_ctx c;
	char s[64];

	setenv("TZ", "XYZ-5", 1);
	tzset();
	time_ctx(&c, T_2025 * 1000000000ll);
	json_time(&c, 1, s);
	CHECK_STR(s, "2025-01-02T15:04:05.000000001Z");
	setenv("TZ", "UTC0", 1);
	tzset();
}

/* Text: local time, microseconds (truncated, never rounded up to the next
 * second), and the zone's offset. */
static void test_time_text_local(void)
{
	struct nm_ev_ctx c;
	char s[64];

	setenv("TZ", "UTC0", 1);
	tzset();
	time_ctx(&c, T_2025 * 1000000000ll);
	text_time(&c, 123456789, s);
	CHECK_STR(s, "2025-01-02 15:04:05.123456+0000");
	text_time(&c, 999999999, s);
	CHECK_STR(s, "2025-01-02 15:04:05.999999+0000");
	setenv("TZ", "XYZ-2", 1); /* POSIX TZ: UTC+2, no zone files needed */
	tzset();
	time_ctx(&c, T_2025 * 1000000000ll);
	text_time(&c, 1000, s);
	CHECK_STR(s, "2025-01-02 17:04:05.000001+0200");
	setenv("TZ", "XYZ+10", 1); /* UTC-10: the day before */
	tzset();
	time_ctx(&c, T_2025 * 1000000000ll);
	text_time(&c, 0, s);
	CHECK_STR(s, "2025-01-02 05:04:05.000000-1000");
	/* the JSON and text caches are separate */
	json_time(&c, 0, s);
	CHECK_STR(s, "2025-01-02T15:04:05.000000000Z");
	text_time(&c, 0, s);
	CHECK_STR(s, "2025-01-02 05:04:05.000000-1000");
	setenv("TZ", "UTC0", 1);
	tzset();
}

/* ---- filter parser ---- */

static int add(struct nm_ev_filter *f, int kind, const char *v, struct nm_ev_err *e)
{
	memset(e, 0, sizeof(*e));
	return nm_ev_filter_add(f, kind, v, e);
}

static const char *kw_name(int kind)
{
	return kind >= 0 && kind < NM_EV_F_MAX ? nm_ev_filter_kw[kind] : "(bad kind)";
}

/* A rejection: -EINVAL, a usage error, one line naming the kind. */
#define REJECT(kind, v)                                                                      \
	do {                                                                                 \
		struct nm_ev_filter f_ = {};                                                 \
		struct nm_ev_err e_;                                                         \
		int rc_ = add(&f_, kind, v, &e_);                                            \
		CHECK_MSG(rc_ == -EINVAL, "%s '%s' accepted (rc %d)", kw_name(kind), v, rc_); \
		if (rc_ == -EINVAL) {                                                        \
			CHECK_INT(e_.code, NM_EXIT_USAGE);                                   \
			CHECK_MSG(e_.msg[0] && !strchr(e_.msg, '\n'), "message: '%s'", e_.msg); \
		}                                                                            \
		nm_ev_filter_free(&f_);                                                      \
	} while (0)

#define ACCEPT(f, kind, v)                                                                   \
	do {                                                                                 \
		struct nm_ev_err e_;                                                         \
		int rc_ = add(f, kind, v, &e_);                                              \
		CHECK_MSG(rc_ == 0, "%s '%s' rejected: %s", kw_name(kind), v, e_.msg); \
	} while (0)

static void test_filter_keywords(void)
{
	static const char *const want[] = { "hook", "verdict", "pid", "comm", "cgroup", "addr", "port" };
	int i;

	for (i = 0; i < NM_EV_F_MAX; i++)
		CHECK_STR(nm_ev_filter_kw[i], want[i]);
	CHECK(nm_ev_filter_kw[NM_EV_F_MAX] == NULL);
}

static void test_filter_bad_kind(void)
{
	REJECT(-1, "x");
	REJECT(NM_EV_F_MAX, "x");
	REJECT(1000, "x");
}

static void test_filter_hook(void)
{
	struct nm_ev_filter f = {};
	int i;

	/* every program name is its own bit, by the name nm_progs gives it */
	for (i = 0; i < NM_HOOK_MAX; i++) {
		memset(&f, 0, sizeof(f));
		ACCEPT(&f, NM_EV_F_HOOK, nm_progs[i].name);
		CHECK_MSG(f.hooks == 1u << nm_progs[i].hook, "hook %s: bits %#x", nm_progs[i].name, f.hooks);
	}
	memset(&f, 0, sizeof(f));
	ACCEPT(&f, NM_EV_F_HOOK, "connect"); /* exact word, though also a prefix of connect4 */
	CHECK_INT(f.hooks, (1u << NM_HOOK_CONNECT4) | (1u << NM_HOOK_CONNECT6) | (1u << NM_HOOK_LSM_CONNECT));
	memset(&f, 0, sizeof(f));
	ACCEPT(&f, NM_EV_F_HOOK, "sendmsg");
	CHECK_INT(f.hooks, (1u << NM_HOOK_SENDMSG4) | (1u << NM_HOOK_SENDMSG6) | (1u << NM_HOOK_LSM_SENDMSG));
	memset(&f, 0, sizeof(f));
	ACCEPT(&f, NM_EV_F_HOOK, "bind"); /* exact word, though also a prefix of bind4 */
	CHECK_INT(f.hooks, (1u << NM_HOOK_BIND4) | (1u << NM_HOOK_BIND6) | (1u << NM_HOOK_LSM_BIND));
	memset(&f, 0, sizeof(f));
	ACCEPT(&f, NM_EV_F_HOOK, "listen");
	ACCEPT(&f, NM_EV_F_HOOK, "accept");
	ACCEPT(&f, NM_EV_F_HOOK, "recvmsg");
	CHECK_INT(f.hooks, (1u << NM_HOOK_LSM_LISTEN) | (1u << NM_HOOK_LSM_ACCEPT) |
				   (1u << NM_HOOK_LSM_RECVMSG));
	memset(&f, 0, sizeof(f));
	ACCEPT(&f, NM_EV_F_HOOK, "bind6");
	CHECK_INT(f.hooks, 1u << NM_HOOK_BIND6);
	memset(&f, 0, sizeof(f));
	ACCEPT(&f, NM_EV_F_HOOK, "lsm_b"); /* a unique prefix */
	CHECK_INT(f.hooks, 1u << NM_HOOK_LSM_BIND);
	REJECT(NM_EV_F_HOOK, "conn"); /* ambiguous */
	REJECT(NM_EV_F_HOOK, "lsm_");
	REJECT(NM_EV_F_HOOK, "nope");
	REJECT(NM_EV_F_HOOK, "");
	REJECT(NM_EV_F_HOOK, "connect4 ");
	REJECT(NM_EV_F_HOOK, "CONNECT4");
}

static void test_filter_verdict(void)
{
	struct nm_ev_filter f = {};

	ACCEPT(&f, NM_EV_F_VERDICT, "deny");
	CHECK_INT(f.verdicts, 1u << NM_VERDICT_DENY);
	ACCEPT(&f, NM_EV_F_VERDICT, "a");
	CHECK_INT(f.verdicts, (1u << NM_VERDICT_DENY) | (1u << NM_VERDICT_AUDIT));
	REJECT(NM_EV_F_VERDICT, "allow");
	REJECT(NM_EV_F_VERDICT, "");
	REJECT(NM_EV_F_VERDICT, "denyx");
}

static void test_filter_pid(void)
{
	struct nm_ev_filter f = {};

	ACCEPT(&f, NM_EV_F_PID, "1");
	ACCEPT(&f, NM_EV_F_PID, "4294967295");
	CHECK_INT(f.npid, 2);
	CHECK_INT(f.pid[0], 1);
	CHECK_INT(f.pid[1], 4294967295u);
	REJECT(NM_EV_F_PID, "0");
	REJECT(NM_EV_F_PID, "4294967296");
	REJECT(NM_EV_F_PID, "");
	REJECT(NM_EV_F_PID, "x");
	REJECT(NM_EV_F_PID, "12x");
	REJECT(NM_EV_F_PID, "0x10");
	/* what strtoull would take: blanks and signs */
	REJECT(NM_EV_F_PID, " 5");
	REJECT(NM_EV_F_PID, "\t5");
	REJECT(NM_EV_F_PID, "+5");
	REJECT(NM_EV_F_PID, "-5");
	REJECT(NM_EV_F_PID, " -1");
	REJECT(NM_EV_F_PID, "5 ");
}

static void test_filter_comm(void)
{
	struct nm_ev_filter f = {};

	ACCEPT(&f, NM_EV_F_COMM, "curl");
	ACCEPT(&f, NM_EV_F_COMM, "a-very-long-command-name"); /* the kernel keeps 15 bytes */
	CHECK_STR(f.comm[0], "curl");
	CHECK_STR(f.comm[1], "a-very-long-com");
	REJECT(NM_EV_F_COMM, "");
}

static void test_filter_addr(void)
{
	struct nm_ev_filter f = {};

	ACCEPT(&f, NM_EV_F_ADDR, "10.0.0.0/8");
	ACCEPT(&f, NM_EV_F_ADDR, "127.0.0.2");
	ACCEPT(&f, NM_EV_F_ADDR, "2001:db8::/32");
	ACCEPT(&f, NM_EV_F_ADDR, "::ffff:1.2.3.4"); /* v4-mapped: an IPv4 filter */
	ACCEPT(&f, NM_EV_F_ADDR, "any");
	CHECK_INT(f.naddr, 5);
	CHECK_INT(f.addr[0].family, NM_FAM_V4);
	CHECK_INT(f.addr[0].plen, 8);
	CHECK_INT(f.addr[1].plen, 32);
	CHECK_INT(f.addr[2].family, NM_FAM_V6);
	CHECK_INT(f.addr[3].family, NM_FAM_V4);
	CHECK_INT(f.addr[4].family, NM_FAM_ANY);
	REJECT(NM_EV_F_ADDR, "1.2.3.4/33");
	REJECT(NM_EV_F_ADDR, "10.0.0.1/8"); /* host bits set */
	REJECT(NM_EV_F_ADDR, "nonsense");
	REJECT(NM_EV_F_ADDR, "");
	REJECT(NM_EV_F_ADDR, "10.0.0.0/");
	REJECT(NM_EV_F_ADDR, "10.0.0.0/ 8");
	REJECT(NM_EV_F_ADDR, "10.0.0.0/+8");
	REJECT(NM_EV_F_ADDR, "10.0.0.0/-8");
	REJECT(NM_EV_F_ADDR, " 10.0.0.0/8");
	REJECT(NM_EV_F_ADDR, "2001:db8::/129");
}

static void test_filter_port(void)
{
	struct nm_ev_filter f = {};

	ACCEPT(&f, NM_EV_F_PORT, "0");
	ACCEPT(&f, NM_EV_F_PORT, "65535");
	ACCEPT(&f, NM_EV_F_PORT, "1000-2000");
	ACCEPT(&f, NM_EV_F_PORT, "7-7");
	CHECK_INT(f.nport, 4);
	CHECK(f.port[0].lo == 0 && f.port[0].hi == 0);
	CHECK(f.port[1].lo == 65535 && f.port[1].hi == 65535);
	CHECK(f.port[2].lo == 1000 && f.port[2].hi == 2000);
	CHECK(f.port[3].lo == 7 && f.port[3].hi == 7);
	REJECT(NM_EV_F_PORT, "65536");
	REJECT(NM_EV_F_PORT, "9-1");
	REJECT(NM_EV_F_PORT, "");
	REJECT(NM_EV_F_PORT, "-");
	REJECT(NM_EV_F_PORT, "1-");
	REJECT(NM_EV_F_PORT, "-1");
	REJECT(NM_EV_F_PORT, "1-2-3");
	REJECT(NM_EV_F_PORT, "http");
	REJECT(NM_EV_F_PORT, "1234567890123456");
	REJECT(NM_EV_F_PORT, " 9");
	REJECT(NM_EV_F_PORT, "+9");
	REJECT(NM_EV_F_PORT, "9- 10");
	REJECT(NM_EV_F_PORT, "9-+10");
	REJECT(NM_EV_F_PORT, "9 -10");
}

static void test_filter_limits(void)
{
	struct nm_ev_filter f = {};
	struct nm_ev_err e;
	char v[16];
	int i;

	for (i = 1; i <= NM_EV_FILTER_MAX; i++) {
		snprintf(v, sizeof(v), "%d", i);
		ACCEPT(&f, NM_EV_F_PID, v);
		ACCEPT(&f, NM_EV_F_PORT, v);
		ACCEPT(&f, NM_EV_F_COMM, v);
		ACCEPT(&f, NM_EV_F_ADDR, "any");
	}
	CHECK_INT(add(&f, NM_EV_F_PID, "99", &e), -EINVAL);
	CHECK(strstr(e.msg, "at most") != NULL);
	CHECK_INT(add(&f, NM_EV_F_PORT, "99", &e), -EINVAL);
	CHECK_INT(add(&f, NM_EV_F_COMM, "x", &e), -EINVAL);
	CHECK_INT(add(&f, NM_EV_F_ADDR, "any", &e), -EINVAL);
	CHECK_INT(f.npid, NM_EV_FILTER_MAX);
	/* hook and verdict are bit sets: no limit */
	for (i = 0; i < 40; i++)
		ACCEPT(&f, NM_EV_F_HOOK, "connect4");
}

static void test_filter_cgroup(void)
{
	struct nm_ev_filter f = {};
	char root[NM_PATH_MAX];

	REJECT(NM_EV_F_CGROUP, "/nonexistent-nm-unit");
	REJECT(NM_EV_F_CGROUP, "");
	if (nm_cgroup2_mount(root, sizeof(root)))
		return; /* no cgroup2 here: the rest needs one */
	REJECT(NM_EV_F_CGROUP, "/proc"); /* a directory, not cgroup2 */
	ACCEPT(&f, NM_EV_F_CGROUP, root);
	CHECK_INT(f.ncg, 1);
	CHECK_STR(f.cg_path[0], root);
	nm_ev_filter_free(&f);
	CHECK_INT(f.ncg, 0);
}

/* ---- match ---- */

static struct nm_event ev4(uint8_t hook, uint8_t verdict, uint32_t pid, const char *comm,
			   const char *raddr, uint16_t rport)
{
	struct nm_event e;

	memset(&e, 0, sizeof(e));
	e.hook = hook;
	e.verdict = verdict;
	e.pid = e.tid = pid;
	memcpy(e.comm, comm, strnlen(comm, sizeof(e.comm))); /* maybe unterminated, at 16 */
	e.family = NM_FAM_V4;
	e.protocol = 6;
	inet_pton(AF_INET, raddr, e.raddr);
	e.rport = rport;
	e.dir = NM_DIR_EGRESS;
	return e;
}

static bool match(struct nm_ev_filter *f, const struct nm_event *e)
{
	struct nm_ev_ctx c;
	bool m;

	time_ctx(&c, 0);
	c.filter = f;
	c.cg = calloc(CG_SLOTS, sizeof(*c.cg));
	c.rule = calloc(RULE_SLOTS, sizeof(*c.rule));
	m = nm_ev_match(&c, e);
	nm_ev_ctx_free(&c);
	return m;
}

/* f from words "KIND VALUE KIND VALUE ..." */
static void filter_of(struct nm_ev_filter *f, const char *words)
{
	char buf[256], *save = NULL, *k, *v;
	struct nm_ev_err e;

	memset(f, 0, sizeof(*f));
	snprintf(buf, sizeof(buf), "%s", words);
	for (k = strtok_r(buf, " ", &save); k; k = strtok_r(NULL, " ", &save)) {
		int kind = nm_keyword(k, nm_ev_filter_kw);

		v = strtok_r(NULL, " ", &save);
		CHECK_MSG(kind >= 0 && v && add(f, kind, v, &e) == 0, "filter '%s'", words);
	}
}

static bool matches(const char *words, const struct nm_event *e)
{
	struct nm_ev_filter f;
	bool m;

	filter_of(&f, words);
	m = match(&f, e);
	nm_ev_filter_free(&f);
	return m;
}

static void test_match_kinds(void)
{
	struct nm_event a = ev4(NM_HOOK_CONNECT4, NM_VERDICT_DENY, 100, "nmprobe", "127.0.0.2", 9);
	struct nm_event b = ev4(NM_HOOK_SENDMSG6, NM_VERDICT_AUDIT, 200, "curl", "10.1.2.3", 443);

	CHECK(match(NULL, &a));
	CHECK(matches("", &a));
	CHECK(matches("hook connect4", &a) && !matches("hook connect4", &b));
	CHECK(matches("hook connect", &a) && !matches("hook connect", &b));
	CHECK(matches("hook sendmsg", &b) && matches("hook sendmsg6", &b));
	CHECK(matches("hook connect4 hook sendmsg6", &b)); /* repeats OR */
	CHECK(!matches("hook bind", &a));
	CHECK(matches("verdict deny", &a) && !matches("verdict deny", &b));
	CHECK(matches("verdict audit", &b) && matches("verdict deny verdict audit", &b));
	CHECK(matches("pid 100", &a) && !matches("pid 100", &b) && matches("pid 1 pid 200", &b));
	CHECK(matches("comm nmprobe", &a) && !matches("comm nmprob", &a) && !matches("comm nmprobe2", &a));
	CHECK(matches("comm curl comm x", &b));
	CHECK(matches("addr 127.0.0.0/8", &a) && !matches("addr 127.0.0.0/8", &b));
	CHECK(matches("addr 127.0.0.2", &a) && !matches("addr 127.0.0.3", &a));
	CHECK(matches("addr 127.0.0.0/31", &a) == false && matches("addr 127.0.0.2/31", &a));
	CHECK(matches("addr 127.0.0.0/30", &a));
	CHECK(matches("addr 0.0.0.0/0", &a) && matches("addr any", &a));
	CHECK(!matches("addr ::/0", &a)); /* an IPv6 filter never covers IPv4 */
	CHECK(matches("port 9", &a) && matches("port 1-9", &a) && !matches("port 10-20", &a));
	CHECK(matches("port 443", &b) && matches("port 9 port 443", &b));
	/* kinds AND */
	CHECK(matches("hook connect4 port 9 comm nmprobe addr 127.0.0.2 pid 100 verdict deny", &a));
	CHECK(!matches("hook connect4 port 10", &a));
	CHECK(!matches("comm nmprobe pid 101", &a));
	/* out-of-range hook and verdict numbers never match a set filter */
	a.hook = 40;
	a.verdict = 40;
	CHECK(!matches("hook connect4", &a) && !matches("verdict deny", &a) && matches("pid 100", &a));
}

/* A 15-byte comm fills the kernel's buffer with its NUL; 16 bytes never
 * come from the kernel, but must not be read past either. */
static void test_match_comm_edges(void)
{
	struct nm_event e = ev4(NM_HOOK_CONNECT4, NM_VERDICT_DENY, 1, "", "127.0.0.2", 9);

	memcpy(e.comm, "fifteen-chars-x", 16);
	CHECK(matches("comm fifteen-chars-x", &e));
	CHECK(matches("comm fifteen-chars-xyz", &e)); /* cut to 15 like the kernel does */
	memcpy(e.comm, "sixteen-chars-xy", 16);       /* no NUL at all */
	CHECK(matches("comm sixteen-chars-x", &e) == false);
}

static void test_match_ends(void)
{
	struct nm_event e = ev4(NM_HOOK_LSM_BIND, NM_VERDICT_DENY, 1, "srv", "192.0.2.1", 8080);
	struct nm_event v6;

	/* bind: the checked address is the local end; there is no remote end */
	e.dir = NM_DIR_BIND;
	CHECK(matches("addr 192.0.2.1 port 8080", &e));
	CHECK(!matches("addr 0.0.0.0 port 0", &e));
	/* egress with a known local end: either end matches */
	e = ev4(NM_HOOK_CONNECT4, NM_VERDICT_DENY, 1, "c", "10.0.0.1", 80);
	inet_pton(AF_INET, "192.168.1.5", e.laddr);
	e.lport = 40000;
	CHECK(matches("addr 192.168.1.5", &e) && matches("addr 10.0.0.1", &e));
	CHECK(matches("port 40000", &e) && matches("port 80", &e) && !matches("port 81", &e));
	/* unknown local end (all zero): 0.0.0.0 and port 0 are not it */
	e = ev4(NM_HOOK_CONNECT4, NM_VERDICT_DENY, 1, "c", "10.0.0.1", 80);
	CHECK(!matches("addr 0.0.0.0", &e) && !matches("port 0", &e));
	/* IPv6 */
	v6 = e;
	v6.family = NM_FAM_V6;
	memset(v6.raddr, 0, 16);
	inet_pton(AF_INET6, "2001:db8::1", v6.raddr);
	CHECK(matches("addr 2001:db8::/32", &v6) && !matches("addr 2001:db9::/32", &v6));
	CHECK(matches("addr 2001:db8::1", &v6) && !matches("addr 10.0.0.0/8", &v6));
	CHECK(matches("addr 2001:db8::/33", &v6) && !matches("addr 2001:db8:8000::/33", &v6));
}

static void test_match_cgroup(void)
{
	struct nm_ev_filter f;
	struct nm_ev_err e;
	struct nm_event ev = ev4(NM_HOOK_CONNECT4, NM_VERDICT_DENY, 1, "c", "10.0.0.1", 80);
	struct nm_ev_ctx c;
	char root[NM_PATH_MAX], child[NM_PATH_MAX + 256] = "";
	struct dirent *de;
	struct stat st;
	DIR *d;

	if (nm_cgroup2_mount(root, sizeof(root)) || stat(root, &st))
		return; /* no cgroup2 here */
	d = opendir(root);
	while (d && (de = readdir(d)))
		if (de->d_type == DT_DIR && de->d_name[0] != '.') {
			snprintf(child, sizeof(child), "%s/%s", root, de->d_name);
			break;
		}
	if (d)
		closedir(d);
	memset(&f, 0, sizeof(f));
	CHECK_INT(add(&f, NM_EV_F_CGROUP, root, &e), 0);
	CHECK_INT(nm_ev_ctx_init(&c, &f), 0);
	ev.cgroup_id = st.st_ino; /* the cgroup itself */
	CHECK(nm_ev_match(&c, &ev));
	ev.cgroup_id = 0xfffffffffff1ull; /* no such cgroup */
	CHECK(!nm_ev_match(&c, &ev));
	ev.cgroup_id = 0; /* unknown */
	CHECK(!nm_ev_match(&c, &ev));
	if (*child && stat(child, &st) == 0) { /* below it */
		ev.cgroup_id = st.st_ino;
		CHECK(nm_ev_match(&c, &ev));
		CHECK_STR(nm_ev_cgroup(&c, st.st_ino), child);
	}
	nm_ev_ctx_free(&c);
	nm_ev_filter_free(&f);
}

/* ---- whole lines ---- */

static struct nm_ev_buf *line_buf(void)
{
	static struct nm_ev_buf b;

	if (!b.p)
		nm_ev_buf_init(&b, -1);
	b.len = 0;
	return &b;
}

static void test_json_line(void)
{
	struct nm_event e = ev4(NM_HOOK_CONNECT4, NM_VERDICT_DENY, 4242, "", "127.0.0.2", 9);
	struct nm_ev_buf *b = line_buf();
	struct nm_ev_ctx c;
	json_error_t jerr;
	json_t *j;

	memcpy(e.comm, "we\"ird\\\n\x1b\xff\xc3\xa9xyz", 15);
	e.ts_ns = 5000000000ull + 42;
	e.rule_prefixlen = NM_KEY_HDR_BITS + 32;
	e.rule_port.lo = e.rule_port.hi = 9;
	e.rule_port.protos = NM_PROTO_ANY;
	CHECK_INT(nm_ev_ctx_init(&c, NULL), 0);
	c.mono_to_real = T_2025 * 1000000000ll - 5000000000ll;
	nm_ev_json(&c, b, &e);
	CHECK(b->len > 0 && b->p[b->len - 1] == '\n' && memchr(b->p, '\n', b->len) == b->p + b->len - 1);
	j = json_loadb(b->p, b->len, 0, &jerr);
	CHECK_MSG(j != NULL, "%.*s: %s", (int)b->len, b->p, jerr.text);
	if (j) {
		CHECK_STR(json_string_value(json_object_get(j, "type")), "event");
		CHECK_STR(json_string_value(json_object_get(j, "time")), "2025-01-02T15:04:05.000000042Z");
		CHECK_STR(json_string_value(json_object_get(j, "hook")), "connect4");
		CHECK_STR(json_string_value(json_object_get(j, "verdict")), "deny");
		CHECK_INT(json_integer_value(json_object_get(j, "pid")), 4242);
		CHECK_STR(json_string_value(json_object_get(j, "comm")), "we\"ird\\\n\x1b\xef\xbf\xbd\xc3\xa9xyz");
		CHECK_STR(json_string_value(json_object_get(j, "cgroup")), "");
		CHECK_STR(json_string_value(json_object_get(j, "daddr")), "127.0.0.2");
		CHECK_STR(json_string_value(json_object_get(j, "saddr")), "");
		CHECK_STR(json_string_value(json_object_get(j, "rule")), "127.0.0.2 port 9");
		json_decref(j);
	}
	/* out-of-range names: "unknown", still one valid line */
	e.hook = 200;
	e.verdict = 200;
	e.dir = NM_DIR_MAX - 1;
	b->len = 0;
	nm_ev_json(&c, b, &e);
	j = json_loadb(b->p, b->len, 0, &jerr);
	CHECK(j && !strcmp(json_string_value(json_object_get(j, "hook")), "unknown"));
	json_decref(j);
	nm_ev_ctx_free(&c);
}

static void test_text_line(void)
{
	struct nm_event e = ev4(NM_HOOK_SENDMSG6, NM_VERDICT_AUDIT, 0, "", "::1", 53);
	struct nm_ev_buf *b = line_buf();
	struct nm_ev_ctx c;
	size_t i;

	memset(e.raddr, 0, 16);
	e.raddr[15] = 1;
	e.family = NM_FAM_V6;
	e.protocol = 17;
	memcpy(e.comm, "a\nb\x1b[2J", 8);
	e.rule_prefixlen = NM_KEY_ANY_BITS;
	e.rule_port.lo = e.rule_port.hi = 53;
	e.rule_port.protos = NM_PROTO_UDP;
	setenv("TZ", "UTC0", 1);
	tzset();
	CHECK_INT(nm_ev_ctx_init(&c, NULL), 0);
	c.mono_to_real = T_2025 * 1000000000ll;
	nm_ev_text(&c, b, &e);
	CHECK(b->len > 0 && b->p[b->len - 1] == '\n');
	for (i = 0; i + 1 < b->len; i++)
		CHECK_MSG(b->p[i] >= 0x20 && b->p[i] != 0x7f, "control byte %#x at %zu", b->p[i], i);
	b->p[b->len - 1] = 0;
	CHECK_STR(b->p, "2025-01-02 15:04:05.000000+0000 audit   sendmsg6          - a\\x0ab\\x1b[2J   "
			"-                                udp   -                     [::1]:53              "
			"any port 53 proto udp");
	nm_ev_ctx_free(&c);
}

int main(void)
{
	setenv("TZ", "UTC0", 1);
	tzset();
	RUN(test_json_esc_ascii_quotes_backslash);
	RUN(test_json_esc_controls);
	RUN(test_json_esc_utf8_valid);
	RUN(test_json_esc_utf8_invalid);
	RUN(test_json_esc_overlong);
	RUN(test_json_esc_truncated);
	RUN(test_json_esc_property);
	RUN(test_text_esc_ascii_backslash);
	RUN(test_text_esc_controls);
	RUN(test_text_esc_utf8);
	RUN(test_text_esc_property);
	RUN(test_time_json_rfc3339);
	RUN(test_time_json_ignores_tz);
	RUN(test_time_text_local);
	RUN(test_filter_keywords);
	RUN(test_filter_bad_kind);
	RUN(test_filter_hook);
	RUN(test_filter_verdict);
	RUN(test_filter_pid);
	RUN(test_filter_comm);
	RUN(test_filter_addr);
	RUN(test_filter_port);
	RUN(test_filter_limits);
	RUN(test_filter_cgroup);
	RUN(test_match_kinds);
	RUN(test_match_comm_edges);
	RUN(test_match_ends);
	RUN(test_match_cgroup);
	RUN(test_json_line);
	RUN(test_text_line);
	return unit_done("events");
}
