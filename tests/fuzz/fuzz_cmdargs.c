// SPDX-License-Identifier: GPL-2.0
/*
 * libFuzzer: the argument parsers of `policy default` and `deny test`
 * (src/cmdargs.c), both on the words of each input (split at blanks,
 * line ends and NULs, as a shell would hand them over). Checks, beyond the
 * sanitizers: the parsers never write into argv; a failure says why in
 * one non-empty line; a success gives values in their documented ranges,
 * and the canonical words of the result parse back to the same struct.
 */
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "nm.h"
#include "fuzz.h"

#define MAX_WORDS 64
#define REASON_MAX 512 /* what nm_fail() keeps of a reason */

static bool is_blank(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\0';
}

/* The first max words of buf (size bytes and a NUL after them), in place. */
static int split_words(char *buf, size_t size, char **w, int max)
{
	size_t i = 0;
	int n = 0;

	while (i < size && n < max) {
		if (is_blank(buf[i])) {
			buf[i++] = '\0';
			continue;
		}
		w[n++] = buf + i;
		while (i < size && !is_blank(buf[i]))
			i++;
		if (i < size)
			buf[i++] = '\0'; /* the last word too, when max cuts the input */
	}
	return n;
}

static void check_reason(const char *err)
{
	FUZZ_ASSERT(err[0] != '\0');
	FUZZ_ASSERT(strlen(err) < REASON_MAX && !strchr(err, '\n'));
}

static bool same_str(const char *a, const char *b)
{
	return !a == !b && (!a || !strcmp(a, b));
}

/* ---- policy default { allow | deny } [dir DIR]... [cgroup PATH] ---- */

/* The shortest words for a: the verdict, each dir once in full, the cgroup. */
static int default_words(const struct nm_default_args *a, char **w)
{
	int n = 0, d;

	w[n++] = (char *)(a->deny ? "deny" : "allow");
	for (d = 0; d < NM_DIR_MAX; d++)
		if (a->dirs & (1u << d)) {
			w[n++] = (char *)"dir";
			w[n++] = (char *)nm_dir_names[d];
		}
	if (a->cgroup) {
		w[n++] = (char *)"cgroup";
		w[n++] = (char *)a->cgroup;
	}
	return n;
}

/* s is one of the values (argv[2], argv[4], ...), not a keyword's copy */
static bool is_value(const char *s, int argc, char **argv)
{
	int i;

	for (i = 2; i < argc; i += 2)
		if (s == argv[i])
			return true;
	return false;
}

static void check_default(int argc, char **argv)
{
	struct nm_default_args a, b;
	char err[REASON_MAX] = "", *w[3 + 2 * NM_DIR_MAX];
	int n;

	if (nm_default_args_parse(argc, argv, &a, err, sizeof(err))) {
		check_reason(err);
		return;
	}
	FUZZ_ASSERT(argc % 2 == 1); /* the verdict, then keyword-value pairs */
	FUZZ_ASSERT(a.dirs < (1u << NM_DIR_MAX));
	FUZZ_ASSERT(!a.cgroup || is_value(a.cgroup, argc, argv));
	n = default_words(&a, w);
	FUZZ_ASSERT(nm_default_args_parse(n, w, &b, err, sizeof(err)) == 0);
	FUZZ_ASSERT(b.deny == a.deny && b.dirs == a.dirs && same_str(b.cgroup, a.cgroup));
}

/* ---- deny test ADDR [port N] [proto P] [dir D] [cgroup PATH | pid PID] ---- */

static void check_query_ranges(const struct nm_query_args *q)
{
	const struct nm_rule *r = &q->op;

	FUZZ_ASSERT(r->family == NM_FAM_V4 || r->family == NM_FAM_V6);
	FUZZ_ASSERT(r->plen == (r->family == NM_FAM_V4 ? 32 : 128));
	FUZZ_ASSERT(r->dir < NM_DIR_MAX && r->list == 0 && r->port.protos != 0);
	FUZZ_ASSERT(q->any_port == (r->port.lo == 0 && r->port.hi == 65535));
	FUZZ_ASSERT(q->any_port || r->port.lo == r->port.hi);
}

static void check_where(const struct nm_query_args *q)
{
	FUZZ_ASSERT(q->where == NM_WHERE_NONE || q->where == NM_WHERE_CGROUP || q->where == NM_WHERE_PID);
	FUZZ_ASSERT((q->where == NM_WHERE_NONE) == !q->where_arg);
	FUZZ_ASSERT(q->where == NM_WHERE_PID ? q->pid >= 1 && q->pid <= INT_MAX : q->pid == 0);
}

/* The operation as `deny test` words: the rule's text (its comment quoted,
 * so split as a line), then where it runs, the pid in plain decimal. */
static int query_words(const struct nm_query_args *q, char *text, size_t len, char *pid, size_t pidlen,
		       char **w)
{
	char err[REASON_MAX];
	int n;

	nm_rule_format(&q->op, text, len);
	n = nm_line_words(text, w, MAX_WORDS - 2, err, sizeof(err));
	FUZZ_ASSERT(n > 0);
	if (q->where == NM_WHERE_NONE)
		return n;
	w[n++] = (char *)(q->where == NM_WHERE_CGROUP ? "cgroup" : "pid");
	snprintf(pid, pidlen, "%llu", (unsigned long long)q->pid);
	w[n++] = q->where == NM_WHERE_CGROUP ? (char *)q->where_arg : pid;
	return n;
}

static int query_parse(int argc, char **argv, struct nm_query_args *q, char *err, size_t errlen)
{
	int left = argc, rc = nm_query_where_parse(&left, argv, q, err, errlen);

	if (rc)
		return rc;
	check_where(q);
	FUZZ_ASSERT(left == argc - (q->where == NM_WHERE_NONE ? 0 : 2));
	return nm_query_parse(left, argv, q, err, errlen);
}

static void check_query(int argc, char **argv)
{
	struct nm_query_args a = {}, b = {};
	char err[REASON_MAX] = "", text[NM_RULE_TEXT_MAX], pid[24], *w[MAX_WORDS];
	int n;

	if (query_parse(argc, argv, &a, err, sizeof(err))) {
		check_reason(err);
		return;
	}
	check_query_ranges(&a);
	n = query_words(&a, text, sizeof(text), pid, sizeof(pid), w);
	FUZZ_ASSERT(query_parse(n, w, &b, err, sizeof(err)) == 0);
	FUZZ_ASSERT(fuzz_same_rules(&a.op, &b.op, 1) && a.any_port == b.any_port);
	FUZZ_ASSERT(a.where == b.where && a.pid == b.pid);
	FUZZ_ASSERT(a.where != NM_WHERE_CGROUP || !strcmp(a.where_arg, b.where_arg));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *buf = malloc(size + 1), *copy = malloc(size + 1), *w[MAX_WORDS];
	int n;

	FUZZ_ASSERT(buf && copy);
	memcpy(buf, data, size);
	buf[size] = '\0';
	n = split_words(buf, size, w, MAX_WORDS);
	memcpy(copy, buf, size + 1);
	check_default(n, w);
	check_query(n, w);
	FUZZ_ASSERT(!memcmp(copy, buf, size + 1)); /* argv is the caller's */
	free(buf);
	free(copy);
	nm_note_pool_free();
	return 0;
}
