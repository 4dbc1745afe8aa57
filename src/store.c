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

/* A rule paired with its key, so sorting computes no keys. */
struct nm_keyed {
	struct nm_rule_key key;
	struct nm_port_rule port;
};

static int nm_keyed_cmp(const void *a, const void *b)
{
	return memcmp(a, b, sizeof(struct nm_keyed));
}

/*
 * What an add writes: parallel arrays, so the kernel can take them as one
 * batch. Only entries that change are here.
 */
struct nm_plan {
	size_t n;
	struct nm_rule_key *keys;
	struct nm_rule_val *vals;
	struct nm_rule_val *olds; /* olds[i] valid where existed[i] */
	bool *existed;
	size_t added;   /* port rules that are new */
	uint64_t fresh; /* prefixes that are new */
};

static void nm_plan_free(struct nm_plan *p)
{
	free(p->keys);
	free(p->vals);
	free(p->olds);
	free(p->existed);
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

/* Open entry p->n of the plan: the prefix as the store has it, if it does. */
static void nm_plan_start(struct nm_store *s, struct nm_plan *p, const struct nm_rule_key *key,
			  bool lookup)
{
	size_t i = p->n;

	p->keys[i] = *key;
	p->existed[i] = lookup && nm_lookup_exact(s->rules_fd, key, &p->olds[i]);
	if (p->existed[i]) {
		p->vals[i] = p->olds[i];
	} else {
		memset(&p->vals[i], 0, sizeof(p->vals[i]));
		p->vals[i].prefixlen = key->prefixlen;
	}
}

/* Keep the open entry only if it gained a port rule. */
static void nm_plan_close(struct nm_plan *p, size_t added_before)
{
	if (p->added > added_before)
		p->fresh += !p->existed[p->n++];
}

static int nm_plan_alloc(struct nm_plan *p, size_t n)
{
	n = n ? n : 1;
	p->keys = calloc(n, sizeof(*p->keys));
	p->vals = calloc(n, sizeof(*p->vals));
	p->olds = calloc(n, sizeof(*p->olds));
	p->existed = calloc(n, sizeof(*p->existed));
	return p->keys && p->vals && p->olds && p->existed ? 0 : -ENOMEM;
}

static int nm_plan_build(struct nm_store *s, const struct nm_rule *rules, size_t n,
			 struct nm_plan *p, char *err, size_t errlen)
{
	/* An empty store needs no lookups: the bulk-load case. */
	bool lookup = s->meta.prefixes != 0, open = false;
	struct nm_keyed *kr = calloc(n ? n : 1, sizeof(*kr));
	size_t i, added_before = 0;

	if (!kr || nm_plan_alloc(p, n)) {
		free(kr);
		return STORE_ERR(-ENOMEM, "out of memory for %zu rules", n);
	}
	for (i = 0; i < n; i++) {
		nm_rule_key(&rules[i], &kr[i].key);
		kr[i].port = rules[i].port;
	}
	qsort(kr, n, sizeof(*kr), nm_keyed_cmp);
	for (i = 0; i < n; i++) {
		struct nm_rule_val *v;
		struct nm_rule r;
		char text[160];

		if (!open || memcmp(&p->keys[p->n], &kr[i].key, sizeof(kr[i].key))) {
			if (open)
				nm_plan_close(p, added_before);
			added_before = p->added;
			nm_plan_start(s, p, &kr[i].key, lookup);
			open = true;
		}
		v = &p->vals[p->n];
		if (nm_port_find(v, &kr[i].port) >= 0)
			continue;
		if (v->count >= NM_PORT_RULES) {
			nm_rule_from_key(&kr[i].key, &kr[i].port, &r);
			nm_rule_format(&r, text, sizeof(text));
			free(kr);
			return STORE_ERR(-ENOSPC, "%s: a prefix holds at most %d port rules", text,
					 NM_PORT_RULES);
		}
		v->r[v->count++] = kr[i].port;
		p->added++;
	}
	if (open)
		nm_plan_close(p, added_before);
	free(kr);
	return 0;
}

static int nm_plan_account(struct nm_store *s, struct nm_plan *p, char *err, size_t errlen)
{
	size_t i;

	if (s->meta.prefixes + p->fresh > s->max_prefixes)
		return STORE_ERR(-ENOSPC, "rule store full: %llu prefixes + %llu new > %u (load with 'entries N')",
				 (unsigned long long)s->meta.prefixes, (unsigned long long)p->fresh,
				 s->max_prefixes);
	for (i = 0; i < p->n; i++)
		if (!p->existed[i])
			(*nm_len_slot(&s->meta, &p->keys[i]))++;
	s->meta.prefixes += p->fresh;
	s->meta.rules += p->added;
	return nm_chain_ok(&s->meta, err, errlen);
}

static void nm_plan_undo(struct nm_store *s, struct nm_plan *p, size_t upto)
{
	size_t i;

	for (i = 0; i < upto; i++) {
		if (p->existed[i])
			bpf_map_update_elem(s->rules_fd, &p->keys[i], &p->olds[i], BPF_ANY);
		else
			bpf_map_delete_elem(s->rules_fd, &p->keys[i]);
	}
}

/* Write entries [from, from + n); returns how many were written (errno set when short). */
static size_t nm_write_batch(int fd, struct nm_plan *p, size_t from, size_t n)
{
	static bool no_batch; /* a kernel without batch updates for LPM tries: one by one */
	uint32_t count = n;
	size_t i;

	if (!no_batch) {
		if (bpf_map_update_batch(fd, &p->keys[from], &p->vals[from], &count, NULL) == 0)
			return n;
		if (errno != EINVAL && errno != ENOTSUP && errno != 524 /* ENOTSUPP */)
			return count;
		no_batch = true;
	}
	for (i = 0; i < n; i++)
		if (bpf_map_update_elem(fd, &p->keys[from + i], &p->vals[from + i], BPF_ANY))
			return i;
	return n;
}

static int nm_plan_apply(struct nm_store *s, struct nm_plan *p, char *err, size_t errlen)
{
	const size_t chunk = 8192;
	size_t done = 0, want, got;

	while (done < p->n) {
		want = p->n - done < chunk ? p->n - done : chunk;
		got = nm_write_batch(s->rules_fd, p, done, want);
		done += got;
		if (got < want) {
			int e = errno;

			nm_plan_undo(s, p, done);
			snprintf(err, errlen, "kernel refused an update: %s (%s); nothing applied",
				 strerror(e), nm_errno_name(e));
			return -e;
		}
	}
	return 0;
}

int nm_store_add(const struct nm_rule *rules, size_t n, size_t *added, char *err, size_t errlen)
{
	struct nm_plan plan = {};
	struct nm_store s;
	int ret;

	*added = 0;
	ret = nm_store_open(&s);
	if (ret)
		return snprintf(err, errlen, "cannot open the rule store: %s", strerror(-ret)), ret;
	ret = nm_plan_build(&s, rules, n, &plan, err, errlen);
	if (!ret)
		ret = nm_plan_account(&s, &plan, err, errlen);
	if (!ret)
		ret = nm_plan_apply(&s, &plan, err, errlen);
	if (!ret && nm_meta_write(&s.meta)) {
		ret = -errno;
		nm_plan_undo(&s, &plan, plan.n);
		snprintf(err, errlen, "cannot update the rule count: %s", strerror(-ret));
	}
	if (!ret)
		*added = plan.added;
	nm_plan_free(&plan);
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
	for (i = 0; !ret && i < n;) {
		uint32_t count = n - i > 8192 ? 8192 : n - i;

		/* One syscall per chunk where the kernel has batch deletes for tries. */
		if (bpf_map_delete_batch(s.rules_fd, &keys[i], &count, NULL) == 0) {
			i += count;
			continue;
		}
		if (bpf_map_delete_elem(s.rules_fd, &keys[i]) && errno != ENOENT)
			ret = -errno;
		i++;
	}
	if (!ret) {
		*removed = s.meta.rules;
		memset(&s.meta, 0, sizeof(s.meta));
		ret = nm_meta_write(&s.meta);
	}
	free(keys);
	nm_store_close(&s);
	return ret;
}
