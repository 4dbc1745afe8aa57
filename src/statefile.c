// SPDX-License-Identifier: GPL-2.0
/*
 * State files (`save` writes one, `restore` reads one): the whole desired
 * state in lines a human can edit, read with the rules file's checks
 * (rulefile.c), all or nothing. Keywords are whole words, in any order:
 *   load [ringbuf BYTES] [entries N]   used only when nothing is loaded
 *   mode { enforce | audit }
 *   attach cgroup PATH
 *   attach lsm
 *   deny RULE [cgroup PATH]
 *   allow RULE [cgroup PATH]
 *   policy default { allow | deny } [dir DIR]... [cgroup PATH]
 * Blank lines and `# comments` are allowed; a word may be "quoted". The
 * lists, defaults and scopes a file names are the whole policy: a scope
 * it does not name is removed by `restore`. Nothing here prints.
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
	for (i = 0; i < st->n_scopes; i++)
		free(st->scopes[i].cgroup);
	free(st->scopes);
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

#define ST_NOMEM(msg, len) (snprintf(msg, len, "%s (ENOMEM)", strerror(ENOMEM)), -ENOMEM)

/* A trailing `cgroup PATH` (taken off the words): the scope's number in
 * the file, 1 + its index in st->scopes, made at its first mention; 0
 * without one (the global scope). <0 on error. */
static int st_scope(struct nm_state *st, int *n, char **w, char *msg, size_t len)
{
	struct nm_state_scope *v;
	const char *path;
	size_t i;

	if (*n < 3 || strcmp(w[*n - 2], "cgroup"))
		return 0;
	path = w[*n - 1];
	*n -= 2;
	if (path[0] != '/')
		return snprintf(msg, len, "cgroup %.200s: an absolute path", path), -EINVAL;
	for (i = 0; i < st->n_scopes; i++)
		if (!strcmp(st->scopes[i].cgroup, path))
			return (int)i + 1;
	if (st->n_scopes == NM_MAX_SCOPES)
		return snprintf(msg, len, "more than %d scopes", NM_MAX_SCOPES), -EINVAL;
	v = realloc(st->scopes, (st->n_scopes + 1) * sizeof(*v));
	if (!v)
		return ST_NOMEM(msg, len);
	st->scopes = v;
	v[st->n_scopes].default_deny = 0;
	v[st->n_scopes].cgroup = strdup(path);
	if (!v[st->n_scopes].cgroup)
		return ST_NOMEM(msg, len);
	return (int)++st->n_scopes;
}

/* deny|allow RULE [cgroup PATH] */
static int st_rule(struct nm_state *st, int n, char **w, char *msg, size_t len)
{
	struct nm_rule r[NM_RULE_SPLIT_MAX];
	int scope = st_scope(st, &n, w, msg, len), k, j;

	if (scope < 0)
		return scope;
	k = nm_rule_parse(n - 1, w + 1, r, NM_RULE_SPLIT_MAX, msg, len);
	if (k < 0)
		return -EINVAL;
	for (j = 0; j < k; j++) {
		r[j].list = nm_list_id((uint32_t)scope, !strcmp(w[0], "allow"));
		if (nm_rules_push(&st->rules, &r[j]))
			return ST_NOMEM(msg, len);
	}
	return 0;
}

/* policy default { allow | deny } [dir DIR]... [cgroup PATH] */
static int st_policy(struct nm_state *st, int n, char **w, char *msg, size_t len)
{
	int scope = st_scope(st, &n, w, msg, len), i, v;
	uint8_t dirs = 0, *mask;

	if (scope < 0)
		return scope;
	if (n < 3 || strcmp(w[1], "default") || (strcmp(w[2], "allow") && strcmp(w[2], "deny")))
		return snprintf(msg, len, "expected: policy default { allow | deny } [dir DIR] [cgroup PATH]"),
		       -EINVAL;
	for (i = 3; i < n; i += 2) {
		v = i + 1 < n && !strcmp(w[i], "dir") ? nm_keyword(w[i + 1], nm_dir_keywords) : -1;
		if (v < 0 || strcmp(w[i + 1], nm_dir_keywords[v]))
			return snprintf(msg, len, "policy default: expected dir egress, bind or ingress"), -EINVAL;
		dirs |= 1u << v;
	}
	mask = scope ? &st->scopes[scope - 1].default_deny : &st->default_deny;
	*mask = nm_default_apply(*mask, !strcmp(w[2], "deny"), dirs);
	return 0;
}

static int st_line(void *arg, char *line, char *msg, size_t len)
{
	struct nm_state *st = arg;
	char *w[ST_WORDS];
	int n = nm_line_words(line, w, ST_WORDS, msg, len);

	if (n <= 0)
		return n;
	if (!strcmp(w[0], "deny") || !strcmp(w[0], "allow"))
		return st_rule(st, n, w, msg, len);
	if (!strcmp(w[0], "policy"))
		return st_policy(st, n, w, msg, len);
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
	return snprintf(msg, len, "'%.40s': expected load, mode, attach, deny, allow or policy", w[0]), -EINVAL;
}

/* A counting sort by list: one pass counts, one places, so each list keeps
 * the file's order and `restore` takes each list as one slice instead of
 * scanning every rule once per list (256 scopes x 1M rules). */
int nm_state_group(struct nm_state *st, size_t at[NM_LISTS + 1])
{
	size_t next[NM_LISTS], i, n = st->rules.n;
	struct nm_rule *v;

	memset(at, 0, (NM_LISTS + 1) * sizeof(*at));
	for (i = 0; i < n; i++) {
		if (st->rules.v[i].list >= NM_LISTS)
			return -EINVAL;
		at[st->rules.v[i].list + 1]++;
	}
	for (i = 0; i < NM_LISTS; i++)
		at[i + 1] += at[i];
	if (!n)
		return 0;
	v = nm_calloc_big(n, sizeof(*v));
	if (!v)
		return -ENOMEM;
	memcpy(next, at, sizeof(next));
	for (i = 0; i < n; i++)
		v[next[st->rules.v[i].list]++] = st->rules.v[i];
	free(st->rules.v);
	st->rules.v = v;
	st->rules.cap = n;
	return 0;
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
