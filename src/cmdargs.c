// SPDX-License-Identifier: GPL-2.0
/*
 * Command arguments with a grammar of their own, argv -> struct:
 * `policy default` and `deny test`. No I/O and nothing printed, so that
 * tests/fuzz/fuzz_cmdargs.c can run them as they are: a failure returns
 * -EINVAL with the reason in err, which the command reports after its own
 * name (`netmonctl: policy default: <err>`, exit 2).
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include "nm.h"

#define ARGS_ERR(...) (snprintf(err, errlen, __VA_ARGS__), -EINVAL)

/* { allow | deny } [dir DIR]... [cgroup PATH]: keywords abbreviate, a dir
 * adds to the others, and of two cgroups the last one counts. */
int nm_default_args_parse(int argc, char **argv, struct nm_default_args *a, char *err, size_t errlen)
{
	static const char *const verdict_kw[] = { "allow", "deny", NULL };
	static const char *const kw[] = { "dir", "cgroup", NULL };
	int i, k, v;

	memset(a, 0, sizeof(*a));
	if (argc < 1 || (v = nm_keyword(argv[0], verdict_kw)) < 0)
		return ARGS_ERR("expected allow or deny");
	a->deny = v == 1;
	for (i = 1; i < argc; i += 2) {
		k = nm_keyword(argv[i], kw);
		if (k < 0 || i + 1 >= argc)
			return ARGS_ERR("'%s': expected dir DIR or cgroup PATH", argv[i]);
		if (k == 1) {
			a->cgroup = argv[i + 1];
			continue;
		}
		v = nm_keyword(argv[i + 1], nm_dir_keywords);
		if (v < 0)
			return ARGS_ERR("dir '%s': expected egress, bind or ingress", argv[i + 1]);
		a->dirs |= 1u << v;
	}
	return 0;
}

/* The last two words, spelled out in full (no abbreviation): the words
 * before them are a RULE, which may have a comment of any text. */
int nm_query_where_parse(int *argc, char **argv, struct nm_query_args *q, char *err, size_t errlen)
{
	int n = *argc;

	q->where = NM_WHERE_NONE;
	q->where_arg = NULL;
	q->pid = 0;
	if (n < 2 || (strcmp(argv[n - 2], "cgroup") && strcmp(argv[n - 2], "pid")))
		return 0;
	*argc = n - 2;
	q->where = strcmp(argv[n - 2], "cgroup") ? NM_WHERE_PID : NM_WHERE_CGROUP;
	q->where_arg = argv[n - 1];
	/* /proc/PID takes a positive int: anything else names no process */
	if (q->where == NM_WHERE_PID && (nm_parse_u64(q->where_arg, INT_MAX, &q->pid) || q->pid == 0))
		return ARGS_ERR("pid '%s': expected a process id", q->where_arg);
	return 0;
}

/* The RULE grammar, narrowed to what one socket operation can be: one
 * address (no prefix, no `any`), and one port or none (no list, no range). */
int nm_query_parse(int argc, char **argv, struct nm_query_args *q, char *err, size_t errlen)
{
	struct nm_rule parsed[NM_RULE_SPLIT_MAX];
	int n = nm_rule_parse(argc, argv, parsed, NM_RULE_SPLIT_MAX, err, errlen);

	if (n < 0)
		return n;
	q->op = parsed[0];
	q->any_port = q->op.port.lo == 0 && q->op.port.hi == 65535;
	if (n != 1 || (q->op.port.lo != q->op.port.hi && !q->any_port))
		return ARGS_ERR("one operation: one port N, not a list or a range");
	if (q->op.family == NM_FAM_ANY || q->op.plen != (q->op.family == NM_FAM_V4 ? 32 : 128))
		return ARGS_ERR("one operation: ADDR is one address, not a prefix or any");
	if (q->op.note)
		return ARGS_ERR("one operation: an operation has no comment");
	return 0;
}
