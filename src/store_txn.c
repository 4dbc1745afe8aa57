// SPDX-License-Identifier: GPL-2.0
/*
 * One edit of the rule store, as one transaction the hooks see whole.
 *
 * The store holds two generations of the rule set in the same entries
 * (bpf/netmonctl.h: a port rule hidden from a generation is not in it) and
 * config.active_gen says which one the hooks use. An edit, planned in full
 * before its first write (store_plan.c), goes:
 *   1. mark the store (the edit mark, store_repair.c);
 *   2. write the new port sets (store_sets.c: no value names them yet),
 *      the other generation's meta, count the new prefixes into their
 *      buckets (host rules and prefixes alike);
 *   3. build: write each changed entry with the old rules that stay, the
 *      old rules that go hidden from the other generation, and the new
 *      rules hidden from the active one: the active generation is
 *      unchanged, entry by entry;
 *   4. switch: active_gen = the other generation, one write (the commit);
 *   5. settle: write each entry's final rules without flags, delete the
 *      entries left empty and take them out of their buckets, copy meta to
 *      the generation now inactive, delete the sets no entry names;
 *   6. clear the mark.
 * Killed before 4, the hooks still see the old set; after it, the new
 * one. A rule in both sets is in both generations throughout, so it is
 * never lifted, not even for an instant. The next edit that finds the
 * mark cleans up (nm_store_repair): keeps what the active generation has.
 *
 * Two shortcuts, because a generation whose meta counts no rule is empty
 * for the hooks whatever its entries hold: an edit from an empty set (a
 * bulk load) writes the final values in step 3 and has nothing to settle,
 * and an edit to an empty set (a flush) writes nothing before the switch.
 *
 * Why flags in the entries, not two copies of the maps flipped as a whole:
 * a single `deny add` stays a few writes at any store size, and memory does
 * not double. The cost is that every entry an edit touches is written twice
 * (steps 3 and 5), and that a prefix must fit its old and its new slots at
 * once while the edit runs: at rest it holds at most NM_INLINE_RULES rules
 * or one set, and a prefix that would outgrow its slots gets a new set.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include "store_internal.h"

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

struct nm_txn {
	struct nm_store *s;
	struct nm_plan *p;
	uint32_t gen; /* active before the switch */
	bool from_empty, to_empty;
	struct nm_meta after;
	struct nm_batch build[NM_STORES]; /* p's batches with the values of step 3 */
	struct nm_rule_val *owned[NM_STORES]; /* build values made here, to free */
};

/* The text of one port rule of a plan entry, for messages. */
static void nm_entry_text(const struct nm_batch *b, size_t i, const struct nm_port_rule *p, char *buf,
			  size_t len)
{
	struct nm_rule_key key = b->keys[i];
	struct nm_rule r;

	key.prefixlen = b->vals[i].prefixlen; /* a hosts key carries the full query length */
	nm_rule_from_key(&key, p, &r);
	nm_rule_format(&r, buf, len);
}

/*
 * What the entry holds while the edit runs: the old rules (hidden from the
 * other generation if they go), then the new ones (hidden from the active
 * generation); slots naming a set before all others (NM_SET_SLOTS).
 */
static int nm_build_value(const struct nm_batch *b, size_t i, uint32_t gen, struct nm_rule_val *out,
			  char *err, size_t errlen)
{
	const struct nm_rule_val *fin = &b->vals[i];
	int k, c = 0, sets;

	memset(out, 0, sizeof(*out));
	out->prefixlen = fin->prefixlen;
	for (sets = 1; sets >= 0; sets--) {
		for (k = 0; b->existed[i] && k < b->olds[i].count; k++) {
			if (nm_port_rule_is_set(&b->olds[i].r[k]) != sets)
				continue;
			out->r[c] = b->olds[i].r[k];
			out->r[c].flags = nm_port_find(fin, &out->r[c]) >= 0 ? 0 : NM_PR_HIDE(gen ^ 1);
			c++;
		}
		for (k = 0; k < fin->count; k++) {
			if (nm_port_rule_is_set(&fin->r[k]) != sets ||
			    (b->existed[i] && nm_port_find(&b->olds[i], &fin->r[k]) >= 0))
				continue;
			if (c >= NM_PORT_RULES || (sets && c >= NM_SET_SLOTS)) {
				char text[NM_RULE_TEXT_MAX];

				nm_entry_text(b, i, &fin->r[k], text, sizeof(text));
				return STORE_ERR(-ENOSPC, "%s: while the switch runs its prefix would hold more "
						 "than %d port rules (the old and the new ones)", text, NM_PORT_RULES);
			}
			out->r[c] = fin->r[k];
			out->r[c].flags = NM_PR_HIDE(gen);
			c++;
		}
	}
	out->count = c;
	return 0;
}

/*
 * The counts after the edit, and the check that the store can hold the
 * edit while it runs: the new prefixes are there before the emptied ones
 * go, so capacity and the walk's depth are checked on both together.
 */
static int nm_txn_account(struct nm_txn *t, char *err, size_t errlen)
{
	struct nm_meta during = t->s->meta;
	size_t i;
	int w;

	if (t->p->flush) {
		memset(&t->after, 0, sizeof(t->after));
		return 0;
	}
	t->after = t->s->meta;
	for (w = 0; w < NM_STORES; w++) {
		const struct nm_batch *b = &t->p->b[w];
		uint64_t have = w == NM_HOSTS ? during.hosts : during.prefixes - during.hosts, fresh = 0;

		for (i = 0; i < b->n; i++) {
			bool gone = b->existed[i] && b->vals[i].count == 0;
			int64_t d = (int64_t)nm_plan_val_rules(t->s, t->p, &b->vals[i]) -
				    (int64_t)(b->existed[i] ? nm_plan_val_rules(t->s, t->p, &b->olds[i]) : 0);

			nm_meta_add(&t->after, &b->keys[i], d,
				    (int64_t)nm_plan_val_lsm_only(t->s, t->p, &b->keys[i], &b->vals[i]) -
				    (int64_t)(b->existed[i] ? nm_plan_val_lsm_only(t->s, t->p, &b->keys[i], &b->olds[i]) : 0));
			fresh += !b->existed[i];
			if (!b->existed[i] || gone) {
				int64_t one = gone ? -1 : 1;

				t->after.prefixes += one;
				if (w == NM_HOSTS)
					t->after.hosts += one;
				*nm_len_slot(&t->after, &b->keys[i]) += (uint32_t)one;
				if (!gone)
					(*nm_len_slot(&during, &b->keys[i]))++;
			}
		}
		if (have + fresh > t->s->max[w])
			return STORE_ERR(-ENOSPC, "rule store full: %s holds %llu + %llu new > %u (load with 'entries N')",
					 nm_store_names[w], (unsigned long long)have,
					 (unsigned long long)fresh, t->s->max[w]);
	}
	return nm_chain_ok(&during, err, errlen);
}

static int nm_txn_builds(struct nm_txn *t, char *err, size_t errlen)
{
	int w, ret = 0;
	size_t i;

	t->from_empty = t->s->meta.rules == 0;
	t->to_empty = t->after.rules == 0;
	for (w = 0; w < NM_STORES && !ret; w++) {
		struct nm_batch *b = &t->p->b[w];

		t->build[w] = *b;
		if (t->from_empty || t->to_empty) {
			/* the final values, or nothing */
			t->build[w].n = t->to_empty ? 0 : b->n;
			continue;
		}
		t->build[w].vals = t->owned[w] = nm_calloc_big(b->n ? b->n : 1, sizeof(*b->vals));
		if (!t->build[w].vals)
			return STORE_ERR(-ENOMEM, "out of memory for %zu entries", b->n);
		for (i = 0; i < b->n && !ret; i++)
			ret = nm_build_value(b, i, t->gen, &t->build[w].vals[i], err, errlen);
	}
	return ret;
}

/* Step 2, the new port sets: no value names them yet. *made: how many. */
static int nm_txn_write_sets(struct nm_txn *t, size_t *made)
{
	int ret = 0;

	size_t i;

	for (*made = 0; !ret && *made < t->p->n_made; (*made)++) {
		const struct nm_plan_set *set = &t->p->made[*made];

		ret = nm_sets_write(&t->s->sets, set->id, set->r, set->n);
	}
	/* a value's own rules, now named through a set: the same rule set */
	for (i = 0; !ret && i < t->p->n_made; i++) {
		const struct nm_plan_set *set = &t->p->made[i];

		if (set->rehome && bpf_map_update_elem(t->s->fd[set->store], &set->key, &set->val, BPF_EXIST))
			ret = -errno;
	}
	return ret;
}

/* After the switch: the sets no value names any more. A flush read no
 * values, so it does not know them: every set goes. */
static int nm_txn_drop_sets(struct nm_txn *t)
{
	size_t i;
	int ret = 0;

	if (t->p->flush)
		return nm_sets_keep_only(&t->s->sets, NULL, 0, NULL);
	for (i = 0; !ret && i < t->p->gone.n; i++)
		ret = nm_sets_delete(&t->s->sets, t->p->gone.v[i]);
	return ret;
}

static const size_t nm_from_start[NM_STORES];

/* Back to the state before step 2, after a failure before the switch;
 * best effort: what it cannot undo, the mark leaves to the repair. */
static int nm_txn_undo(struct nm_txn *t, const size_t done[NM_STORES], bool bucketed, size_t sets_made)
{
	int w, ret = 0;
	size_t i;

	for (i = 0; i < sets_made; i++) {
		const struct nm_plan_set *set = &t->p->made[i];

		if (set->rehome) /* a value may name it now: the repair decides */
			continue;
		if (nm_sets_delete_rules(&t->s->sets, set->id, set->r, set->n) && !ret)
			ret = -EIO;
	}

	for (w = 0; w < NM_STORES; w++) {
		struct nm_batch *b = &t->p->b[w];

		for (i = 0; i < done[w]; i++) {
			int r = b->existed[i] ? bpf_map_update_elem(t->s->fd[w], &b->keys[i], &b->olds[i], BPF_ANY)
					      : bpf_map_delete_elem(t->s->fd[w], &b->keys[i]);
			if (r && !ret)
				ret = -errno;
		}
	}
	if (bucketed && nm_buckets_add(t->s, t->p->b, nm_from_start, true, -1) && !ret)
		ret = -EIO;
	return ret;
}

/* Step 4: the commit. */
static int nm_txn_switch(struct nm_txn *t)
{
	struct nm_config cfg;
	int ret = nm_config_read(&cfg);

	if (!ret) {
		cfg.active_gen = t->gen ^ 1;
		ret = nm_config_write(&cfg);
	}
	return ret;
}

/* Step 5: final values written, emptied entries deleted (the hash and the
 * trie from two threads), then their buckets. */
static int nm_txn_settle(struct nm_txn *t)
{
	struct nm_batch view[NM_STORES];
	struct nm_apply_job job[NM_STORES];
	size_t keep[NM_STORES];
	int w, ret;

	for (w = 0; w < NM_STORES; w++) {
		keep[w] = nm_del_partition(&t->p->b[w]);
		view[w] = t->p->b[w];
		if (t->from_empty) { /* the kept ones were written final in step 3 */
			view[w].keys += keep[w];
			view[w].vals += keep[w];
			view[w].n -= keep[w];
		}
		job[w] = (struct nm_apply_job){ .fd = t->s->fd[w], .b = &view[w],
						.n_delete = t->p->b[w].n - keep[w] };
	}
	ret = nm_apply_both(&job[NM_HOSTS], &job[NM_NETS]);
	if (!ret)
		ret = nm_buckets_add(t->s, t->p->b, keep, false, -1);
	if (!ret)
		ret = nm_meta_write_gen(t->gen, &t->after);
	if (!ret)
		ret = nm_txn_drop_sets(t);
	return ret;
}

int nm_txn_commit(struct nm_store *s, struct nm_plan *p, char *err, size_t errlen)
{
	struct nm_txn t = { .s = s, .p = p, .gen = s->gen };
	struct nm_apply_job jh = { .fd = s->fd[NM_HOSTS], .b = &t.build[NM_HOSTS] };
	struct nm_apply_job jn = { .fd = s->fd[NM_NETS], .b = &t.build[NM_NETS] };
	size_t done[NM_STORES] = {}, sets_made = 0;
	bool bucketed = false;
	int ret;

	if (!p->b[NM_HOSTS].n && !p->b[NM_NETS].n)
		return 0; /* nothing changes: no switch */
	ret = nm_txn_account(&t, err, errlen);
	if (!ret)
		ret = nm_txn_builds(&t, err, errlen);
	if (!ret)
		ret = nm_edit_mark();
	if (ret)
		goto out;
	ret = nm_txn_write_sets(&t, &sets_made);
	if (!ret)
		ret = nm_meta_write_gen(t.gen ^ 1, &t.after);
	if (!ret) {
		ret = nm_buckets_add(s, p->b, nm_from_start, true, +1);
		bucketed = !ret;
	}
	if (!ret) {
		ret = nm_apply_both(&jh, &jn);
		done[NM_HOSTS] = jh.done;
		done[NM_NETS] = jn.done;
	}
	if (!ret)
		ret = nm_txn_switch(&t);
	if (ret) {
		snprintf(err, errlen, "update failed: %s (%s); nothing changed", strerror(-ret),
			 nm_errno_name(ret));
		if (nm_txn_undo(&t, done, bucketed, sets_made) == 0)
			nm_edit_done();
		goto out;
	}
	/* Committed. A failure from here on leaves the mark: the next edit
	 * finishes the clean-up, and the hooks already see the new set. */
	if (nm_txn_settle(&t) == 0)
		nm_edit_done();
	s->meta = t.after;
	s->gen ^= 1;
out:
	free(t.owned[NM_HOSTS]);
	free(t.owned[NM_NETS]);
	return ret;
}
