// SPDX-License-Identifier: GPL-2.0
/*
 * State files (`save` writes one, `restore` reads one): the whole desired
 * state in lines a human can edit, read with the rules file's checks
 * (rulefile.c), all or nothing. Keywords are whole words, in any order:
 *   load [ringbuf BYTES] [entries N]   used only when nothing is loaded
 *   mode { enforce | audit }
 *   attach cgroup PATH
 *   attach lsm
 *   deny RULE
 * Blank lines and `# comments` are allowed. Nothing here prints.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "nm.h"

#define ST_WORDS 64

void nm_state_free(struct nm_state *st)
{
	size_t i;

	for (i = 0; i < st->n_cgroups; i++)
		free(st->cgroups[i]);
	free(st->cgroups);
	nm_rules_free(&st->rules);
	memset(st, 0, sizeof(*st));
	st->mode = -1;
}

static int st_attach(struct nm_state *st, int n, char **w, char *msg, size_t len)
{
	char **v;

	if (n == 2 && !strcmp(w[1], "lsm")) {
		st->lsm = true;
		return 0;
	}
	if (n != 3 || strcmp(w[1], "cgroup"))
		return snprintf(msg, len, "expected: attach cgroup PATH, or attach lsm"), -EINVAL;
	if (w[2][0] != '/')
		return snprintf(msg, len, "attach cgroup %s: an absolute path", w[2]), -EINVAL;
	v = realloc(st->cgroups, (st->n_cgroups + 1) * sizeof(*v));
	if (!v || !(v[st->n_cgroups] = strdup(w[2]))) {
		if (v)
			st->cgroups = v;
		return snprintf(msg, len, "%s (ENOMEM)", strerror(ENOMEM)), -ENOMEM;
	}
	st->cgroups = v;
	st->n_cgroups++;
	return 0;
}

static int st_mode(struct nm_state *st, int n, char **w, char *msg, size_t len)
{
	int m = n == 2 ? (!strcmp(w[1], "enforce") ? NM_MODE_ENFORCE : !strcmp(w[1], "audit") ? NM_MODE_AUDIT : -1)
		       : -1;

	if (m < 0)
		return snprintf(msg, len, "expected: mode enforce, or mode audit"), -EINVAL;
	if (st->mode >= 0 && st->mode != m)
		return snprintf(msg, len, "mode given twice, differently"), -EINVAL;
	st->mode = m;
	return 0;
}

static int st_deny(struct nm_state *st, int n, char **w, char *msg, size_t len)
{
	struct nm_rule r[NM_RULE_SPLIT_MAX];
	int k = nm_rule_parse(n - 1, w + 1, r, NM_RULE_SPLIT_MAX, msg, len), j;

	if (k < 0)
		return -EINVAL;
	for (j = 0; j < k; j++)
		if (nm_rules_push(&st->rules, &r[j]))
			return snprintf(msg, len, "%s (ENOMEM)", strerror(ENOMEM)), -ENOMEM;
	return 0;
}

static int st_line(void *arg, char *line, char *msg, size_t len)
{
	struct nm_state *st = arg;
	char *w[ST_WORDS];
	int n = nm_line_words(line, w, ST_WORDS, msg, len);

	if (n <= 0)
		return n;
	if (!strcmp(w[0], "deny"))
		return st_deny(st, n, w, msg, len);
	if (!strcmp(w[0], "attach"))
		return st_attach(st, n, w, msg, len);
	if (!strcmp(w[0], "mode"))
		return st_mode(st, n, w, msg, len);
	if (!strcmp(w[0], "load")) {
		if (st->load_set)
			return snprintf(msg, len, "load given twice"), -EINVAL;
		st->load_set = true;
		return nm_load_opts_parse(n - 1, w + 1, &st->load, msg, len);
	}
	return snprintf(msg, len, "'%.40s': expected load, mode, attach or deny", w[0]), -EINVAL;
}

int nm_statefile_read(int fd, const char *name, struct nm_state *st, char *err, size_t errlen)
{
	int ret;

	memset(st, 0, sizeof(*st));
	st->mode = -1;
	ret = nm_linefile_read(fd, name, st_line, st, err, errlen);
	if (ret)
		nm_state_free(st);
	return ret;
}
