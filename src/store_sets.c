// SPDX-License-Identifier: GPL-2.0
/*
 * Port sets: the port rules of prefixes with more than NM_INLINE_RULES of
 * them (bpf/netmonctl.h). `port_sets` holds what the kernel reads (a bit
 * per port and protocol), `set_rules` the exact rules, which only user
 * space reads. A set is written whole under a fresh id before any value
 * names it, and deleted only once no value names it (after an edit's
 * switch, or by the repair), so a set never changes under a reader.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "store_internal.h"

void nm_sets_close(struct nm_sets *S)
{
	if (S->fd_bits >= 0)
		close(S->fd_bits);
	if (S->fd_rules >= 0)
		close(S->fd_rules);
	free(S->k);
	memset(S, 0, sizeof(*S));
	S->fd_bits = S->fd_rules = -1;
}

int nm_sets_open(struct nm_sets *S)
{
	struct bpf_map_info info = {};
	uint32_t len = sizeof(info);

	memset(S, 0, sizeof(*S));
	S->fd_rules = -1;
	S->fd_bits = nm_open_map(NM_MAP_PORT_SETS);
	if (S->fd_bits < 0)
		return S->fd_bits;
	S->fd_rules = nm_open_map(NM_MAP_SET_RULES);
	if (S->fd_rules < 0)
		return S->fd_rules;
	if (bpf_obj_get_info_by_fd(S->fd_bits, &info, &len))
		return -errno;
	S->max_sets = info.max_entries;
	memset(&info, 0, sizeof(info));
	if (bpf_obj_get_info_by_fd(S->fd_rules, &info, &len))
		return -errno;
	S->max_rules = info.max_entries;
	return 0;
}

static int nm_set_key_cmp(const void *a, const void *b)
{
	const struct nm_set_rule_key *x = a, *y = b;

	if (x->id != y->id)
		return x->id < y->id ? -1 : 1;
	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	if (x->hi != y->hi)
		return x->hi < y->hi ? -1 : 1;
	return (int)x->protos - (int)y->protos;
}

/* Every key of set_rules, sorted, and the highest id in either map. Read
 * once per command, and only by one that meets a set. */
int nm_sets_load(struct nm_sets *S)
{
	struct nm_set_rule_key key, *prev = NULL;
	uint32_t id, *pid = NULL;
	int ret = 0;

	if (S->loaded)
		return 0;
	S->n = 0;
	while (!ret && bpf_map_get_next_key(S->fd_rules, prev, &key) == 0) {
		ret = nm_array_grow(&S->k, &S->cap, S->n + 1, sizeof(*S->k));
		if (ret)
			break;
		S->k[S->n++] = key;
		prev = &S->k[S->n - 1];
		if ((key.id & NM_SET_SEQ_MASK) > S->top_id) /* the count, not the classes */
			S->top_id = key.id & NM_SET_SEQ_MASK;
	}
	while (!ret && bpf_map_get_next_key(S->fd_bits, pid, &id) == 0) {
		S->n_sets++;
		if ((id & NM_SET_SEQ_MASK) > S->top_id)
			S->top_id = id & NM_SET_SEQ_MASK;
		S->last = id;
		pid = &S->last;
	}
	if (!ret && S->n)
		qsort(S->k, S->n, sizeof(*S->k), nm_set_key_cmp);
	S->loaded = !ret;
	return ret;
}

/* The rules of set id, sorted by (lo, hi, protos): *first, count returned. */
size_t nm_sets_find(const struct nm_sets *S, uint32_t id, const struct nm_set_rule_key **first)
{
	size_t lo = 0, hi = S->n, end;

	*first = NULL;
	if (!S->n)
		return 0;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (S->k[mid].id < id)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (end = lo; end < S->n && S->k[end].id == id; end++)
		;
	*first = &S->k[lo];
	return end - lo;
}

bool nm_sets_has(const struct nm_sets *S, uint32_t id, const struct nm_port_rule *r)
{
	struct nm_set_rule_key k = { .id = id, .lo = r->lo, .hi = r->hi, .protos = r->protos };

	return S->n && bsearch(&k, S->k, S->n, sizeof(k), nm_set_key_cmp) != NULL;
}

static void nm_port_bits_set(struct nm_port_set *bits, const struct nm_port_rule *r)
{
	uint32_t p, proto;

	for (proto = 0; proto < 2; proto++) {
		if (!(r->protos & (proto ? NM_PROTO_UDP : NM_PROTO_TCP)))
			continue;
		for (p = r->lo; p <= r->hi; p++)
			bits->bits[proto][p / 64] |= 1ull << (p % 64);
	}
}

static int nm_set_rules_delete_each(int fd, const struct nm_set_rule_key *keys, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (bpf_map_delete_elem(fd, &keys[i]) && errno != ENOENT)
			return -errno;
	return 0;
}

/* Write (value 0) or delete n exact rules, in kernel batches. */
static int nm_set_rules_update(int fd, struct nm_set_rule_key *keys, size_t n, bool del)
{
	LIBBPF_OPTS(bpf_map_batch_opts, opts);
	uint32_t *zero = calloc(n ? n : 1, sizeof(uint32_t));
	size_t done = 0;
	int ret = zero ? 0 : -ENOMEM;

	while (!ret && done < n) {
		uint32_t count = (uint32_t)(n - done > 65536 ? 65536 : n - done);

		ret = del ? bpf_map_delete_batch(fd, keys + done, &count, &opts)
			  : bpf_map_update_batch(fd, keys + done, zero, &count, &opts);
		ret = ret ? -errno : 0;
		if (ret == -ENOENT && del) /* gone already: a repair's second try */
			ret = nm_set_rules_delete_each(fd, keys + done, n - done), count = (uint32_t)(n - done);
		done += count;
	}
	free(zero);
	return ret;
}

/* Set id with these rules: the exact rules, then the bits. */
int nm_sets_write(struct nm_sets *S, uint32_t id, const struct nm_port_rule *r, size_t n)
{
	struct nm_set_rule_key *keys = calloc(n ? n : 1, sizeof(*keys));
	struct nm_port_set *bits = calloc(1, sizeof(*bits));
	size_t i;
	int ret = keys && bits ? 0 : -ENOMEM;

	for (i = 0; !ret && i < n; i++) {
		keys[i] = (struct nm_set_rule_key){ .id = id, .lo = r[i].lo, .hi = r[i].hi, .protos = r[i].protos };
		nm_port_bits_set(bits, &r[i]);
	}
	if (!ret)
		ret = nm_set_rules_update(S->fd_rules, keys, n, false);
	if (!ret && bpf_map_update_elem(S->fd_bits, &id, bits, BPF_ANY))
		ret = -errno;
	free(keys);
	free(bits);
	return ret;
}

/* Set id gone, its rules being r: the bits first (no value names it any
 * more), then the exact rules. */
int nm_sets_delete_rules(struct nm_sets *S, uint32_t id, const struct nm_port_rule *r, size_t n)
{
	struct nm_set_rule_key *keys = calloc(n ? n : 1, sizeof(*keys));
	size_t i;
	int ret = keys ? 0 : -ENOMEM;

	if (!ret && bpf_map_delete_elem(S->fd_bits, &id) && errno != ENOENT)
		ret = -errno;
	for (i = 0; !ret && i < n; i++)
		keys[i] = (struct nm_set_rule_key){ .id = id, .lo = r[i].lo, .hi = r[i].hi, .protos = r[i].protos };
	if (!ret && n)
		ret = nm_set_rules_update(S->fd_rules, keys, n, true);
	free(keys);
	return ret;
}

/* Set id gone, with the rules the loaded index has for it. */
int nm_sets_delete(struct nm_sets *S, uint32_t id)
{
	const struct nm_set_rule_key *first;
	size_t n = nm_sets_find(S, id, &first), i;
	struct nm_port_rule *r = calloc(n ? n : 1, sizeof(*r));
	int ret = r ? 0 : -ENOMEM;

	for (i = 0; r && i < n; i++)
		r[i] = (struct nm_port_rule){ first[i].lo, first[i].hi, first[i].protos, 0 };
	if (!ret)
		ret = nm_sets_delete_rules(S, id, r, n);
	free(r);
	return ret;
}

static bool nm_id_in(uint32_t id, const uint32_t *ids, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (ids[i] == id)
			return true;
	return false;
}

int nm_ids_push(struct nm_ids *l, uint32_t id)
{
	if (nm_array_grow(&l->v, &l->cap, l->n + 1, sizeof(*l->v)))
		return -ENOMEM;
	l->v[l->n++] = id;
	return 0;
}

/* Add id to the list unless it is kept or listed already. */
static int nm_ids_add_once(struct nm_ids *l, uint32_t id, const uint32_t *keep, size_t n_keep)
{
	if (nm_id_in(id, keep, n_keep) || nm_id_in(id, l->v, l->n))
		return 0;
	return nm_ids_push(l, id);
}

/* Every set but those in keep (n_keep of them) gone: what a repair or a
 * flush leaves no value naming. *gone: sets removed. */
int nm_sets_keep_only(struct nm_sets *S, const uint32_t *keep, size_t n_keep, uint64_t *gone)
{
	struct nm_ids del = {};
	uint32_t id, *prev = NULL, last = 0;
	size_t i;
	int ret = nm_sets_load(S);

	/* ids in either map: bits without rules or rules without bits are
	 * what a write or a delete cut short leaves */
	while (!ret && bpf_map_get_next_key(S->fd_bits, prev, &id) == 0) {
		last = id;
		prev = &last;
		ret = nm_ids_add_once(&del, id, keep, n_keep);
	}
	for (i = 0; !ret && i < S->n; i++)
		ret = nm_ids_add_once(&del, S->k[i].id, keep, n_keep);
	for (i = 0; !ret && i < del.n; i++)
		ret = nm_sets_delete(S, del.v[i]);
	if (gone)
		*gone = ret ? 0 : del.n;
	free(del.v);
	S->loaded = false; /* the index no longer says what the maps hold */
	return ret;
}

/* Port rules of one value: a slot naming a set counts the set's rules. */
uint64_t nm_sets_val_rules(const struct nm_sets *S, const struct nm_rule_val *v)
{
	const struct nm_set_rule_key *first;
	uint64_t n = 0;
	int i;

	for (i = 0; i < v->count && i < NM_PORT_RULES; i++)
		n += nm_port_rule_is_set(&v->r[i]) ? nm_sets_find(S, nm_port_set_id(&v->r[i]), &first) : 1;
	return n;
}

/* Of v's rules (key k), those only the LSM layer enforces in full
 * (nm_rule_lsm_only). A set has some only when its id carries classes. */
uint64_t nm_sets_val_lsm_only(const struct nm_sets *S, const struct nm_rule_key *k, const struct nm_rule_val *v)
{
	uint64_t n = 0;
	int i;

	for (i = 0; i < v->count && i < NM_PORT_RULES; i++) {
		const struct nm_port_rule *r = &v->r[i];
		const struct nm_set_rule_key *first;
		uint32_t id = nm_port_set_id(r);
		size_t j, m;

		if (!nm_port_rule_is_set(r)) {
			n += nm_rule_lsm_only(k, r);
			continue;
		}
		m = nm_set_id_classes(id) ? nm_sets_find(S, id, &first) : 0;
		for (j = 0; j < m; j++) {
			struct nm_port_rule x = { first[j].lo, first[j].hi, first[j].protos, 0 };

			n += nm_rule_lsm_only(k, &x);
		}
	}
	return n;
}
