// SPDX-License-Identifier: GPL-2.0
/*
 * The rule store: one LPM-trie entry per prefix, holding every port rule of
 * that prefix. Edits are validated completely before the first write and
 * rolled back if the kernel refuses one, so a bulk add is all-or-nothing.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "nm.h"

/* Write the message, evaluate to the error code. */
#define STORE_ERR(code, ...) ((void)snprintf(err, errlen, __VA_ARGS__), (code))

struct nm_store {
	int rules_fd;
	uint32_t max_prefixes;
	struct nm_meta meta;
};

static int nm_store_open(struct nm_store *s)
{
	struct bpf_map_info info = {};
	uint32_t len = sizeof(info);
	int err;

	s->rules_fd = nm_open_map(NM_MAP_RULES);
	if (s->rules_fd < 0)
		return s->rules_fd;
	err = nm_map_check(s->rules_fd, NM_MAP_RULES, sizeof(struct nm_rule_key),
			   sizeof(struct nm_rule_val));
	if (!err && bpf_obj_get_info_by_fd(s->rules_fd, &info, &len))
		err = -errno;
	if (!err)
		err = nm_meta_read(&s->meta);
	if (err) {
		close(s->rules_fd);
		return err;
	}
	s->max_prefixes = info.max_entries;
	return 0;
}

static void nm_store_close(struct nm_store *s)
{
	close(s->rules_fd);
}

static uint32_t *nm_len_slot(struct nm_meta *m, const struct nm_rule_key *k)
{
	static uint32_t none;

	if (k->prefixlen <= NM_KEY_ANY_BITS)
		return &none; /* `any` is not part of any family's chain count */
	return &m->len_count[k->dir][k->family == NM_FAM_V6][k->prefixlen - NM_KEY_HDR_BITS];
}

static int nm_port_find(const struct nm_rule_val *v, const struct nm_port_rule *p)
{
	int i;

	for (i = 0; i < v->count; i++)
		if (v->r[i].lo == p->lo && v->r[i].hi == p->hi && v->r[i].protos == p->protos)
			return i;
	return -1;
}

/*
 * A lookup in an LPM trie, from user space too, returns the longest prefix
 * covering the key, which may be a shorter one: the value's prefixlen tells
 * whether it is this very prefix.
 */
static bool nm_lookup_exact(int fd, const struct nm_rule_key *key, struct nm_rule_val *val)
{
	return bpf_map_lookup_elem(fd, key, val) == 0 && val->prefixlen == key->prefixlen;
}

/* One prefix entry an add will write. */
struct nm_plan {
	struct nm_rule_key key;
	struct nm_rule_val old, val;
	bool existed;
	bool changed;
};

static int nm_key_cmp(const void *a, const void *b)
{
	struct nm_rule_key ka, kb;

	nm_rule_key(a, &ka);
	nm_rule_key(b, &kb);
	return memcmp(&ka, &kb, sizeof(ka));
}

/* Longest chain of nested prefixes the kernel may walk for one dir. */
static int nm_chain_ok(const struct nm_meta *m, char *err, size_t errlen)
{
	int d, l, used;

	for (d = 0; d < NM_DIR_MAX; d++) {
		for (used = 0, l = 0; l <= 128; l++)
			used += m->len_count[d][1][l] > 0;
		if (used + 1 > NM_MAX_DEPTH)
			return STORE_ERR(-ENOSPC, "too many distinct IPv6 prefix lengths for dir %s (%d, max %d)",
					 nm_dir_names[d], used, NM_MAX_DEPTH - 1);
	}
	return 0;
}

static int nm_plan_build(struct nm_store *s, struct nm_rule *rules, size_t n, struct nm_plan *plan,
			 size_t *nplan, size_t *added, char *err, size_t errlen)
{
	bool empty = s->meta.prefixes == 0;
	size_t i, p = 0;

	*added = 0;
	qsort(rules, n, sizeof(rules[0]), nm_key_cmp);
	for (i = 0; i < n; i++) {
		struct nm_plan *cur = p ? &plan[p - 1] : NULL;
		struct nm_rule_key key;
		char text[160];

		nm_rule_key(&rules[i], &key);
		if (!cur || memcmp(&cur->key, &key, sizeof(key))) {
			cur = &plan[p++];
			memset(cur, 0, sizeof(*cur));
			cur->key = key;
			cur->existed = !empty && nm_lookup_exact(s->rules_fd, &key, &cur->old);
			if (cur->existed)
				cur->val = cur->old;
			else
				cur->val.prefixlen = key.prefixlen;
		}
		if (nm_port_find(&cur->val, &rules[i].port) >= 0)
			continue;
		if (cur->val.count >= NM_PORT_RULES) {
			nm_rule_format(&rules[i], text, sizeof(text));
			return STORE_ERR(-ENOSPC, "%s: a prefix holds at most %d port rules", text, NM_PORT_RULES);
		}
		cur->val.r[cur->val.count++] = rules[i].port;
		cur->changed = true;
		(*added)++;
	}
	*nplan = p;
	return 0;
}

static int nm_plan_account(struct nm_store *s, struct nm_plan *plan, size_t nplan, char *err,
			   size_t errlen)
{
	uint64_t fresh = 0;
	size_t i;

	for (i = 0; i < nplan; i++) {
		if (plan[i].existed || !plan[i].changed)
			continue;
		fresh++;
		(*nm_len_slot(&s->meta, &plan[i].key))++;
	}
	if (s->meta.prefixes + fresh > s->max_prefixes)
		return STORE_ERR(-ENOSPC, "rule store full: %llu prefixes + %llu new > %u (load with 'entries N')",
				 (unsigned long long)s->meta.prefixes, (unsigned long long)fresh,
				 s->max_prefixes);
	s->meta.prefixes += fresh;
	return nm_chain_ok(&s->meta, err, errlen);
}

static void nm_plan_undo(struct nm_store *s, struct nm_plan *plan, size_t upto)
{
	size_t i;

	for (i = 0; i < upto; i++) {
		if (!plan[i].changed)
			continue;
		if (plan[i].existed)
			bpf_map_update_elem(s->rules_fd, &plan[i].key, &plan[i].old, BPF_ANY);
		else
			bpf_map_delete_elem(s->rules_fd, &plan[i].key);
	}
}

static int nm_plan_apply(struct nm_store *s, struct nm_plan *plan, size_t nplan, char *err,
			 size_t errlen)
{
	size_t i;

	for (i = 0; i < nplan; i++) {
		if (!plan[i].changed)
			continue;
		if (bpf_map_update_elem(s->rules_fd, &plan[i].key, &plan[i].val, BPF_ANY)) {
			int e = errno;

			nm_plan_undo(s, plan, i);
			snprintf(err, errlen, "kernel refused an update: %s (%s); nothing applied",
				 strerror(e), nm_errno_name(e));
			return -e;
		}
	}
	return 0;
}

int nm_store_add(struct nm_rule *rules, size_t n, size_t *added, char *err, size_t errlen)
{
	struct nm_store s;
	struct nm_plan *plan;
	size_t nplan = 0;
	int ret;

	*added = 0;
	ret = nm_store_open(&s);
	if (ret)
		return snprintf(err, errlen, "cannot open the rule store: %s", strerror(-ret)), ret;
	plan = calloc(n ? n : 1, sizeof(*plan));
	if (!plan) {
		nm_store_close(&s);
		return STORE_ERR(-ENOMEM, "out of memory for %zu rules", n);
	}
	ret = nm_plan_build(&s, rules, n, plan, &nplan, added, err, errlen);
	if (!ret)
		ret = nm_plan_account(&s, plan, nplan, err, errlen);
	if (!ret)
		ret = nm_plan_apply(&s, plan, nplan, err, errlen);
	if (!ret) {
		s.meta.rules += *added;
		if (nm_meta_write(&s.meta)) {
			ret = -errno;
			nm_plan_undo(&s, plan, nplan);
			snprintf(err, errlen, "cannot update the rule count: %s", strerror(-ret));
		}
	}
	if (ret)
		*added = 0;
	free(plan);
	nm_store_close(&s);
	return ret;
}

int nm_store_del(const struct nm_rule *r, char *err, size_t errlen)
{
	struct nm_store s;
	struct nm_rule_key key;
	struct nm_rule_val val;
	char text[160];
	int ret, i;

	ret = nm_store_open(&s);
	if (ret)
		return snprintf(err, errlen, "cannot open the rule store: %s", strerror(-ret)), ret;
	nm_rule_key(r, &key);
	nm_rule_format(r, text, sizeof(text));
	if (!nm_lookup_exact(s.rules_fd, &key, &val) || (i = nm_port_find(&val, &r->port)) < 0) {
		nm_store_close(&s);
		snprintf(err, errlen, "%s: no such rule", text);
		return -ENOENT;
	}
	memmove(&val.r[i], &val.r[i + 1], (val.count - i - 1) * sizeof(val.r[0]));
	memset(&val.r[--val.count], 0, sizeof(val.r[0]));
	if (val.count)
		ret = bpf_map_update_elem(s.rules_fd, &key, &val, BPF_EXIST) ? -errno : 0;
	else
		ret = bpf_map_delete_elem(s.rules_fd, &key) ? -errno : 0;
	if (!ret) {
		s.meta.rules--;
		if (!val.count) {
			s.meta.prefixes--;
			(*nm_len_slot(&s.meta, &key))--;
		}
		ret = nm_meta_write(&s.meta);
	}
	if (ret)
		snprintf(err, errlen, "%s: %s", text, strerror(-ret));
	nm_store_close(&s);
	return ret;
}

int nm_store_walk(nm_rule_cb cb, void *arg)
{
	struct nm_rule_key key, next;
	struct nm_rule_val val;
	struct nm_rule r;
	void *prev = NULL;
	int fd = nm_open_map(NM_MAP_RULES), ret = 0, i;

	if (fd < 0)
		return fd;
	while (!ret && bpf_map_get_next_key(fd, prev, &next) == 0) {
		key = next;
		prev = &key;
		if (bpf_map_lookup_elem(fd, &key, &val))
			continue; /* deleted meanwhile */
		for (i = 0; i < val.count && i < NM_PORT_RULES && !ret; i++) {
			nm_rule_from_key(&key, &val.r[i], &r);
			ret = cb(&r, arg);
		}
	}
	close(fd);
	return ret;
}

int nm_store_flush(uint64_t *removed)
{
	struct nm_store s;
	struct nm_rule_key *keys = NULL;
	size_t n = 0, cap = 0, i;
	int ret = nm_store_open(&s);

	if (ret)
		return ret;
	/* Collect first: deleting while iterating an LPM trie restarts the walk. */
	for (;;) {
		if (n == cap) {
			struct nm_rule_key *k = realloc(keys, (cap = cap ? cap * 2 : 1024) * sizeof(*k));

			if (!k) {
				ret = -ENOMEM;
				break;
			}
			keys = k;
		}
		if (bpf_map_get_next_key(s.rules_fd, n ? &keys[n - 1] : NULL, &keys[n]))
			break;
		n++;
	}
	for (i = 0; !ret && i < n; i++)
		if (bpf_map_delete_elem(s.rules_fd, &keys[i]) && errno != ENOENT)
			ret = -errno;
	if (!ret) {
		*removed = s.meta.rules;
		memset(&s.meta, 0, sizeof(s.meta));
		ret = nm_meta_write(&s.meta);
	}
	free(keys);
	nm_store_close(&s);
	return ret;
}
