// SPDX-License-Identifier: GPL-2.0
/*
 * What a killed edit leaves behind, and its repair. An edit that writes
 * marks the store first (a directory below maps/, so the mark lives on
 * bpffs with the maps it speaks for) and clears the mark when it is done.
 * The next edit that finds the mark recounts everything user space keeps
 * about the maps (`meta`: rules, prefixes, the prefix lengths in use) and
 * sets every bucket slot from the trie's keys before its own work, so
 * `status` counts what `deny list` lists and the gate counts what the trie
 * holds. What the killed edit had written stays written: layout 2 has no
 * way to take it back as one step (docs/store-v3.md).
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

bool nm_store_interrupted(void)
{
	char path[NM_PATH_MAX];

	nm_edit_mark_path(path, sizeof(path));
	return access(path, F_OK) == 0;
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

/* Count one map's entries into m; keys are the map's own (hosts: full
 * query length, so only trie keys say which prefix length they are). */
static int nm_recount(int fd, int which, struct nm_meta *m, struct nm_rule_key **keys, size_t *n)
{
	struct nm_rule_val val;
	size_t i;
	int ret = nm_collect_keys(fd, keys, n);

	for (i = 0; !ret && i < *n; i++) {
		if (bpf_map_lookup_elem(fd, &(*keys)[i], &val))
			continue;
		m->rules += val.count;
		m->prefixes++;
		if (which == NM_HOSTS)
			m->hosts++;
		else
			(*nm_len_slot(m, &(*keys)[i]))++;
	}
	return ret;
}

int nm_store_repair(struct nm_store *s, struct nm_repair *r)
{
	struct nm_rule_key *keys[NM_STORES] = {};
	size_t n[NM_STORES] = {};
	struct nm_meta m = {};
	int w, ret = 0;

	for (w = 0; w < NM_STORES && !ret; w++)
		ret = nm_recount(s->fd[w], w, &m, &keys[w], &n[w]);
	if (!ret)
		ret = nm_buckets_rebuild(s, keys[NM_NETS], n[NM_NETS], &r->slots);
	if (!ret) {
		r->rules_before = s->meta.rules;
		r->rules_after = m.rules;
		s->meta = m;
		ret = nm_meta_write(&m);
	}
	for (w = 0; w < NM_STORES; w++)
		free(keys[w]);
	return ret;
}

int nm_store_open_edit(struct nm_store *s, char *err, size_t errlen)
{
	struct nm_repair r = {};
	int ret = nm_store_open(s);

	if (ret)
		return STORE_ERR(ret, "cannot open the rule store: %s", strerror(-ret));
	if (!nm_store_interrupted())
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
