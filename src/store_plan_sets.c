// SPDX-License-Identifier: GPL-2.0
/*
 * Planning prefixes with many port rules. While an edit is planned, a
 * prefix that outgrows its value's slots (or that names a port set in the
 * store) keeps its rules in a list of any length ("big"), with a hash of
 * what the list holds so that a rule given twice counts once. When the
 * plan is complete, nm_plan_finalize decides each such prefix's final
 * value: inline when its rules fit beside the old ones, else one slot
 * naming a new port set, which the transaction writes before its build.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "store_internal.h"

enum { SEEN_EMPTY, SEEN_PRESENT, SEEN_REMOVED };

static uint64_t nm_seen_rule(const struct nm_port_rule *r)
{
	return (uint64_t)r->lo << 24 | (uint64_t)r->hi << 8 | r->protos;
}

static size_t nm_seen_hash(uint64_t a, uint64_t b, size_t mask)
{
	uint64_t h = a * 0x9e3779b97f4a7c15ull ^ b * 0xc2b2ae3d27d4eb4full;

	return (size_t)(h ^ h >> 31) & mask;
}

static struct nm_seen_slot *nm_seen_find(struct nm_seen *t, uint64_t a, uint64_t b)
{
	size_t h = nm_seen_hash(a, b, t->mask);

	for (; t->slot[h].state != SEEN_EMPTY; h = (h + 1) & t->mask)
		if (t->slot[h].a == a && t->slot[h].b == b)
			return &t->slot[h];
	return &t->slot[h];
}

static int nm_seen_grow(struct nm_seen *t)
{
	struct nm_seen old = *t;
	size_t i, size = old.slot ? 2 * (old.mask + 1) : 1024;

	t->slot = calloc(size, sizeof(*t->slot));
	if (!t->slot) {
		*t = old;
		return -ENOMEM;
	}
	t->mask = size - 1;
	for (i = 0; old.slot && i <= old.mask; i++)
		if (old.slot[i].state != SEEN_EMPTY)
			*nm_seen_find(t, old.slot[i].a, old.slot[i].b) = old.slot[i];
	free(old.slot);
	return 0;
}

/* The slot of rule r of entry e in store w, made present when new
 * (*made). NULL when out of memory. */
static struct nm_seen_slot *nm_seen_get(struct nm_plan *p, int w, size_t e, const struct nm_port_rule *r,
					bool *made)
{
	struct nm_seen *t = &p->seen;
	uint64_t a = (uint64_t)e << 1 | (uint64_t)w, b = nm_seen_rule(r);
	struct nm_seen_slot *s;

	if ((!t->slot || 2 * (t->used + 1) > t->mask + 1) && nm_seen_grow(t))
		return NULL;
	s = nm_seen_find(t, a, b);
	*made = s->state == SEEN_EMPTY;
	if (*made) {
		*s = (struct nm_seen_slot){ .a = a, .b = b, .state = SEEN_PRESENT };
		t->used++;
	}
	return s;
}

static int nm_big_append(struct nm_big *g, const struct nm_port_rule *r)
{
	if (nm_array_grow(&g->r, &g->cap, g->n + 1, sizeof(*g->r)))
		return -ENOMEM;
	g->r[g->n] = *r;
	g->r[g->n++].flags = 0;
	return 0;
}

/* Rule r into entry e's list: 1 when new, 0 when there already. */
int nm_big_put(struct nm_plan *p, int w, size_t e, const struct nm_port_rule *r)
{
	bool made;
	struct nm_seen_slot *s = nm_seen_get(p, w, e, r, &made);

	if (!s)
		return -ENOMEM;
	if (!made && s->state == SEEN_PRESENT)
		return 0;
	s->state = SEEN_PRESENT;
	return nm_big_append(&p->b[w].big[e], r) ? -ENOMEM : 1;
}

/* Entry e keeps its rules in a list from now on, starting with these n. */
int nm_big_start(struct nm_plan *p, int w, size_t e, const struct nm_port_rule *r, size_t n)
{
	size_t i;
	int ret = 0;

	p->b[w].big[e].on = true;
	for (i = 0; i < n && ret >= 0; i++)
		ret = nm_big_put(p, w, e, &r[i]);
	return ret < 0 ? ret : 0;
}

/* Rule r out of entry e's list: 1 when it was there, 0 when taken out
 * already, -ENOENT when it never was. */
int nm_big_del(struct nm_plan *p, int w, size_t e, const struct nm_port_rule *r)
{
	bool made;
	struct nm_seen_slot *s = nm_seen_get(p, w, e, r, &made);

	if (!s)
		return -ENOMEM;
	if (made) {
		s->state = SEEN_REMOVED; /* not in the store: leave no trace */
		return -ENOENT;
	}
	if (s->state == SEEN_REMOVED)
		return 0;
	s->state = SEEN_REMOVED;
	return 1;
}

/* Entry e of store w starts from a value naming a set: its rules. */
int nm_big_from_set(struct nm_store *s, struct nm_plan *p, int w, size_t e, uint32_t id)
{
	const struct nm_set_rule_key *first;
	size_t n, i;
	int ret = nm_sets_load(&s->sets);

	if (ret)
		return ret;
	n = nm_sets_find(&s->sets, id, &first);
	p->b[w].big[e].on = true;
	for (i = 0; i < n && ret >= 0; i++) {
		struct nm_port_rule r = { first[i].lo, first[i].hi, first[i].protos, 0 };

		ret = nm_big_put(p, w, e, &r);
	}
	return ret < 0 ? ret : 0;
}

/* Was rule r among entry e's rules before the edit? */
bool nm_plan_old_has(struct nm_store *s, const struct nm_batch *b, size_t e, const struct nm_port_rule *r)
{
	uint32_t id;

	if (!b->existed[e])
		return false;
	id = nm_val_set_id(&b->olds[e]);
	if (id)
		return nm_sets_load(&s->sets) == 0 && nm_sets_has(&s->sets, id, r);
	return nm_port_find(&b->olds[e], r) >= 0;
}

/* Port rules of a value of this plan: a set counts its rules, from the
 * plan's new sets or the store's. */
uint64_t nm_plan_val_rules(struct nm_store *s, const struct nm_plan *p, const struct nm_rule_val *v)
{
	uint64_t n = 0;
	size_t k;
	int i;

	for (i = 0; i < v->count && i < NM_PORT_RULES; i++) {
		uint32_t id = nm_port_set_id(&v->r[i]);
		const struct nm_set_rule_key *first;

		if (!nm_port_rule_is_set(&v->r[i])) {
			n++;
			continue;
		}
		for (k = 0; k < p->n_made && p->made[k].id != id; k++)
			;
		n += k < p->n_made ? p->made[k].n : nm_sets_find(&s->sets, id, &first);
	}
	return n;
}

/* Of a value's rules (key k), those only the LSM layer enforces in full:
 * a set's from the plan's new sets or the store's. */
uint64_t nm_plan_val_lsm_only(struct nm_store *s, const struct nm_plan *p, const struct nm_rule_key *k,
			      const struct nm_rule_val *v)
{
	uint64_t n = 0;
	size_t j;
	int i;

	for (i = 0; i < v->count && i < NM_PORT_RULES; i++) {
		uint32_t id = nm_port_set_id(&v->r[i]);

		if (!nm_port_rule_is_set(&v->r[i])) {
			n += nm_rule_lsm_only(k, &v->r[i]);
			continue;
		}
		for (j = 0; j < p->n_made && p->made[j].id != id; j++)
			;
		if (j == p->n_made) {
			struct nm_rule_val one = { .count = 1, .r = { v->r[i] } };

			n += nm_sets_val_lsm_only(&s->sets, k, &one);
			continue;
		}
		for (size_t x = 0; x < p->made[j].n; x++)
			n += nm_rule_lsm_only(k, &p->made[j].r[x]);
	}
	return n;
}

static int nm_port_rule_cmp(const void *a, const void *b)
{
	const struct nm_port_rule *x = a, *y = b;

	if (x->lo != y->lo)
		return x->lo < y->lo ? -1 : 1;
	if (x->hi != y->hi)
		return x->hi < y->hi ? -1 : 1;
	return (int)x->protos - (int)y->protos;
}

/* An entry's rules as a sorted list: fin (the final ones) or old. */
struct nm_rule_list {
	struct nm_port_rule *r;
	size_t n;
};

static int nm_final_rules(struct nm_plan *p, int w, size_t e, struct nm_rule_list *out)
{
	const struct nm_batch *b = &p->b[w];
	const struct nm_big *g = &b->big[e];
	size_t i, n = g->on ? g->n : b->vals[e].count;

	out->n = 0;
	out->r = calloc(n ? n : 1, sizeof(*out->r));
	if (!out->r)
		return -ENOMEM;
	for (i = 0; i < n; i++) {
		bool made;
		const struct nm_port_rule *r = g->on ? &g->r[i] : &b->vals[e].r[i];
		struct nm_seen_slot *s = g->on ? nm_seen_get(p, w, e, r, &made) : NULL;

		if (g->on && (!s || s->state != SEEN_PRESENT))
			continue;
		out->r[out->n] = *r;
		out->r[out->n++].flags = 0;
	}
	qsort(out->r, out->n, sizeof(*out->r), nm_port_rule_cmp);
	return 0;
}

static int nm_old_rules(struct nm_store *s, const struct nm_batch *b, size_t e, struct nm_rule_list *out)
{
	const struct nm_rule_val *o = &b->olds[e];
	uint32_t id = b->existed[e] ? nm_val_set_id(o) : 0;
	const struct nm_set_rule_key *first;
	size_t i, n = !b->existed[e] ? 0 : id ? nm_sets_find(&s->sets, id, &first) : o->count;

	out->n = n;
	out->r = calloc(n ? n : 1, sizeof(*out->r));
	if (!out->r)
		return -ENOMEM;
	for (i = 0; i < n; i++)
		out->r[i] = id ? (struct nm_port_rule){ first[i].lo, first[i].hi, first[i].protos, 0 } : o->r[i];
	qsort(out->r, n, sizeof(*out->r), nm_port_rule_cmp);
	return 0;
}

static bool nm_lists_equal(const struct nm_rule_list *a, const struct nm_rule_list *b)
{
	size_t i;

	if (a->n != b->n)
		return false;
	for (i = 0; i < a->n; i++)
		if (nm_port_rule_cmp(&a->r[i], &b->r[i]))
			return false;
	return true;
}

/* Rules of fin that the old value does not hold inline: the slots an
 * inline final value adds while the edit runs. */
static size_t nm_fresh_slots(const struct nm_rule_list *fin, const struct nm_batch *b, size_t e)
{
	size_t i, n = 0;

	for (i = 0; i < fin->n; i++)
		n += !b->existed[e] || nm_port_find(&b->olds[e], &fin->r[i]) < 0;
	return n;
}

/* Does entry e need a decision here (a list, a set, or inline rules that
 * would not fit beside the old ones or leave no slot for a set later)? */
static bool nm_entry_needs_final(const struct nm_batch *b, size_t e)
{
	const struct nm_rule_val *v = &b->vals[e];
	size_t i, fresh = 0;

	if (b->big[e].on || v->count > NM_INLINE_RULES)
		return true;
	if (!b->existed[e])
		return false;
	if (nm_val_set_id(&b->olds[e]))
		return true;
	for (i = 0; i < v->count; i++)
		fresh += nm_port_find(&b->olds[e], &v->r[i]) < 0;
	return b->olds[e].count + fresh > NM_PORT_RULES;
}

static int nm_plan_made_add(struct nm_plan *p, uint32_t id, struct nm_rule_list *fin)
{
	if (nm_array_grow(&p->made, &p->cap_made, p->n_made + 1, sizeof(*p->made)))
		return -ENOMEM;
	p->made[p->n_made++] = (struct nm_plan_set){ .id = id, .r = fin->r, .n = fin->n };
	p->set_rules_made += fin->n;
	fin->r = NULL; /* the plan owns it now */
	return 0;
}

/* A fresh id for a set of these rules, carrying their port-less classes
 * (nm_set_id_classes): the hooks read them from the naming slot. */
static uint32_t nm_set_new_id(struct nm_sets *S, const struct nm_rule_list *rules)
{
	uint8_t classes = 0;
	size_t i;

	for (i = 0; i < rules->n; i++)
		classes |= nm_port_rule_portless_classes(&rules->r[i]);
	return (++S->top_id & NM_SET_SEQ_MASK) | (uint32_t)classes << NM_SET_CLASS_SHIFT;
}

/*
 * Entry e holds all NM_PORT_RULES slots inline (a layout-3 store) and needs
 * one more for its new set: its rules go into a set of their own first,
 * which the value then names (olds is what the store holds from then on).
 */
static int nm_plan_rehome(struct nm_store *s, struct nm_plan *p, int w, size_t e, struct nm_rule_list *old)
{
	struct nm_batch *b = &p->b[w];
	uint32_t id = nm_set_new_id(&s->sets, old);
	struct nm_rule_val ref = { .prefixlen = b->olds[e].prefixlen, .count = 1 };
	int ret;

	ref.r[0] = nm_port_set_ref(id);
	ret = nm_plan_made_add(p, id, old);
	if (ret)
		return ret;
	p->made[p->n_made - 1].rehome = true;
	p->made[p->n_made - 1].store = w;
	p->made[p->n_made - 1].key = b->keys[e];
	p->made[p->n_made - 1].val = ref;
	b->olds[e] = ref;
	return nm_ids_push(&p->gone, id);
}

/* Entry e's final value from its final rules. */
static int nm_entry_final(struct nm_store *s, struct nm_plan *p, int w, size_t e)
{
	struct nm_batch *b = &p->b[w];
	struct nm_rule_val *v = &b->vals[e];
	struct nm_rule_list fin = {}, old = {};
	uint32_t old_id = b->existed[e] ? nm_val_set_id(&b->olds[e]) : 0;
	int ret = nm_final_rules(p, w, e, &fin);

	if (!ret)
		ret = nm_old_rules(s, b, e, &old);
	if (ret)
		goto out;
	if (b->existed[e] && nm_lists_equal(&fin, &old)) {
		*v = b->olds[e];
		goto out;
	}
	memset(v->r, 0, sizeof(v->r));
	v->count = 0;
	v->prefixlen = b->existed[e] ? b->olds[e].prefixlen : v->prefixlen;
	if (fin.n && fin.n <= NM_INLINE_RULES &&
	    (b->existed[e] ? b->olds[e].count : 0) + nm_fresh_slots(&fin, b, e) <= NM_PORT_RULES) {
		memcpy(v->r, fin.r, fin.n * sizeof(*fin.r));
		v->count = (uint8_t)fin.n;
	} else if (fin.n) {
		uint32_t id;

		if (b->existed[e] && b->olds[e].count + 1 > NM_PORT_RULES)
			ret = nm_plan_rehome(s, p, w, e, &old);
		id = nm_set_new_id(&s->sets, &fin);
		v->r[0] = nm_port_set_ref(id);
		v->count = 1;
		if (!ret)
			ret = nm_plan_made_add(p, id, &fin);
	}
	if (!ret && old_id)
		ret = nm_ids_push(&p->gone, old_id);
out:
	free(fin.r);
	free(old.r);
	return ret;
}

/* The lists, once every final value is decided (or the plan failed). */
static void nm_plan_lists_free(struct nm_plan *p)
{
	size_t e;
	int w;

	for (w = 0; w < NM_STORES; w++) {
		for (e = 0; p->b[w].big && e < p->b[w].n; e++)
			free(p->b[w].big[e].r);
		free(p->b[w].big);
		p->b[w].big = NULL;
	}
}

/*
 * Every entry's final value, once the plan has all its rules; then the
 * check that the new sets fit beside the old ones (both exist until the
 * switch has happened).
 */
int nm_plan_finalize(struct nm_store *s, struct nm_plan *p, char *err, size_t errlen)
{
	size_t e;
	int w, ret = 0;

	for (w = 0; w < NM_STORES && !ret; w++)
		for (e = 0; e < p->b[w].n && !ret; e++)
			if (nm_entry_needs_final(&p->b[w], e)) {
				ret = nm_sets_load(&s->sets);
				if (!ret)
					ret = nm_entry_final(s, p, w, e);
			}
	nm_plan_lists_free(p); /* compaction after this moves entries, not lists */
	if (ret)
		return STORE_ERR(ret, "planning port sets: %s", strerror(-ret));
	if (!p->n_made)
		return 0;
	if (s->sets.n_sets + p->n_made > s->sets.max_sets)
		return STORE_ERR(-ENOSPC, "port sets full: %zu prefixes with more than %d port rules, "
				 "%zu more while the edit runs, max %u", s->sets.n_sets, NM_INLINE_RULES,
				 p->n_made, s->sets.max_sets);
	if (s->sets.n + p->set_rules_made > s->sets.max_rules)
		return STORE_ERR(-ENOSPC, "port sets full: they hold %zu port rules, %zu more while the "
				 "edit runs, max %u", s->sets.n, p->set_rules_made, s->sets.max_rules);
	return 0;
}

void nm_plan_sets_free(struct nm_plan *p)
{
	size_t i;

	nm_plan_lists_free(p);
	for (i = 0; i < p->n_made; i++)
		free(p->made[i].r);
	free(p->made);
	free(p->gone.v);
	free(p->seen.slot);
}
