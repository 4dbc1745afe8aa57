// SPDX-License-Identifier: GPL-2.0
/*
 * netmonctl events, `output journal`: every event as one journal entry
 * with its fields searchable (journalctl NETMONCTL_VERDICT=deny
 * NETMONCTL_DPORT=22), sent to journald's native socket.
 *
 * The fields are not defined twice: each event is formatted as its NDJSON
 * line (events_format.c, the one definition of what an event says), and
 * every key of that line becomes NETMONCTL_<KEY> with the JSON string
 * unescaped. So the journal and `-j` always carry the same facts under
 * the same names. MESSAGE is a one-line summary for people; PRIORITY is
 * warning for denies and drops, notice for audits.
 *
 * Native protocol (systemd's journal-native): one datagram per entry,
 * lines `NAME=value`; a value holding a newline is sent as `NAME`, a
 * newline, its length as 64-bit little endian, the bytes and a newline.
 * No libsystemd: one socket and sendmsg(2).
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include "events_internal.h"

#define NM_JOURNAL_SOCKET "/run/systemd/journal/socket"
#define J_FIELDS_MAX 32
#define J_ENTRY_MAX 8192

struct j_field {
	char name[32];   /* NETMONCTL_KEY */
	const char *key; /* into the line, not terminated */
	size_t klen;
	char *val; /* unescaped, into the scratch buffer */
	size_t vlen;
};

const char *nm_ev_journal_path(void)
{
	const char *p = getenv("NETMONCTL_JOURNAL_SOCKET");

	return p && *p ? p : NM_JOURNAL_SOCKET;
}

int nm_ev_journal_open(struct nm_ev_err *e)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *path = nm_ev_journal_path();
	int fd, err;

	char what[NM_PATH_MAX + 32];

	snprintf(what, sizeof(what), "output journal: %s", path);
	if (strlen(path) >= sizeof(sa.sun_path))
		return nm_ev_errno(e, ENAMETOOLONG, what);
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return nm_ev_errno(e, errno, what);
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa))) {
		err = errno;
		close(fd);
		return nm_ev_errno(e, err, what);
	}
	return fd;
}

/* UTF-8 of one code point (our JSON escapes only \u00XX and \ufffd). */
static char *put_utf8(char *o, unsigned cp)
{
	if (cp < 0x80) {
		*o++ = cp;
	} else if (cp < 0x800) {
		*o++ = 0xc0 | cp >> 6;
		*o++ = 0x80 | (cp & 0x3f);
	} else {
		*o++ = 0xe0 | cp >> 12;
		*o++ = 0x80 | ((cp >> 6) & 0x3f);
		*o++ = 0x80 | (cp & 0x3f);
	}
	return o;
}

/* A JSON string body at *p (after the quote) unescaped into o; *p ends
 * after the closing quote. NULL on a malformed string. */
static char *j_unescape(const char **p, const char *end, char *o)
{
	const char *s = *p;

	while (s < end && *s != '"') {
		if (*s != '\\') {
			*o++ = *s++;
			continue;
		}
		if (++s >= end)
			return NULL;
		switch (*s) {
		case 'n': *o++ = '\n'; s++; break;
		case 'r': *o++ = '\r'; s++; break;
		case 't': *o++ = '\t'; s++; break;
		case 'u': {
			char hex[5] = {};

			if (end - s < 5)
				return NULL;
			memcpy(hex, s + 1, 4);
			o = put_utf8(o, (unsigned)strtoul(hex, NULL, 16));
			s += 5;
			break;
		}
		default: *o++ = *s++; /* \" \\ \/ */
		}
	}
	if (s >= end)
		return NULL;
	*p = s + 1;
	return o;
}

/* Split one flat NDJSON object into fields; values unescaped into scratch.
 * Returns the number of fields, or -1 when the line is not such an object. */
static int j_parse(const char *line, size_t len, struct j_field *f, char *scratch)
{
	const char *s = line, *end = line + len;
	int n = 0;

	if (s >= end || *s++ != '{')
		return -1;
	while (s < end && *s == '"' && n < J_FIELDS_MAX) {
		struct j_field *x = &f[n++];
		const char *k = ++s;
		size_t i;

		while (s < end && *s != '"')
			s++;
		if (s + 2 >= end || s[1] != ':')
			return -1;
		x->key = k;
		x->klen = s - k;
		snprintf(x->name, sizeof(x->name), "NETMONCTL_%.*s", (int)x->klen, k);
		for (i = 10; x->name[i]; i++) /* journald takes A-Z, 0-9 and _ only */
			x->name[i] = isalnum((unsigned char)x->name[i]) ? toupper((unsigned char)x->name[i]) : '_';
		s += 2;
		x->val = scratch;
		if (*s == '"') {
			s++;
			scratch = j_unescape(&s, end, scratch);
			if (!scratch)
				return -1;
		} else {
			while (s < end && *s != ',' && *s != '}')
				*scratch++ = *s++;
		}
		x->vlen = scratch - x->val;
		if (s < end && *s == ',')
			s++;
	}
	return s < end && *s == '}' ? n : -1;
}

static const struct j_field *j_get(const struct j_field *f, int n, const char *key)
{
	size_t len = strlen(key);
	int i;

	for (i = 0; i < n; i++)
		if (f[i].klen == len && !memcmp(f[i].key, key, len))
			return &f[i];
	return NULL;
}

/* One field in the native format: plain unless the value holds a newline. */
static char *j_put(char *o, const char *name, const char *val, size_t vlen)
{
	size_t nlen = strlen(name);
	uint64_t le = 0;
	int i;

	memcpy(o, name, nlen);
	o += nlen;
	if (!memchr(val, '\n', vlen)) {
		*o++ = '=';
	} else {
		*o++ = '\n';
		for (i = 0; i < 8; i++)
			((uint8_t *)&le)[i] = (uint8_t)(vlen >> (8 * i));
		memcpy(o, &le, 8);
		o += 8;
	}
	memcpy(o, val, vlen);
	o += vlen;
	*o++ = '\n';
	return o;
}

/* Append n bytes of s, as one line, within end (keeps the NUL). */
static char *j_str(char *m, const char *end, const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n && m < end - 1; i++)
		*m++ = s[i] == '\n' || s[i] == '\r' ? ' ' : s[i];
	*m = 0;
	return m;
}

/* Append `lit` and the value of key ("-" when absent or empty). */
static char *j_cat(char *m, const char *end, const char *lit, const struct j_field *f, int n,
		   const char *key)
{
	const struct j_field *x = j_get(f, n, key);

	m = j_str(m, end, lit, strlen(lit));
	return x && x->vlen ? j_str(m, end, x->val, x->vlen) : j_str(m, end, "-", 1);
}

/* MESSAGE and PRIORITY: what `journalctl -u netmonctl-events` shows. */
static char *j_summary(char *o, const struct j_field *f, int n)
{
	static const char *const event[][2] = {
		{ "", "verdict" }, { " ", "hook" },     { " ", "dir" },      { " ", "proto" },
		{ " ", "saddr" },  { ":", "sport" },    { " -> ", "daddr" }, { ":", "dport" },
		{ " pid ", "pid" }, { " comm ", "comm" }, { " cgroup ", "cgroup" }, { " rule ", "rule" },
	};
	const struct j_field *v = j_get(f, n, "verdict");
	bool audit = v && v->vlen == 5 && !memcmp(v->val, "audit", 5);
	char msg[1200], *m = msg, *end = msg + sizeof(msg);
	size_t i;

	if (j_get(f, n, "drops")) {
		m = j_cat(m, end, "", f, n, "drops");
		m = j_cat(m, end, " events lost: the ring buffer was full (the hooks still enforced; ",
			  f, n, "drops_total");
		m = j_str(m, end, " since load)", 12);
	} else {
		for (i = 0; i < sizeof(event) / sizeof(event[0]); i++)
			m = j_cat(m, end, event[i][0], f, n, event[i][1]);
	}
	o = j_put(o, "MESSAGE", msg, m - msg);
	o = j_put(o, "PRIORITY", audit ? "5" : "4", 1);
	return j_put(o, "SYSLOG_IDENTIFIER", "netmonctl-events", 16); /* as the unit names its output */
}

static int j_send(int fd, const char *p, size_t len)
{
	while (send(fd, p, len, MSG_NOSIGNAL) < 0) {
		if (errno == EINTR && !nm_ev_interrupted)
			continue;
		return -errno;
	}
	return 0;
}

/* One NDJSON line -> one journal entry. */
static int j_entry(int fd, const char *line, size_t len)
{
	static char scratch[J_ENTRY_MAX], entry[2 * J_ENTRY_MAX];
	struct j_field f[J_FIELDS_MAX];
	char *o = entry;
	int n, i;

	if (len > J_ENTRY_MAX - 64)
		return -EMSGSIZE;
	n = j_parse(line, len, f, scratch);
	if (n < 0)
		return -EBADMSG;
	o = j_summary(o, f, n);
	for (i = 0; i < n; i++)
		o = j_put(o, f[i].name, f[i].val, f[i].vlen);
	return j_send(fd, entry, o - entry);
}

int nm_ev_journal_flush(struct nm_ev_buf *b)
{
	size_t off = 0;

	while (!b->err && off < b->len) {
		char *nl = memchr(b->p + off, '\n', b->len - off);
		size_t len = (nl ? (size_t)(nl - b->p) : b->len) - off;
		int err = j_entry(b->fd, b->p + off, len);

		if (err)
			b->err = -err;
		off += len + 1;
	}
	b->len = 0;
	return b->err ? -b->err : 0;
}
