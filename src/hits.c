// SPDX-License-Identifier: GPL-2.0
/*
 * Per-rule hit counts (`rule_hits`, bpf/netmonctl.h struct nm_hit_key):
 * read once into a sorted table for a listing, and pruned after an edit
 * that removed rules, so that a rule added again starts from 0.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "nm.h"


static int nm_hit_cmp(const void *a, const void *b)
{
	return memcmp(&((const struct nm_hit *)a)->k, &((const struct nm_hit *)b)->k, sizeof(struct nm_hit_key));
}

void nm_rule_hit_key(const struct nm_rule *r, struct nm_hit_key *hk)
{
	memset(hk, 0, sizeof(*hk));
	nm_rule_key(r, &hk->key);
	hk->lo = r->port.lo;
	hk->hi = r->port.hi;
	hk->protos = r->port.protos;
}

void nm_hits_free(struct nm_hits *h)
{
	free(h->v);
	h->v = NULL;
	h->n = 0;
}

/* Every entry, sorted by key (rule key first, so one rule's set entries
 * lie together). An empty or missing map is an empty table. */
int nm_hits_load(struct nm_hits *h)
{
	struct nm_hit_key k, next;
	size_t cap = 0;
	int fd = nm_open_map(NM_MAP_RULE_HITS), ret = 0;
	void *prev = NULL;

	memset(h, 0, sizeof(*h));
	if (fd < 0)
		return fd == -ENOENT ? 0 : fd;
	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		k = next;
		prev = &k;
		if (h->n == cap && nm_array_grow(&h->v, &cap, h->n + 1, sizeof(*h->v))) {
			ret = -ENOMEM;
			break;
		}
		h->v[h->n].k = k;
		if (bpf_map_lookup_elem(fd, &k, &h->v[h->n].n) == 0)
			h->n++;
	}
	close(fd);
	if (ret) {
		nm_hits_free(h);
		return ret;
	}
	h->full = h->n >= NM_MAX_HIT_RULES;
	if (h->n) /* no table at all when no rule has a hit yet */
		qsort(h->v, h->n, sizeof(*h->v), nm_hit_cmp);
	return 0;
}

/* Its own entry, plus, for a rule that lives in a port set, the entries
 * of the ports and classes of the set it covers. */
uint64_t nm_hits_of(const struct nm_hits *h, const struct nm_rule *r)
{
	struct nm_hit_key hk;
	size_t lo = 0, hi = h->n, i;
	uint64_t sum = 0;

	if (!h->n)
		return 0;
	nm_rule_hit_key(r, &hk);
	while (lo < hi) { /* the first entry of this rule key */
		size_t mid = (lo + hi) / 2;

		if (memcmp(&h->v[mid].k.key, &hk.key, sizeof(hk.key)) < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	for (i = lo; i < h->n && !memcmp(&h->v[i].k.key, &hk.key, sizeof(hk.key)); i++) {
		const struct nm_hit_key *e = &h->v[i].k;
		uint8_t cls = e->protos & (uint8_t)~NM_PROTO_SET;

		if (!(e->protos & NM_PROTO_SET))
			sum += e->lo == hk.lo && e->hi == hk.hi && e->protos == hk.protos ? h->v[i].n : 0;
		else if (nm_port_rule_covers(&r->port, e->lo, cls))
			sum += h->v[i].n; /* a set's hit: its port (or every port) and class */
	}
	return sum;
}

/* Does a rule of the active store own entry e? Its prefix's value holds
 * the exact port rule, or (a set's entry) names a set. */
static bool nm_hit_owned(int hosts_fd, int nets_fd, const struct nm_hit_key *e, uint32_t gen)
{
	struct nm_rule_key map_key;
	struct nm_rule_val val;
	int host = nm_map_key_of(&e->key, &map_key), i;

	if (bpf_map_lookup_elem(host ? hosts_fd : nets_fd, &map_key, &val))
		return false;
	for (i = 0; i < val.count && i < NM_PORT_RULES; i++) {
		const struct nm_port_rule *p = &val.r[i];

		if (!nm_port_rule_in_gen(p, gen))
			continue;
		if (e->protos & NM_PROTO_SET ? nm_port_rule_is_set(p)
					     : p->lo == e->lo && p->hi == e->hi && p->protos == e->protos)
			return true;
	}
	return false;
}

/* After an edit that removed rules: drop the counts no rule owns now. */
int nm_hits_prune(void)
{
	struct nm_hits h;
	struct nm_meta meta;
	uint32_t gen;
	int fd, hosts, nets, ret = nm_hits_load(&h);
	size_t i;

	if (ret || !h.n) {
		nm_hits_free(&h);
		return ret;
	}
	fd = nm_open_map(NM_MAP_RULE_HITS);
	hosts = nm_open_map(NM_MAP_HOSTS);
	nets = nm_open_map(NM_MAP_NETS);
	ret = fd < 0 ? fd : hosts < 0 ? hosts : nets < 0 ? nets : nm_meta_read(&meta, &gen);
	for (i = 0; !ret && i < h.n; i++)
		if ((!meta.rules || !nm_hit_owned(hosts, nets, &h.v[i].k, gen)) &&
		    bpf_map_delete_elem(fd, &h.v[i].k) && errno != ENOENT)
			ret = -errno;
	if (fd >= 0)
		close(fd);
	if (hosts >= 0)
		close(hosts);
	if (nets >= 0)
		close(nets);
	nm_hits_free(&h);
	return ret;
}
