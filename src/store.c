// SPDX-License-Identifier: GPL-2.0
/*
 * The rule store. Each prefix is one entry holding every port rule of that
 * prefix: host prefixes (/32, /128) in the `hosts` hash, shorter ones in the
 * `nets` LPM trie, and `buckets` counts where in the address space the trie
 * has entries (see bpf/netmonctl.h). Edits are validated completely before
 * the first write and rolled back if the kernel refuses one, so a bulk add
 * is all-or-nothing.
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
}

int nm_store_open(struct nm_store *s)
{
	int i, err = 0;

	s->fd[NM_HOSTS] = s->fd[NM_NETS] = s->buckets_fd = -1;
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
		err = s->buckets_fd < 0 ? s->buckets_fd : 0;
	}
	if (!err)
		err = nm_meta_read(&s->meta);
	if (err)
		nm_store_close(s);
	return err;
}
/* ---- add ---- */

/*
 * Order matters while the hooks run, and for whatever a kill leaves behind:
 * - the counts in `meta` go up first, so however the command ends they
 *   never under-count the prefix lengths in use, which is what keeps the
 *   kernel's walk within NM_MAX_DEPTH (nm_chain_ok);
 * - bucket counts go up before the trie entries appear, so no new prefix
 *   is ever skipped;
 * - on failure, entries go first, then the bucket counts, then the meta
 *   counts, each undone only if it was done.
 */
static int nm_plan_apply(struct nm_store *s, struct nm_plan *p, const struct nm_meta *before,
			 char *err, size_t errlen)
{
	struct nm_batch *nets = &p->b[NM_NETS], *hosts = &p->b[NM_HOSTS];
	struct nm_apply_job jh = { .fd = s->fd[NM_HOSTS], .b = hosts };
	struct nm_apply_job jn = { .fd = s->fd[NM_NETS], .b = nets };
	bool counted = false, bucketed = false;
	int ret = nm_meta_write(&s->meta);

	if (!ret) {
		counted = true;
		ret = nm_buckets_add(s, nets->keys, nets->fresh, nets->n, +1);
	}
	if (!ret) {
		bucketed = true;
		ret = nm_apply_both(&jh, &jn);
	}
	if (ret) {
		nm_batch_undo(s->fd[NM_HOSTS], hosts, jh.done);
		nm_batch_undo(s->fd[NM_NETS], nets, jn.done);
		if (bucketed)
			nm_buckets_add(s, nets->keys, nets->fresh, nets->n, -1);
		if (counted)
			nm_meta_write(before);
		snprintf(err, errlen, "update failed: %s (%s); nothing applied",
			 strerror(-ret), nm_errno_name(ret));
	}
	return ret;
}

int nm_store_add(const struct nm_rule *rules, size_t n, size_t *added, char *err, size_t errlen)
{
	struct nm_plan plan = {};
	struct nm_store s;
	struct nm_meta before;
	int ret;

	*added = 0;
	ret = nm_store_open_edit(&s, err, errlen);
	if (ret)
		return ret;
	before = s.meta;
	ret = nm_plan_build(&s, rules, n, &plan, err, errlen);
	if (!ret)
		ret = nm_plan_account(&s, &plan, err, errlen);
	if (!ret)
		ret = nm_edit_mark();
	if (!ret)
		ret = nm_plan_apply(&s, &plan, &before, err, errlen);
	if (!ret) {
		nm_edit_done();
		*added = plan.added;
	}
	nm_plan_free(&plan);
	nm_store_close(&s);
	return ret;
}

/* ---- del, walk, flush ---- */

int nm_store_walk(nm_rule_cb cb, void *arg)
{
	struct nm_rule_key key, next;
	struct nm_rule_val val;
	struct nm_rule r;
	int w, fd, ret = 0, i;

	for (w = 0; w < NM_STORES && !ret; w++) {
		void *prev = NULL;

		fd = nm_open_map(nm_store_names[w]);
		if (fd < 0)
			return fd;
		while (!ret && bpf_map_get_next_key(fd, prev, &next) == 0) {
			key = next;
			prev = &key;
			if (bpf_map_lookup_elem(fd, &key, &val))
				continue; /* deleted meanwhile */
			next = key;
			next.prefixlen = val.prefixlen; /* hosts keys carry the full query length */
			for (i = 0; i < val.count && i < NM_PORT_RULES && !ret; i++) {
				nm_rule_from_key(&next, &val.r[i], &r);
				ret = cb(&r, arg);
			}
		}
		close(fd);
	}
	return ret;
}

/* Put back the value every entry of b had; best effort, error path only. */
static void nm_del_undo(int fd, struct nm_batch *b)
{
	size_t i;

	for (i = 0; i < b->n; i++)
		bpf_map_update_elem(fd, &b->keys[i], &b->olds[i], BPF_ANY);
}

/* One batch update for the entries that keep rules, batch deletes for the rest. */
static int nm_del_entries(int fd, struct nm_batch *b, size_t keep)
{
	struct nm_batch upd = *b;
	size_t done;
	int ret;

	upd.n = keep;
	ret = nm_batch_apply(fd, &upd, &done);
	if (!ret)
		ret = nm_delete_keys(fd, &b->keys[keep], b->n - keep);
	return ret;
}

static void nm_del_account(struct nm_meta *m, const struct nm_plan *p, const size_t keep[NM_STORES])
{
	size_t i;
	int w;

	m->rules -= p->added;
	for (w = 0; w < NM_STORES; w++) {
		const struct nm_batch *b = &p->b[w];

		m->prefixes -= b->n - keep[w];
		if (w == NM_HOSTS)
			m->hosts -= b->n - keep[w];
		for (i = keep[w]; w == NM_NETS && i < b->n; i++)
			(*nm_len_slot(m, &b->keys[i]))--;
	}
}

/*
 * Dels, one or many, all or nothing, in the reverse of an add's order:
 * entries change first (batch updates and deletes: the hooks stop
 * matching), then the bucket counts of the trie prefixes that went away
 * come down, then the meta counts; a kill at any point leaves counts that
 * over-count, never under. An error puts back what was done, counts
 * before entries, so an error means nothing changed.
 */
int nm_store_del_many(const struct nm_rule *rules, size_t n, size_t *removed, char *err, size_t errlen)
{
	struct nm_plan plan = {};
	struct nm_batch *hosts = &plan.b[NM_HOSTS], *nets = &plan.b[NM_NETS];
	size_t keep[NM_STORES];
	bool bucketed = false;
	struct nm_store s;
	int ret;

	*removed = 0;
	ret = nm_store_open_edit(&s, err, errlen);
	if (ret)
		return ret;
	ret = nm_del_plan_build(&s, rules, n, &plan, err, errlen);
	if (!ret)
		ret = nm_edit_mark();
	if (ret)
		goto out;
	keep[NM_HOSTS] = nm_del_partition(hosts);
	keep[NM_NETS] = nm_del_partition(nets);
	ret = nm_del_entries(s.fd[NM_HOSTS], hosts, keep[NM_HOSTS]);
	if (!ret)
		ret = nm_del_entries(s.fd[NM_NETS], nets, keep[NM_NETS]);
	if (!ret) {
		ret = nm_buckets_add(&s, &nets->keys[keep[NM_NETS]], NULL, nets->n - keep[NM_NETS], -1);
		bucketed = !ret;
	}
	if (!ret) {
		nm_del_account(&s.meta, &plan, keep);
		ret = nm_meta_write(&s.meta);
	}
	if (ret) {
		if (bucketed)
			nm_buckets_add(&s, &nets->keys[keep[NM_NETS]], NULL, nets->n - keep[NM_NETS], +1);
		nm_del_undo(s.fd[NM_HOSTS], hosts);
		nm_del_undo(s.fd[NM_NETS], nets);
		snprintf(err, errlen, "delete failed: %s (%s); nothing changed", strerror(-ret),
			 nm_errno_name(ret));
	}
out:
	if (!ret) {
		nm_edit_done();
		*removed = plan.added;
	}
	nm_plan_free(&plan);
	nm_store_close(&s);
	return ret;
}

int nm_store_flush(uint64_t *removed)
{
	struct nm_store s;
	char msg[256];
	int w, ret = nm_store_open_edit(&s, msg, sizeof(msg));

	if (ret)
		return ret;
	ret = nm_edit_mark();
	/* Trie entries go before their bucket counts, as in nm_plan_apply. */
	for (w = 0; w < NM_STORES && !ret; w++) {
		struct nm_rule_key *keys = NULL;
		size_t n = 0;

		ret = nm_collect_keys(s.fd[w], &keys, &n);
		if (!ret)
			ret = nm_delete_keys(s.fd[w], keys, n);
		/* Only the slots these prefixes counted in: rewriting all 3.3M
		 * slots took 0.6 s even for an empty store. */
		if (!ret && w == NM_NETS)
			ret = nm_buckets_add(&s, keys, NULL, n, -1);
		free(keys);
	}
	if (!ret) {
		*removed = s.meta.rules;
		memset(&s.meta, 0, sizeof(s.meta));
		ret = nm_meta_write(&s.meta);
	}
	if (!ret)
		nm_edit_done();
	nm_store_close(&s);
	return ret;
}
