// SPDX-License-Identifier: GPL-2.0
/*
 * Rules files (`deny add file`), and line files in general (`restore`
 * reads one): the bytes of a file or a pipe -> lines -> rules, all or
 * nothing. A rules file is text: one RULE per line (a port list
 * makes it several rules), blank lines and `# comments` allowed, lines
 * ending in LF or CRLF. Anything else is an error naming the line, never a
 * short read:
 *   - a read error (EISDIR, EIO, ...) is an error, not the end of the file;
 *   - a non-blocking descriptor (a shell can hand us one as stdin) is
 *     waited for with poll() and read to its end;
 *   - a lone CR (CR-only line endings would make the whole file one line),
 *     a NUL byte (C would cut the line there: `192.0.2.20\0 port 80` would
 *     become a rule on all ports) and other control characters are errors;
 *   - a line longer than NM_RULEFILE_LINE_MAX bytes is an error, so a
 *     file with no newline cannot make us allocate without bound.
 * Rule text is ASCII; comments may hold any other byte but controls. So an
 * error message quoting a word of the file never carries a terminal escape.
 * Nothing here prints: errors come back as -errno with "NAME:LINE: why".
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include "nm.h"

#define RF_BUF (64u << 10) /* read buffer: at least NM_RULEFILE_LINE_MAX + 1 */
#define RF_RESERVE_MAX (1u << 24) /* rules reserved up front from a file's size */

size_t nm_rulefile_chunk = RF_BUF;

/* Grows into fresh huge-page-advised memory: realloc would copy into 4 KiB
 * pages it faults in first. */
int nm_rules_reserve(struct nm_rules *rs, size_t cap)
{
	struct nm_rule *p;

	if (cap <= rs->cap)
		return 0;
	p = nm_calloc_big(cap, sizeof(*p));
	if (!p)
		return -ENOMEM;
	if (rs->n)
		memcpy(p, rs->v, rs->n * sizeof(*p));
	free(rs->v);
	rs->v = p;
	rs->cap = cap;
	return 0;
}

int nm_rules_push(struct nm_rules *rs, const struct nm_rule *r)
{
	if (rs->n == rs->cap && nm_rules_reserve(rs, rs->cap ? rs->cap * 2 : 64))
		return -ENOMEM;
	rs->v[rs->n++] = *r;
	return 0;
}

void nm_rules_free(struct nm_rules *rs)
{
	free(rs->v);
	memset(rs, 0, sizeof(*rs));
}

/* `any` stops before the list field in a key, so only the global deny
 * list can hold it (bpf/netmonctl.h); `deny list` shows the two prefixes. */
int nm_rules_set_list(struct nm_rules *rs, size_t from, uint16_t list)
{
	size_t i, n = rs->n;

	for (i = from; i < n; i++) {
		struct nm_rule *r = &rs->v[i], v6;

		r->list = list;
		if (r->family != NM_FAM_ANY || nm_list_sees_any(list))
			continue;
		r->family = NM_FAM_V4;
		v6 = *r;
		v6.family = NM_FAM_V6;
		if (nm_rules_push(rs, &v6))
			return -ENOMEM;
	}
	return 0;
}

struct rf {
	int fd;
	const char *name;
	nm_line_fn fn; /* what a line means */
	void *arg;
	char *buf; /* RF_BUF + 1: room for the NUL after an unterminated last line */
	size_t len, off; /* bytes in buf; start of the next line */
	size_t lineno;
	char *err;
	size_t errlen;
};

#define RF_ERR(f, code, ...) (snprintf((f)->err, (f)->errlen, __VA_ARGS__), (code))

/* Read more bytes after buf[len]: >0 read, 0 end of file, <0 -errno. */
static ssize_t rf_fill(struct rf *f)
{
	size_t room = RF_BUF - f->len;
	struct pollfd pfd = { .fd = f->fd, .events = POLLIN };
	ssize_t n;

	if (room > nm_rulefile_chunk)
		room = nm_rulefile_chunk ? nm_rulefile_chunk : 1;
	for (;;) {
		n = read(f->fd, f->buf + f->len, room);
		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN && errno != EWOULDBLOCK)
			return -errno;
		/* Non-blocking: wait for data or the writer's close, like a blocking read. */
		if (poll(&pfd, 1, -1) < 0 && errno != EINTR)
			return -errno;
	}
}

/* Why byte c cannot be in a line (in a comment, when comment); NULL if it can. */
static const char *rf_bad_byte(unsigned char c, bool comment)
{
	if (c == 0)
		return "NUL byte";
	if (c == '\r')
		return "carriage return inside a line (line endings must be LF or CRLF)";
	if ((c < 0x20 && c != '\t') || c == 0x7f)
		return "control character";
	if (c >= 0x80 && !comment)
		return "non-ASCII byte";
	return NULL;
}

/* One line, without its LF (but with the CR of a CRLF), NUL-terminated at p[n]. */
static int rf_line(struct rf *f, char *p, size_t n)
{
	char msg[300];
	bool comment = false;
	const char *why;
	size_t i;
	int ret;

	f->lineno++;
	if (n > NM_RULEFILE_LINE_MAX)
		return RF_ERR(f, -EINVAL, "%s:%zu: line longer than %u bytes", f->name, f->lineno,
			      NM_RULEFILE_LINE_MAX);
	if (n && p[n - 1] == '\r' && p[n] == '\n')
		n--;
	p[n] = 0;
	for (i = 0; i < n; i++) {
		unsigned char c = p[i];

		if (c - 0x20u < 0x5fu) { /* printable ASCII: the common case */
			comment |= c == '#';
			continue;
		}
		why = rf_bad_byte(c, comment);
		if (why)
			return RF_ERR(f, -EINVAL, "%s:%zu: column %zu: byte 0x%02x: %s", f->name,
				      f->lineno, i + 1, c, why);
	}
	ret = f->fn(f->arg, p, msg, sizeof(msg));
	return ret ? RF_ERR(f, ret, "%s:%zu: %s", f->name, f->lineno, msg) : 0;
}

static int rf_loop(struct rf *f)
{
	char *nl;
	ssize_t got;
	int err;

	for (;;) {
		nl = memchr(f->buf + f->off, '\n', f->len - f->off);
		if (nl) {
			err = rf_line(f, f->buf + f->off, nl - (f->buf + f->off));
			if (err)
				return err;
			f->off = nl + 1 - f->buf;
			continue;
		}
		if (f->len - f->off > NM_RULEFILE_LINE_MAX) {
			f->lineno++;
			return RF_ERR(f, -EINVAL, "%s:%zu: line longer than %u bytes", f->name,
				      f->lineno, NM_RULEFILE_LINE_MAX);
		}
		memmove(f->buf, f->buf + f->off, f->len - f->off);
		f->len -= f->off;
		f->off = 0;
		got = rf_fill(f);
		if (got < 0)
			return RF_ERR(f, (int)got, "%s: %s (%s)", f->name, strerror((int)-got),
				      nm_errno_name((int)got));
		if (got == 0) { /* end of file: an unterminated last line is still a line */
			f->buf[f->len] = 0;
			return f->len ? rf_line(f, f->buf, f->len) : 0;
		}
		f->len += got;
	}
}

int nm_linefile_read(int fd, const char *name, nm_line_fn fn, void *arg, char *err, size_t errlen)
{
	struct rf f = { .fd = fd, .name = name, .fn = fn, .arg = arg, .err = err, .errlen = errlen };
	int ret;

	f.buf = malloc(RF_BUF + 1);
	if (!f.buf)
		return RF_ERR(&f, -ENOMEM, "%s: %s (ENOMEM)", name, strerror(ENOMEM));
	ret = rf_loop(&f);
	free(f.buf);
	return ret;
}

/* A line of `deny list -j` (one JSON object per rule): its "rule" text,
 * and its "comment" as `comment "TEXT"`, written over the line, which is
 * longer than both. */
static int rf_json_rule(char *line, char *msg, size_t len)
{
	json_error_t jerr;
	size_t room = strlen(line) + 1;
	json_t *o = json_loads(line, JSON_REJECT_DUPLICATES, &jerr);
	const char *rule = json_string_value(json_object_get(o, "rule"));
	json_t *note = json_object_get(o, "comment");
	int ret = 0;

	if (!o) {
		snprintf(msg, len, "not JSON: %s", jerr.text);
		ret = -EINVAL;
	} else if (!json_is_object(o) || !rule || (note && !json_is_string(note))) {
		snprintf(msg, len, "a JSON line is an object with a \"rule\" string and maybe a "
			 "\"comment\" string (deny list -j)");
		ret = -EINVAL;
	} else if (note && nm_note_check(json_string_value(note), msg, len)) {
		ret = -EINVAL;
	} else {
		size_t n = strlen(rule);

		memmove(line, rule, n + 1);
		if (note) /* the line is longer than rule and comment together */
			nm_note_format(json_string_value(note), line + n, room - n);
	}
	json_decref(o);
	return ret;
}

/* A rules file line: its rules (a port list stands for several), or a rule
 * object of `deny list -j`. */
static int rf_rules_line(void *arg, char *line, char *msg, size_t len)
{
	struct nm_rule r[NM_RULE_SPLIT_MAX];
	int k, j;

	if (line[strspn(line, " \t")] == '{' && (k = rf_json_rule(line, msg, len)) != 0)
		return k;
	k = nm_rule_parse_line(line, r, NM_RULE_SPLIT_MAX, msg, len);

	if (k < 0)
		return -EINVAL;
	for (j = 0; j < k; j++)
		if (nm_rules_push(arg, &r[j]))
			return snprintf(msg, len, "%s (ENOMEM)", strerror(ENOMEM)), -ENOMEM;
	return 0;
}

int nm_rulefile_read(int fd, const char *name, struct nm_rules *rs, char *err, size_t errlen)
{
	size_t n0 = rs->n;
	struct stat st;
	int ret;

	/* A rule line has at least 8 bytes ("a.b.c.d\n"): one allocation for most files. */
	if (!fstat(fd, &st) && S_ISREG(st.st_mode) && st.st_size / 8 > 64)
		nm_rules_reserve(rs, rs->n + (st.st_size / 8 < RF_RESERVE_MAX ? (size_t)st.st_size / 8
									      : RF_RESERVE_MAX));
	ret = nm_linefile_read(fd, name, rf_rules_line, rs, err, errlen);
	if (ret)
		rs->n = n0; /* all or nothing */
	return ret;
}
