// SPDX-License-Identifier: GPL-2.0
/*
 * Planning an edit: rules grouped by prefix into what each map will hold,
 * validated and counted before the first write.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "store_internal.h"

void nm_plan_free(struct nm_plan *p)
{
	int i;

	for (i = 0; i < NM_STORES; i++) {
		free(p->b[i].keys);
		free(p->b[i].vals);
		free(p->b[i].olds);
		free(p->b[i].existed);
		free(p->b[i].fresh);
	}
	nm_plan_sets_free(p);
}

static int nm_plan_alloc(struct nm_plan *p, size_t n)
{
	int i;

	n = n ? n : 1;
	for (i = 0; i < NM_STORES; i++) {
		struct nm_batch *b = &p->b[i];

		b->keys = nm_calloc_big(n, sizeof(*b->keys));
		b->vals = nm_calloc_big(n, sizeof(*b->vals));
		b->olds = nm_calloc_big(n, sizeof(*b->olds));
		b->existed = nm_calloc_big(n, sizeof(*b->existed));
		b->fresh = nm_calloc_big(n, sizeof(*b->fresh));
		b->big = nm_calloc_big(n, sizeof(*b->big));
		if (!b->keys || !b->vals || !b->olds || !b->existed || !b->fresh || !b->big)
			return -ENOMEM;
	}
	return 0;
}

/* An index at most half full for n keys; ix->slot is NULL when out of memory. */
static void nm_key_index_init(struct nm_key_index *ix, size_t n)
{
	size_t size = 16;

	while (size < 2 * n)
		size *= 2;
	ix->mask = (uint32_t)size - 1;
	ix->slot = nm_calloc_big(size, sizeof(*ix->slot));
}

static uint32_t nm_key_hash(const struct nm_rule_key *k)
{
	uint64_t w[3];

	memcpy(w, k, sizeof(w));
	w[0] = w[0] * 0x9e3779b97f4a7c15ull ^ w[1] * 0xc2b2ae3d27d4eb4full ^ w[2] * 0x165667b19e3779f9ull;
	return (uint32_t)(w[0] ^ w[0] >> 29 ^ w[0] >> 47);
}

/* The plan entry of map key m in store which, found through the index; or
 * a new one at the end of that store's batch (*made: true). */
static size_t nm_plan_slot(struct nm_plan *p, struct nm_key_index *ix, const struct nm_rule_key *m,
			   int which, bool *made)
{
	uint32_t h = nm_key_hash(m) & ix->mask, v;
	struct nm_batch *b;
	size_t entry;

	*made = false;
	for (; (v = ix->slot[h]) != 0; h = (h + 1) & ix->mask) {
		entry = (v & 0x7fffffffu) - 1;
		if ((int)(v >> 31) == which && !memcmp(&p->b[which].keys[entry], m, sizeof(*m)))
			return entry;
	}
	b = &p->b[which];
	entry = b->n++;
	ix->slot[h] = (uint32_t)which << 31 | (uint32_t)(entry + 1);
	b->keys[entry] = *m;
	*made = true;
	return entry;
}

/* The plan entry of this rule key, or a new one started from the store's
 * current value (an empty one when lookup is false or there is none). */
static struct nm_rule_val *nm_plan_entry(struct nm_store *s, struct nm_plan *p,
					 struct nm_key_index *ix, const struct nm_rule_key *key,
					 bool lookup, size_t *entry, int *store)
{
	int which;
	struct nm_rule_key m = nm_map_key(key, &which);
	struct nm_batch *b = &p->b[which];
	bool made;

	*store = which;
	*entry = nm_plan_slot(p, ix, &m, which, &made);
	if (!made)
		return &b->vals[*entry];
	b->existed[*entry] = lookup && nm_lookup_exact(s, key, &b->olds[*entry]);
	if (b->existed[*entry]) {
		b->vals[*entry] = b->olds[*entry];
	} else {
		memset(&b->vals[*entry], 0, sizeof(b->vals[*entry]));
		b->vals[*entry].prefixlen = key->prefixlen;
	}
	b->fresh[*entry] = !b->existed[*entry];
	/* a value naming a port set: plan on the set's rules */
	if (b->existed[*entry] && nm_val_set_id(&b->olds[*entry]) &&
	    nm_big_from_set(s, p, which, *entry, nm_val_set_id(&b->olds[*entry])))
		return NULL;
	return &b->vals[*entry];
}

/* Put one rule into its prefix's plan entry: 1 when it was not there yet,
 * 0 when it was. A prefix that outgrows its slots goes on in a list. */
static int nm_plan_put(struct nm_store *s, struct nm_plan *p, struct nm_key_index *ix,
		       const struct nm_rule *rule, bool lookup, size_t *entry, int *store, char *err,
		       size_t errlen)
{
	struct nm_rule_key key;
	struct nm_rule_val *v;
	char text[NM_RULE_TEXT_MAX];
	int ret = 1;

	nm_rule_key(rule, &key);
	v = nm_plan_entry(s, p, ix, &key, lookup, entry, store);
	if (!v)
		ret = -ENOMEM;
	else if (p->b[*store].big[*entry].on)
		ret = nm_big_put(p, *store, *entry, &rule->port);
	else if (nm_port_find(v, &rule->port) >= 0)
		return 0;
	else if (v->count >= NM_PORT_RULES)
		ret = nm_big_start(p, *store, *entry, v->r, v->count) ?: nm_big_put(p, *store, *entry, &rule->port);
	else
		v->r[v->count++] = rule->port;
	if (ret < 0) {
		nm_rule_format(rule, text, sizeof(text));
		return STORE_ERR(ret, "%s: %s", text, strerror(-ret));
	}
	return 1;
}

static void nm_batch_move(struct nm_batch *b, size_t to, size_t from)
{
	b->keys[to] = b->keys[from];
	b->vals[to] = b->vals[from];
	b->olds[to] = b->olds[from];
	b->existed[to] = b->existed[from];
	b->fresh[to] = b->fresh[from];
}

/* Drop entries that were present and gained no rule: nothing to write. */
static void nm_plan_compact(struct nm_batch *b, const bool *gained)
{
	size_t i, n = 0;

	for (i = 0; i < b->n; i++) {
		if (!b->existed[i] || gained[i])
			nm_batch_move(b, n++, i);
	}
	b->n = n;
}

int nm_plan_build(struct nm_store *s, const struct nm_rule *rules, size_t n,
		  struct nm_plan *p, char *err, size_t errlen)
{
	/* An empty store needs no lookups: the bulk-load case. */
	bool lookup = s->meta.prefixes != 0;
	struct nm_key_index ix = {};
	bool *gained[NM_STORES] = {};
	size_t i, entry;
	int store, ret = 0;

	nm_key_index_init(&ix, n);
	for (i = 0; i < NM_STORES; i++)
		gained[i] = nm_calloc_big(n, sizeof(bool));
	if (!ix.slot || !gained[NM_HOSTS] || !gained[NM_NETS] || nm_plan_alloc(p, n)) {
		ret = STORE_ERR(-ENOMEM, "out of memory for %zu rules", n);
		goto out;
	}
	for (i = 0; i < n && !ret; i++) {
		ret = nm_plan_put(s, p, &ix, &rules[i], lookup, &entry, &store, err, errlen);
		if (ret == 1) {
			gained[store][entry] = true;
			p->added++;
		}
		ret = ret < 0 ? ret : 0;
	}
	if (!ret)
		ret = nm_plan_finalize(s, p, err, errlen);
	if (ret)
		goto out;
	for (i = 0; i < NM_STORES; i++)
		nm_plan_compact(&p->b[i], gained[i]);
out:
	free(ix.slot);
	free(gained[NM_HOSTS]);
	free(gained[NM_NETS]);
	return ret;
}

/*
 * Take each rule out of its prefix's plan entry (started from the store's
 * value by nm_plan_entry). A rule that is not in the store is an error
 * naming it; a rule given twice is removed once.
 */
int nm_del_plan_build(struct nm_store *s, const struct nm_rule *rules, size_t n,
		      struct nm_plan *p, char *err, size_t errlen)
{
	struct nm_key_index ix = {};
	size_t i, entry;
	int store, k, ret = 0;

	nm_key_index_init(&ix, n);
	if (!ix.slot || nm_plan_alloc(p, n)) {
		ret = STORE_ERR(-ENOMEM, "out of memory for %zu rules", n);
		goto out;
	}
	for (i = 0; i < n; i++) {
		struct nm_rule_key key;
		struct nm_rule_val *v;
		char text[NM_RULE_TEXT_MAX];

		nm_rule_key(&rules[i], &key);
		v = nm_plan_entry(s, p, &ix, &key, true, &entry, &store);
		if (!v) {
			ret = STORE_ERR(-ENOMEM, "out of memory for %zu rules", n);
			goto out;
		}
		if (p->b[store].big[entry].on) {
			k = nm_big_del(p, store, entry, &rules[i].port);
			if (k == 1)
				p->added++;
			if (k >= 0)
				continue;
		} else {
			k = nm_port_find(v, &rules[i].port);
		}
		if (k < 0 && p->b[store].existed[entry] &&
		    nm_port_find(&p->b[store].olds[entry], &rules[i].port) >= 0)
			continue; /* a duplicate: gone already */
		if (k < 0) {
			nm_rule_format(&rules[i], text, sizeof(text));
			ret = STORE_ERR(-ENOENT, "%s: no such rule; nothing changed", text);
			goto out;
		}
		memmove(&v->r[k], &v->r[k + 1], (v->count - k - 1) * sizeof(v->r[0]));
		memset(&v->r[--v->count], 0, sizeof(v->r[0]));
		p->added++; /* here: rules removed */
	}
	ret = nm_plan_finalize(s, p, err, errlen);
out:
	free(ix.slot);
	return ret;
}

/* The same port rules, in any order? */
static bool nm_same_rules(const struct nm_rule_val *a, const struct nm_rule_val *b)
{
	int i;

	if (a->count != b->count)
		return false;
	for (i = 0; i < a->count; i++)
		if (nm_port_find(b, &a->r[i]) < 0)
			return false;
	return true;
}

/* Every entry of the store into the plan, as present with nothing kept
 * (vals empty): the replace then puts back what the new set has. */
static void nm_plan_take_store(struct nm_store *s, struct nm_plan *p, struct nm_key_index *ix,
			       struct nm_rule_key *keys[NM_STORES], struct nm_rule_val *vals[NM_STORES],
			       const size_t n[NM_STORES])
{
	size_t i, e;
	bool made;
	int w;

	for (w = 0; w < NM_STORES; w++) {
		struct nm_batch *b = &p->b[w];

		for (i = 0; i < n[w]; i++) {
			if (keys[w][i].list != p->list)
				continue; /* another list: the replace leaves it be */
			e = nm_plan_slot(p, ix, &keys[w][i], w, &made);
			b->existed[e] = true;
			if (p->flush)
				continue;
			b->olds[e] = vals[w][i];
			memset(&b->vals[e], 0, sizeof(b->vals[e]));
			b->vals[e].prefixlen = vals[w][i].prefixlen;
			p->removed += nm_plan_val_rules(s, p, &vals[w][i]);
		}
	}
}

struct nm_read_job {
	int fd;
	struct nm_rule_key *keys;
	struct nm_rule_val *vals;
	size_t n;
	int ret;
};

static void *nm_read_job_run(void *arg)
{
	struct nm_read_job *j = arg;

	j->ret = nm_read_entries(j->fd, &j->keys, &j->vals, &j->n);
	return NULL;
}

/* Both maps' entries, the trie in a second thread (they have their own locks). */
static int nm_read_both(const int fd[NM_STORES], struct nm_rule_key *keys[NM_STORES],
			struct nm_rule_val *vals[NM_STORES], size_t n[NM_STORES])
{
	struct nm_read_job j[NM_STORES] = { { .fd = fd[NM_HOSTS] }, { .fd = fd[NM_NETS] } };
	pthread_t t;
	bool threaded = pthread_create(&t, NULL, nm_read_job_run, &j[NM_NETS]) == 0;
	int w;

	nm_read_job_run(&j[NM_HOSTS]);
	if (threaded)
		pthread_join(t, NULL);
	else
		nm_read_job_run(&j[NM_NETS]);
	for (w = 0; w < NM_STORES; w++) {
		keys[w] = j[w].keys;
		vals[w] = j[w].vals;
		n[w] = j[w].n;
	}
	return j[NM_HOSTS].ret ? j[NM_HOSTS].ret : j[NM_NETS].ret;
}

/*
 * Replace: the store's entries, each emptied, then the new rules put in;
 * entries whose rules end up as they were drop out of the plan. Counts the
 * rules that come (added) and go (removed).
 */
int nm_replace_plan_build(struct nm_store *s, const struct nm_rule *rules, size_t n,
			  struct nm_plan *p, char *err, size_t errlen)
{
	struct nm_rule_key *keys[NM_STORES] = {};
	struct nm_rule_val *vals[NM_STORES] = {};
	size_t have[NM_STORES] = {}, i, entry, out;
	struct nm_key_index ix = {};
	int w, store, ret = 0;

	/* A flush of the only list with rules reads no values: a million
	 * lookups in the trie it has no use for. Any other list's flush is an
	 * edit like the rest, which leaves the other lists be. */
	p->flush = n == 0 && s->meta.rules == s->meta.list_rules[p->list % NM_LISTS];
	if (p->flush) {
		for (w = 0; w < NM_STORES && !ret; w++)
			ret = nm_collect_keys(s->fd[w], &keys[w], &have[w]);
	} else {
		ret = nm_read_both(s->fd, keys, vals, have);
	}
	if (ret) {
		ret = STORE_ERR(ret, "reading the rule store: %s", strerror(-ret));
		goto out;
	}
	nm_key_index_init(&ix, n + have[NM_HOSTS] + have[NM_NETS]);
	if (!ix.slot || nm_plan_alloc(p, n + have[NM_HOSTS] + have[NM_NETS])) {
		ret = STORE_ERR(-ENOMEM, "out of memory for %zu rules", n);
		goto out;
	}
	if (p->flush)
		p->removed = s->meta.rules;
	if (!p->flush)
		ret = nm_sets_load(&s->sets); /* the rules of the sets the store names */
	if (ret) {
		ret = STORE_ERR(ret, "reading the port sets: %s", strerror(-ret));
		goto out;
	}
	nm_plan_take_store(s, p, &ix, keys, vals, have);
	for (i = 0; i < n && !ret; i++) {
		ret = nm_plan_put(s, p, &ix, &rules[i], false, &entry, &store, err, errlen);
		if (ret == 1 && nm_plan_old_has(s, &p->b[store], entry, &rules[i].port))
			p->removed--; /* stays */
		else if (ret == 1)
			p->added++;
		ret = ret < 0 ? ret : 0;
	}
	if (!ret && !p->flush)
		ret = nm_plan_finalize(s, p, err, errlen);
	if (ret)
		goto out;
	for (w = 0; w < NM_STORES && !p->flush; w++) {
		struct nm_batch *b = &p->b[w];

		for (i = out = 0; i < b->n; i++) {
			if (b->existed[i] && nm_same_rules(&b->vals[i], &b->olds[i]))
				continue;
			nm_batch_move(b, out++, i);
		}
		b->n = out;
	}
out:
	free(ix.slot);
	free(keys[NM_HOSTS]);
	free(keys[NM_NETS]);
	free(vals[NM_HOSTS]);
	free(vals[NM_NETS]);
	return ret;
}

/* Entries that keep some rules first (one update each), emptied ones last
 * (one delete each): returns where the emptied ones start. */
#define NM_SWAP(a, b) do { __typeof__(a) t_ = (a); (a) = (b); (b) = t_; } while (0)

size_t nm_del_partition(struct nm_batch *b)
{
	size_t i = 0, j = b->n;

	while (i < j) {
		if (b->vals[i].count) {
			i++;
			continue;
		}
		j--;
		NM_SWAP(b->keys[i], b->keys[j]);
		NM_SWAP(b->vals[i], b->vals[j]);
		NM_SWAP(b->olds[i], b->olds[j]);
	}
	return i;
}

