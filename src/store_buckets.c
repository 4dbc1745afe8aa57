// SPDX-License-Identifier: GPL-2.0
/*
 * Bucket bookkeeping: which slots of `buckets` a prefix counts in (a host
 * rule in one, a trie prefix in each it overlaps), and writing the sums of
 * one edit in one batch (see bpf/netmonctl.h).
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "store_internal.h"



/* Per-slot sums of one edit, written once at the end. */
struct nm_slot_delta {
	int32_t *delta; /* NM_BUCKET_SLOTS_ALL */
	uint32_t *touched;
	size_t n;
};

static void nm_slot_bump(struct nm_slot_delta *d, uint32_t slot, int v)
{
	/* v has one sign per edit, so a sum never returns to 0: each slot is listed once. */
	if (d->delta[slot] == 0)
		d->touched[d->n++] = slot;
	d->delta[slot] += v;
}

/*
 * A trie prefix counts in every bucket it overlaps, so a short prefix (a
 * blocklist's /8) does not send every lookup of the family into the trie:
 * an IPv4 /L below /16 counts in its 2^(16-L) buckets, an IPv6 /L from /16
 * to /31 in the 2^(32-L) folded buckets of its /32s. Only `any` and IPv6
 * prefixes shorter than /16 use the WIDE slot.
 */
static void nm_prefix_slots(struct nm_slot_delta *d, const struct nm_rule_key *k, int v)
{
	uint32_t plen = k->prefixlen - NM_KEY_HDR_BITS, i, n, base, bits;
	uint8_t a[16];
	int at;

	if (k->family == NM_FAM_ANY) {
		nm_slot_bump(d, nm_wide_slot(k->dir, NM_FAM_V4), v);
		nm_slot_bump(d, nm_wide_slot(k->dir, NM_FAM_V6), v);
		return;
	}
	if (k->family == NM_FAM_V6 && plen < NM_V6_BUCKET_BITS - 16) {
		nm_slot_bump(d, nm_wide_slot(k->dir, k->family), v);
		return;
	}
	/* The bucket is 16 address bits: bytes 0-1 (IPv4) or 2-3 (IPv6, below
	 * the top 16 bits, which the prefix fixes), stepped over all it covers. */
	at = k->family == NM_FAM_V4 ? 0 : 2;
	bits = k->family == NM_FAM_V4 ? NM_V4_BUCKET_BITS : NM_V6_BUCKET_BITS;
	n = plen >= bits ? 1 : 1u << (bits - plen);
	memcpy(a, k->addr, sizeof(a));
	base = (uint32_t)a[at] << 8 | a[at + 1];
	for (i = 0; i < n; i++) {
		a[at] = (base + i) >> 8;
		a[at + 1] = (base + i) & 0xff;
		nm_slot_bump(d, nm_bucket_slot(k->dir, k->family, a), v);
	}
}

/* Slots as user space holds them: one u32 each, in element order, so a
 * batch read of the whole array lands in place (NM_BUCKET_GROUP a value). */
#define NM_SLOTS_STORED (NM_BUCKET_GROUPS * NM_BUCKET_GROUP)
#define NM_GROUP_BYTES sizeof(struct nm_bucket_group)

/* Current values of the touched groups: one batch read of the whole array
 * (~0.2 s here) when that is cheaper than one lookup per touched group
 * (~1.5 us each), else lookups. */
#define NM_GROUPS_BATCH_MIN (NM_BUCKET_GROUPS / 16)

/* The whole array in one batch: 0; 1 when the kernel could not (no batch
 * lookups for arrays: the caller reads one by one); -ENOMEM. */
static int nm_slots_batch_read(int fd, uint32_t *cur)
{
	uint32_t *keys = malloc(NM_BUCKET_GROUPS * sizeof(*keys)), out = 0, count = NM_BUCKET_GROUPS;
	bool ok;

	if (!keys)
		return -ENOMEM;
	ok = bpf_map_lookup_batch(fd, NULL, &out, keys, cur, &count, NULL) == 0 || errno == ENOENT;
	free(keys);
	return ok && count == NM_BUCKET_GROUPS ? 0 : 1;
}

/* The groups the touched slots fall in, each once. */
static uint32_t nm_touched_groups(const struct nm_slot_delta *d, uint32_t *groups)
{
	uint8_t *seen = calloc(NM_BUCKET_GROUPS, 1);
	uint32_t m = 0, g;
	size_t i;

	if (!seen)
		return UINT32_MAX;
	for (i = 0; i < d->n; i++) {
		g = d->touched[i] / NM_BUCKET_GROUP;
		if (!seen[g]) {
			seen[g] = 1;
			groups[m++] = g;
		}
	}
	free(seen);
	return m;
}

static int nm_groups_read(int fd, const uint32_t *groups, uint32_t m, uint32_t *cur)
{
	uint32_t i;
	int err;

	if (m > NM_GROUPS_BATCH_MIN) {
		err = nm_slots_batch_read(fd, cur);
		if (err <= 0)
			return err;
	}
	for (i = 0; i < m; i++)
		if (bpf_map_lookup_elem(fd, &groups[i], &cur[groups[i] * NM_BUCKET_GROUP]))
			return -errno;
	return 0;
}

/* Every group of the array (a repair): by batch where the kernel has it. */
static int nm_slots_read_all(int fd, uint32_t *cur)
{
	uint32_t g;
	int err = nm_slots_batch_read(fd, cur);

	for (g = 0; err > 0 && g < NM_BUCKET_GROUPS; g++)
		if (bpf_map_lookup_elem(fd, &g, &cur[g * NM_BUCKET_GROUP]))
			return -errno;
	return err < 0 ? err : 0;
}

/* Write groups[0..m) with the values at vals (NM_BUCKET_GROUP each). */
static int nm_groups_write(int fd, const uint32_t *groups, const uint32_t *vals, uint32_t m)
{
	uint32_t count = m, i;

	if (bpf_map_update_batch(fd, groups, vals, &count, NULL) == 0)
		return 0;
	for (i = 0; i < m; i++)
		if (bpf_map_update_elem(fd, &groups[i], &vals[i * NM_BUCKET_GROUP], BPF_ANY))
			return -errno;
	return 0;
}

/* vals for groups[0..m): from `from` (slot-indexed), plus delta when given. */
static void nm_groups_fill(uint32_t *vals, const uint32_t *groups, uint32_t m, const uint32_t *from,
			   const int32_t *delta)
{
	uint32_t i, j, s;

	for (i = 0; i < m; i++)
		for (j = 0; j < NM_BUCKET_GROUP; j++) {
			s = groups[i] * NM_BUCKET_GROUP + j;
			vals[i * NM_BUCKET_GROUP + j] = from[s] + (delta ? (uint32_t)delta[s] : 0);
		}
}

/* Does the edit count any entry? (Most single edits change rules of a
 * prefix that exists, and count nothing.) */
static bool nm_buckets_any(const struct nm_batch b[NM_STORES], const size_t from[NM_STORES],
			   bool fresh_only)
{
	size_t i;
	int w;

	for (w = 0; w < NM_STORES; w++)
		for (i = from[w]; i < b[w].n; i++)
			if (!fresh_only || b[w].fresh[i])
				return true;
	return false;
}

/*
 * Add v to the bucket slots of the entries b[w].keys[from[w]..n) of both
 * maps (only the fresh ones when fresh_only). All or nothing: when the
 * kernel refuses part of the write, the groups go back to the values read
 * before it, so a failed add leaves no count behind and its undo (-v) is
 * never needed; the caller undoes only a success.
 */
int nm_buckets_add(struct nm_store *s, const struct nm_batch b[NM_STORES], const size_t from[NM_STORES],
		   bool fresh_only, int v)
{
	struct nm_slot_delta d = {};
	uint32_t *cur = NULL, *vals = NULL, *groups = NULL, m;
	size_t i;
	int w, err = -ENOMEM;

	if (!nm_buckets_any(b, from, fresh_only))
		return 0;
	/* calloc'd big arrays are mapped zero pages: a small edit touches few */
	d.delta = calloc(NM_SLOTS_STORED, sizeof(*d.delta));
	d.touched = malloc(NM_SLOTS_STORED * sizeof(*d.touched));
	cur = calloc(NM_SLOTS_STORED, sizeof(*cur));
	groups = malloc(NM_BUCKET_GROUPS * sizeof(*groups));
	if (!d.delta || !d.touched || !cur || !groups)
		goto out;
	for (w = 0; w < NM_STORES; w++)
		for (i = from[w]; i < b[w].n; i++)
			if (!fresh_only || b[w].fresh[i])
				nm_prefix_slots(&d, &b[w].keys[i], v);
	m = nm_touched_groups(&d, groups);
	vals = m == UINT32_MAX ? NULL : malloc((size_t)m * NM_GROUP_BYTES);
	if (!vals)
		goto out;
	err = nm_groups_read(s->buckets_fd, groups, m, cur);
	if (err)
		goto out;
	nm_groups_fill(vals, groups, m, cur, d.delta);
	err = nm_groups_write(s->buckets_fd, groups, vals, m);
	if (err) {
		/* Part of the write may have landed: put every touched group back. */
		nm_groups_fill(vals, groups, m, cur, NULL);
		nm_groups_write(s->buckets_fd, groups, vals, m);
	}
out:
	free(d.delta);
	free(d.touched);
	free(cur);
	free(vals);
	free(groups);
	return err;
}

/*
 * Set every slot to what the keys of both maps make it, from scratch (the
 * repair after a killed edit, a migration). Only groups that differ are
 * written; *written counts the slots that changed. A lowered slot still counts every entry the maps hold, so no
 * live entry is skipped while this runs.
 */
int nm_buckets_rebuild(int buckets_fd, struct nm_rule_key *const keys[NM_STORES],
		       const size_t n[NM_STORES], uint64_t *written)
{
	struct nm_slot_delta d = {};
	uint32_t *cur = calloc(NM_SLOTS_STORED, sizeof(*cur)), *vals = NULL, *groups = NULL;
	uint32_t g, m = 0;
	int w, err = -ENOMEM;
	size_t i;

	d.delta = calloc(NM_SLOTS_STORED, sizeof(*d.delta));
	d.touched = malloc(NM_SLOTS_STORED * sizeof(*d.touched));
	groups = malloc(NM_BUCKET_GROUPS * sizeof(*groups));
	vals = malloc((size_t)NM_BUCKET_GROUPS * NM_GROUP_BYTES);
	if (!cur || !d.delta || !d.touched || !groups || !vals)
		goto out;
	for (w = 0; w < NM_STORES; w++)
		for (i = 0; i < n[w]; i++)
			nm_prefix_slots(&d, &keys[w][i], +1);
	err = nm_slots_read_all(buckets_fd, cur);
	*written = 0;
	for (g = 0; !err && g < NM_BUCKET_GROUPS; g++) {
		uint32_t j, s = g * NM_BUCKET_GROUP, differ = 0;

		for (j = 0; j < NM_BUCKET_GROUP; j++)
			differ += cur[s + j] != (uint32_t)d.delta[s + j];
		if (differ)
			groups[m++] = g;
		*written += differ;
	}
	if (!err && m) {
		nm_groups_fill(vals, groups, m, (const uint32_t *)d.delta, NULL);
		err = nm_groups_write(buckets_fd, groups, vals, m);
	}
out:
	free(d.delta);
	free(d.touched);
	free(cur);
	free(vals);
	free(groups);
	return err;
}
