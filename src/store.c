// SPDX-License-Identifier: GPL-2.0
/*
 * The rule store. Each prefix is one entry holding every port rule of that
 * prefix: host prefixes (/32, /128) in the `hosts` hash, shorter ones in the
 * `nets` LPM trie, and `buckets` counts where in the address space the trie
 * has entries (see bpf/netmonctl.h). Every command here plans its edit in
 * full, then applies it as one transaction (store_txn.c): the hooks see
 * the rule set from before or the one after, however the command ends.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "nm.h"
#include "store_internal.h"

const char *const nm_store_names[NM_STORES] = { NM_MAP_HOSTS, NM_MAP_NETS };

void nm_store_close(struct nm_store *s)
{
	int i;

	for (i = 0; i < NM_STORES; i++)
		if (s->fd[i] >= 0)
			close(s->fd[i]);
	if (s->buckets_fd >= 0)
		close(s->buckets_fd);
	nm_sets_close(&s->sets);
}

int nm_store_open(struct nm_store *s)
{
	uint32_t layout = NM_LAYOUT_VERSION;
	int i, err = nm_pinned_layout(&layout) == 0 && layout != NM_LAYOUT_VERSION ? -EPROTO : 0;

	s->fd[NM_HOSTS] = s->fd[NM_NETS] = s->buckets_fd = -1;
	s->sets = (struct nm_sets){ .fd_bits = -1, .fd_rules = -1 };
	for (i = 0; i < NM_STORES && !err; i++) {
		struct bpf_map_info info = {};
		uint32_t len = sizeof(info);

		s->fd[i] = nm_open_map(nm_store_names[i]);
		if (s->fd[i] < 0)
			err = s->fd[i];
		else
			err = nm_map_check(s->fd[i], nm_store_names[i], sizeof(struct nm_rule_key),
					   sizeof(struct nm_rule_val));
		if (!err)
			err = bpf_obj_get_info_by_fd(s->fd[i], &info, &len) ? -errno : 0;
		s->max[i] = info.max_entries;
	}
	if (!err) {
		s->buckets_fd = nm_open_map(NM_MAP_BUCKETS);
		err = s->buckets_fd < 0 ? s->buckets_fd
					: nm_map_check(s->buckets_fd, NM_MAP_BUCKETS, sizeof(uint32_t),
						       sizeof(struct nm_bucket_group));
	}
	if (!err)
		err = nm_sets_open(&s->sets);
	if (!err)
		err = nm_meta_read(&s->meta, &s->gen);
	if (err)
		nm_store_close(s);
	return err;
}

/* What an edit does with its rules' comments (notes.c). */
enum nm_edit_notes { NOTES_NONE, NOTES_ADD, NOTES_REPLACE };

/* Open for an edit, plan it with build(), commit it: one transaction. */
typedef int (*nm_plan_fn)(struct nm_store *s, const struct nm_rule *rules, size_t n, struct nm_plan *p,
			  char *err, size_t errlen);

static int nm_store_edit(nm_plan_fn build, const struct nm_rule *rules, size_t n, enum nm_edit_notes notes,
			 struct nm_plan *plan, char *err, size_t errlen)
{
	struct nm_notes_edit ne = {};
	struct nm_store s;
	int ret = notes ? nm_notes_plan(rules, n, notes == NOTES_REPLACE, &ne, err, errlen) : 0;

	if (!ret)
		ret = nm_store_open_edit(&s, err, errlen);
	if (ret) {
		nm_notes_edit_free(&ne);
		return ret;
	}
	ret = build(&s, rules, n, plan, err, errlen);
	if (!ret)
		ret = nm_txn_commit(&s, plan, err, errlen);
	nm_store_close(&s);
	if (!ret && (ret = nm_notes_apply(&ne)) != 0)
		snprintf(err, errlen, "the rules were applied, their comments were not: %s (%s)",
			 strerror(-ret), nm_errno_name(ret));
	nm_notes_edit_free(&ne);
	return ret;
}

/* After an edit that removed rules of a list: their counts and comments go. */
static void nm_store_prune(uint16_t list)
{
	nm_hits_prune(); /* a rule added again counts from 0 */
	nm_notes_prune(list);
}

int nm_store_add(const struct nm_rule *rules, size_t n, size_t *added, char *err, size_t errlen)
{
	struct nm_plan plan = {};
	int ret = nm_store_edit(nm_plan_build, rules, n, NOTES_ADD, &plan, err, errlen);

	*added = ret ? 0 : plan.added;
	nm_plan_free(&plan);
	return ret;
}

int nm_store_del_many(const struct nm_rule *rules, size_t n, size_t *removed, char *err, size_t errlen)
{
	struct nm_plan plan = {};
	int ret = nm_store_edit(nm_del_plan_build, rules, n, NOTES_NONE, &plan, err, errlen);

	if (!ret && n)
		nm_store_prune(rules[0].list); /* a batch is one list's */
	*removed = ret ? 0 : plan.added;
	nm_plan_free(&plan);
	return ret;
}

int nm_store_replace(uint16_t list, const struct nm_rule *rules, size_t n, size_t *added, size_t *removed,
		     char *err, size_t errlen)
{
	struct nm_plan plan = { .list = list };
	int ret = nm_store_edit(nm_replace_plan_build, rules, n, NOTES_REPLACE, &plan, err, errlen);

	if (!ret && plan.removed)
		nm_store_prune(list);
	*added = ret ? 0 : plan.added;
	*removed = ret ? 0 : plan.removed;
	nm_plan_free(&plan);
	return ret;
}

/* A flush is a replace of one list by the empty set: one switch, like any edit. */
int nm_store_flush(uint16_t list, uint64_t *removed, char *err, size_t errlen)
{
	size_t added, gone;
	int ret = nm_store_replace(list, NULL, 0, &added, &gone, err, errlen);

	*removed = gone;
	return ret;
}

/* The rules of one entry in generation gen, a set's included. */
static int nm_walk_entry(struct nm_rule_key *key, const struct nm_rule_val *val, uint32_t gen,
			 struct nm_sets *S, nm_rule_cb cb, void *arg)
{
	const struct nm_set_rule_key *first;
	struct nm_rule r;
	size_t k, n;
	int i, ret = 0;

	for (i = 0; i < val->count && i < NM_PORT_RULES && !ret; i++) {
		if (!nm_port_rule_in_gen(&val->r[i], gen))
			continue;
		if (!nm_port_rule_is_set(&val->r[i])) {
			nm_rule_from_key(key, &val->r[i], &r);
			ret = cb(&r, arg);
			continue;
		}
		if (S->fd_bits < 0)
			ret = nm_sets_open(S);
		if (!ret)
			ret = nm_sets_load(S);
		n = ret ? 0 : nm_sets_find(S, nm_port_set_id(&val->r[i]), &first);
		for (k = 0; k < n && !ret; k++) {
			struct nm_port_rule p = { first[k].lo, first[k].hi, first[k].protos, 0 };

			nm_rule_from_key(key, &p, &r);
			ret = cb(&r, arg);
		}
	}
	return ret;
}

/*
 * Every rule of the active generation. The caller holds the lock shared:
 * no edit runs meanwhile, so the walk sees one generation throughout.
 */
int nm_store_walk(int list, nm_rule_cb cb, void *arg)
{
	struct nm_sets sets = { .fd_bits = -1, .fd_rules = -1 };
	struct nm_rule_key *keys = NULL;
	struct nm_rule_val *vals = NULL;
	struct nm_meta meta;
	uint32_t gen;
	size_t n, i;
	int w, fd, ret = nm_meta_read(&meta, &gen);

	/* An empty generation is empty whatever its entries say: a flush
	 * killed after its switch leaves them to the next command. Entries are
	 * read in kernel batches where the map has them (a million lookups
	 * one by one took 2.9 s of system time). */
	for (w = 0; w < NM_STORES && !ret && meta.rules; w++) {
		fd = nm_open_map(nm_store_names[w]);
		if (fd < 0) {
			ret = fd;
			break;
		}
		n = 0;
		ret = nm_read_entries(fd, &keys, &vals, &n);
		close(fd);
		for (i = 0; !ret && i < n; i++) {
			if (list >= 0 && keys[i].list != list)
				continue;
			keys[i].prefixlen = vals[i].prefixlen; /* hosts keys carry the full query length */
			ret = nm_walk_entry(&keys[i], &vals[i], gen, &sets, cb, arg);
		}
		free(keys);
		free(vals);
		keys = NULL;
		vals = NULL;
	}
	nm_sets_close(&sets);
	return ret;
}

/* The address bits of a key beyond its prefix cleared: the rule as listed. */
static void nm_key_mask(struct nm_rule_key *k)
{
	uint32_t plen = k->prefixlen > NM_KEY_HDR_BITS ? k->prefixlen - NM_KEY_HDR_BITS : 0;
	uint32_t i;

	for (i = 0; i < sizeof(k->addr) * 8; i++)
		if (i >= plen)
			k->addr[i / 8] &= (uint8_t)~(0x80u >> (i % 8));
}

struct nm_test_walk {
	const struct nm_rule *q;
	bool any_port;
	uint32_t gen;
	struct nm_sets *sets;
	nm_rule_cb cb;
	void *arg;
};

/*
 * Does port rule p hold for the query? A query names one class, or any:
 * then a socket of some class, so every rule that would hold for one.
 * The match itself is the hooks' (nm_port_rule_covers).
 */
static bool nm_test_port_hit(const struct nm_test_walk *t, const struct nm_port_rule *p)
{
	uint8_t c = t->q->port.protos;
	uint16_t port = t->q->port.lo;

	if (c == NM_PROTO_ANY)
		return t->any_port || nm_port_rule_covers(p, port, NM_PROTO_TCP) ||
		       nm_port_rule_covers(p, port, NM_PROTO_UDP) || nm_port_rule_portless_classes(p);
	if ((c & NM_PROTO_PORTED) && t->any_port)
		return (p->protos & c) != 0;
	return nm_port_rule_covers(p, port, c);
}

static int nm_test_hit(const struct nm_rule *r, void *arg)
{
	const struct nm_test_walk *t = arg;

	return nm_test_port_hit(t, &r->port) ? t->cb(r, t->arg) : 0;
}

/* The rules of one entry (prefix plen) that hold for the query. */
static int nm_test_entry(struct nm_test_walk *t, const struct nm_rule_key *query, const struct nm_rule_val *v)
{
	struct nm_rule_key k = *query;

	k.prefixlen = v->prefixlen;
	nm_key_mask(&k);
	return nm_walk_entry(&k, v, t->gen, t->sets, nm_test_hit, t);
}

/*
 * Every rule of the active generation that holds for the operation q (a
 * host address; its port unless any_port; a protocol in its protos; its
 * dir): the host rule, then the trie from the longest covering prefix to
 * each shorter one, down to `any` (the global deny list's only). The same walk as the hooks' nm_lookup
 * (bpf/nm_decide.bpf.h), which cannot share code with user space. The
 * caller holds the lock shared.
 */
int nm_store_test(const struct nm_rule *q, bool any_port, nm_rule_cb cb, void *arg)
{
	struct nm_test_walk t = { .q = q, .any_port = any_port, .cb = cb, .arg = arg };
	struct nm_rule_key rule, key;
	struct nm_rule_val val;
	struct nm_store s;
	struct nm_meta meta;
	int i, ret = nm_store_open(&s);

	if (ret)
		return ret;
	t.sets = &s.sets;
	ret = nm_meta_read(&meta, &t.gen);
	nm_rule_key(q, &rule);
	nm_map_key_of(&rule, &key); /* the query: the full length, as a hook asks */
	if (!ret && meta.rules && bpf_map_lookup_elem(s.fd[NM_HOSTS], &key, &val) == 0)
		ret = nm_test_entry(&t, &key, &val);
	for (i = 0; !ret && meta.rules && i <= NM_MAX_DEPTH; i++) {
		if (bpf_map_lookup_elem(s.fd[NM_NETS], &key, &val))
			break;
		if (val.prefixlen < NM_KEY_HDR_BITS && !nm_list_sees_any(key.list))
			break; /* the global `any`, which stops before the list */
		ret = nm_test_entry(&t, &key, &val);
		if (val.prefixlen <= NM_KEY_ANY_BITS)
			break;
		key.prefixlen = val.prefixlen - 1u;
	}
	nm_store_close(&s);
	return ret;
}
