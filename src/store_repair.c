// SPDX-License-Identifier: GPL-2.0
/*
 * What a killed edit leaves behind, and its repair. An edit that writes
 * marks the store first (a directory below maps/, so the mark lives on
 * bpffs with the maps it speaks for) and clears the mark when it is done
 * (store_txn.c). The next edit that finds the mark makes the store what
 * the active generation says, before its own work: a rule hidden from the
 * active generation goes (the killed edit had not switched to it, or had
 * and it was a del), and every rule goes when the active generation's meta
 * counts none (a flush had switched, or a bulk load had not), every other
 * rule is kept in both generations; then
 * meta of both generations is counted from the maps again and every
 * bucket slot set from the trie's keys. The hooks see no change meanwhile:
 * only rules they do not see go. Killed itself, the repair is repeated.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include "store_internal.h"

struct nm_repair nm_store_last_repair;

static void nm_edit_mark_path(char *buf, size_t len)
{
	nm_pin_path(buf, len, "maps", NM_EDIT_MARK);
}

bool nm_edit_marked(void)
{
	char path[NM_PATH_MAX];

	nm_edit_mark_path(path, sizeof(path));
	return access(path, F_OK) == 0;
}

/* For readers: the mark is there and no command holds the lock, so the
 * edit that made it is gone (a running edit has its mark too). */
bool nm_store_interrupted(void)
{
	int lock;

	if (!nm_edit_marked())
		return false;
	lock = nm_lock_try_shared();
	if (lock == -EWOULDBLOCK)
		return false;
	if (lock >= 0)
		close(lock);
	return true;
}

int nm_edit_mark(void)
{
	char path[NM_PATH_MAX];

	nm_edit_mark_path(path, sizeof(path));
	return mkdir(path, 0700) && errno != EEXIST ? -errno : 0;
}

void nm_edit_done(void)
{
	char path[NM_PATH_MAX];

	nm_edit_mark_path(path, sizeof(path));
	rmdir(path);
}

/* The entry as the active generation has it (nothing when that generation
 * is empty), flags cleared; true when that differs from what the map holds. */
static bool nm_entry_settled(const struct nm_rule_val *v, uint32_t gen, bool empty, struct nm_rule_val *out)
{
	int i;

	*out = *v;
	out->count = 0;
	memset(out->r, 0, sizeof(out->r));
	for (i = 0; i < v->count && i < NM_PORT_RULES; i++) {
		if (empty || !nm_port_rule_in_gen(&v->r[i], gen))
			continue;
		out->r[out->count] = v->r[i];
		out->r[out->count++].flags = 0;
	}
	return memcmp(out, v, sizeof(*v)) != 0;
}

/*
 * One map: every entry settled to the active generation, and counted into
 * m. Keys are the map's own (hosts: full query length, so only trie keys
 * say which prefix length they are); the trie keys that remain go back in
 * *keys for the buckets.
 */
static int nm_repair_map(int fd, int which, uint32_t gen, bool empty, const struct nm_sets *S,
			 struct nm_ids *named, struct nm_meta *m, struct nm_rule_key **keys, size_t *n,
			 struct nm_repair *r)
{
	struct nm_rule_val *vals = NULL, val, fin;
	size_t i, kept = 0;
	int ret = nm_read_entries(fd, keys, &vals, n);

	for (i = 0; !ret && i < *n; i++) {
		val = vals[i];
		if (nm_entry_settled(&val, gen, empty, &fin)) {
			r->dropped += nm_sets_val_rules(S, &val) - nm_sets_val_rules(S, &fin);
			ret = fin.count ? bpf_map_update_elem(fd, &(*keys)[i], &fin, BPF_ANY)
					: bpf_map_delete_elem(fd, &(*keys)[i]);
			ret = ret ? -errno : 0;
		}
		if (ret || !fin.count)
			continue;
		if (nm_val_set_id(&fin))
			ret = nm_ids_push(named, nm_val_set_id(&fin));
		nm_meta_add(m, &(*keys)[i], nm_sets_val_rules(S, &fin), nm_sets_val_lsm_only(S, &(*keys)[i], &fin));
		m->prefixes++;
		if (which == NM_HOSTS)
			m->hosts++;
		else
			(*nm_len_slot(m, &(*keys)[i]))++;
		(*keys)[kept++] = (*keys)[i];
	}
	free(vals);
	*n = kept;
	return ret;
}

int nm_store_repair(struct nm_store *s, struct nm_repair *r)
{
	struct nm_rule_key *keys[NM_STORES] = {};
	size_t n[NM_STORES] = {};
	struct nm_ids named = {};
	struct nm_meta m = {};
	int w, ret = nm_sets_load(&s->sets);

	r->gen = s->gen;
	for (w = 0; w < NM_STORES && !ret; w++)
		ret = nm_repair_map(s->fd[w], w, s->gen, s->meta.rules == 0, &s->sets, &named, &m, &keys[w],
				    &n[w], r);
	/* then the sets no value names: a killed edit's new or old ones */
	if (!ret)
		ret = nm_sets_keep_only(&s->sets, named.v, named.n, &r->sets);
	if (!ret)
		ret = nm_buckets_rebuild(s->buckets_fd, keys, n, &r->slots);
	if (!ret) {
		r->rules_before = s->meta.rules;
		r->rules_after = m.rules;
		s->meta = m;
		ret = nm_meta_write_gen(s->gen, &m);
	}
	if (!ret)
		ret = nm_meta_write_gen(s->gen ^ 1, &m);
	for (w = 0; w < NM_STORES; w++)
		free(keys[w]);
	free(named.v);
	return ret;
}

/* Count the pinned maps' rules of generation gen (port sets only from
 * layout 4 on; nothing is written), for `load` migrating a store whose
 * meta has another layout or may miscount. */
int nm_store_recount(uint32_t gen, bool with_sets, struct nm_meta *m)
{
	struct nm_sets none = { .loaded = true }, sets;
	struct nm_sets *S = &none;
	struct nm_ids named = {};
	struct nm_repair r = {};
	int w, ret = 0;

	memset(m, 0, sizeof(*m));
	if (with_sets) {
		ret = nm_sets_open(&sets);
		if (!ret)
			ret = nm_sets_load(&sets);
		if (ret) {
			nm_sets_close(&sets);
			return ret;
		}
		S = &sets;
	}
	for (w = 0; w < NM_STORES && !ret; w++) {
		struct nm_rule_key *keys = NULL;
		size_t n = 0;
		int fd = nm_open_map(nm_store_names[w]);

		if (fd < 0)
			return fd;
		ret = nm_repair_map(fd, w, gen, false, S, &named, m, &keys, &n, &r);
		free(keys);
		close(fd);
	}
	free(named.v);
	if (with_sets)
		nm_sets_close(&sets);
	return ret;
}

int nm_store_recount_buckets(int buckets_fd, uint64_t *written)
{
	struct nm_rule_key *keys[NM_STORES] = {};
	size_t n[NM_STORES] = {};
	int w, fd, ret = 0;

	for (w = 0; w < NM_STORES && !ret; w++) {
		struct nm_rule_val *vals = NULL;

		fd = nm_open_map(nm_store_names[w]);
		if (fd < 0) {
			ret = fd;
			break;
		}
		ret = nm_read_entries(fd, &keys[w], &vals, &n[w]);
		free(vals);
		close(fd);
	}
	if (!ret)
		ret = nm_buckets_rebuild(buckets_fd, keys, n, written);
	for (w = 0; w < NM_STORES; w++)
		free(keys[w]);
	return ret;
}

int nm_store_open_edit(struct nm_store *s, char *err, size_t errlen)
{
	struct nm_repair r = {};
	int ret = nm_store_open(s);

	if (ret == -EPROTO)
		return STORE_ERR(ret, "the pinned state has another layout than %d: 'netmonctl load' "
				 "migrates an older one and keeps every rule enforced", NM_LAYOUT_VERSION);
	if (ret)
		return STORE_ERR(ret, "cannot open the rule store: %s", strerror(-ret));
	if (!nm_edit_marked()) /* the caller holds the lock: a mark is a killed edit's */
		return 0;
	ret = nm_store_repair(s, &r);
	if (ret) {
		nm_store_close(s);
		return STORE_ERR(ret, "repairing what an interrupted edit left: %s", strerror(-ret));
	}
	nm_edit_done();
	nm_store_last_repair = r;
	nm_store_last_repair.done = true;
	return 0;
}
