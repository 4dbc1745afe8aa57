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

/* Write the message, evaluate to the error code. */
#define STORE_ERR(code, ...) ((void)snprintf(err, errlen, __VA_ARGS__), (code))

enum { NM_HOSTS, NM_NETS, NM_STORES };
static const char *const nm_store_names[NM_STORES] = { NM_MAP_HOSTS, NM_MAP_NETS };

struct nm_store {
	int fd[NM_STORES];
	uint32_t max[NM_STORES];
	int buckets_fd;
	struct nm_meta meta;
};

static void nm_store_close(struct nm_store *s)
{
	int i;

	for (i = 0; i < NM_STORES; i++)
		if (s->fd[i] >= 0)
			close(s->fd[i]);
	if (s->buckets_fd >= 0)
		close(s->buckets_fd);
}

static int nm_store_open(struct nm_store *s)
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

static bool nm_is_host(const struct nm_rule_key *k)
{
	return k->prefixlen == NM_KEY_HDR_BITS + (k->family == NM_FAM_V4 ? 32 : 128) &&
	       k->family != NM_FAM_ANY;
}

/* The hosts map is looked up with the hook's query key: full prefixlen. */
static struct nm_rule_key nm_map_key(const struct nm_rule_key *k, int *which)
{
	struct nm_rule_key m = *k;

	*which = nm_is_host(k) ? NM_HOSTS : NM_NETS;
	if (*which == NM_HOSTS)
		m.prefixlen = NM_MAX_PREFIXLEN;
	return m;
}

static uint32_t *nm_len_slot(struct nm_meta *m, const struct nm_rule_key *k)
{
	static uint32_t none;

	if (k->prefixlen <= NM_KEY_ANY_BITS || nm_is_host(k))
		return &none; /* only trie prefixes make up the kernel's walk */
	return &m->len_count[k->dir][k->family == NM_FAM_V6][k->prefixlen - NM_KEY_HDR_BITS];
}

static int nm_port_find(const struct nm_rule_val *v, const struct nm_port_rule *p)
{
	int i;

	for (i = 0; i < v->count; i++)
		if (v->r[i].lo == p->lo && v->r[i].hi == p->hi && v->r[i].protos == p->protos)
			return i;
	return -1;
}

/*
 * The entry of exactly this prefix. A lookup in an LPM trie, from user
 * space too, returns the longest prefix covering the key, which may be a
 * shorter one: the value's prefixlen tells whether it is this very prefix.
 */
static bool nm_lookup_exact(struct nm_store *s, const struct nm_rule_key *key, struct nm_rule_val *val)
{
	int which;
	struct nm_rule_key m = nm_map_key(key, &which);

	return bpf_map_lookup_elem(s->fd[which], &m, val) == 0 && val->prefixlen == key->prefixlen;
}

/* ---- bucket bookkeeping: which slots a trie prefix counts in ---- */


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

/* Current values of the touched slots: one batch read of the whole array
 * (3.3M slots, ~0.3 s here) when that is cheaper than one lookup per
 * touched slot (~1.5 us each), else lookups. */
#define NM_SLOTS_BATCH_MIN (NM_BUCKET_SLOTS_ALL / 16)

static int nm_slots_read(int fd, const struct nm_slot_delta *d, uint32_t *cur)
{
	size_t i;

	if (d->n > NM_SLOTS_BATCH_MIN) {
		uint32_t *keys = malloc(NM_BUCKET_SLOTS_ALL * sizeof(*keys)), out = 0, count = NM_BUCKET_SLOTS_ALL;
		int err = 0;

		if (!keys)
			return -ENOMEM;
		if (bpf_map_lookup_batch(fd, NULL, &out, keys, cur, &count, NULL) && errno != ENOENT)
			err = -errno;
		free(keys);
		if (!err && count == NM_BUCKET_SLOTS_ALL)
			return 0;
		/* No batch lookups for arrays on this kernel: fall through. */
	}
	for (i = 0; i < d->n; i++)
		if (bpf_map_lookup_elem(fd, &d->touched[i], &cur[d->touched[i]]))
			return -errno;
	return 0;
}

static int nm_slots_write(int fd, const uint32_t *keys, const uint32_t *vals, uint32_t n)
{
	uint32_t count = n, i;

	if (bpf_map_update_batch(fd, keys, vals, &count, NULL) == 0)
		return 0;
	for (i = 0; i < n; i++)
		if (bpf_map_update_elem(fd, &keys[i], &vals[i], BPF_ANY))
			return -errno;
	return 0;
}

/*
 * Add v to the bucket slots of n trie keys (keys[i] where use[i]). All or
 * nothing: when the kernel refuses part of the write, the slots go back to
 * the values read before it, so a failed add leaves no count behind and
 * its undo (-v) is never needed; the caller undoes only a success.
 */
static int nm_buckets_add(struct nm_store *s, const struct nm_rule_key *keys, const bool *use,
			  size_t n, int v)
{
	struct nm_slot_delta d = {};
	uint32_t *cur = NULL, *vals = NULL;
	size_t i;
	int err = -ENOMEM;

	for (i = 0; i < n && use && !use[i]; i++)
		;
	if (i == n)
		return 0; /* nothing to count: the common single host rule */
	d.delta = calloc(NM_BUCKET_SLOTS_ALL, sizeof(*d.delta));
	d.touched = malloc(NM_BUCKET_SLOTS_ALL * sizeof(*d.touched));
	cur = calloc(NM_BUCKET_SLOTS_ALL, sizeof(*cur));
	vals = calloc(NM_BUCKET_SLOTS_ALL, sizeof(*vals));
	if (!d.delta || !d.touched || !cur || !vals)
		goto out;
	for (i = 0; i < n; i++)
		if (!use || use[i])
			nm_prefix_slots(&d, &keys[i], v);
	err = nm_slots_read(s->buckets_fd, &d, cur);
	if (err)
		goto out;
	for (i = 0; i < d.n; i++)
		vals[i] = cur[d.touched[i]] + d.delta[d.touched[i]];
	err = nm_slots_write(s->buckets_fd, d.touched, vals, d.n);
	if (err) {
		/* Part of the write may have landed: put every touched slot back. */
		for (i = 0; i < d.n; i++)
			vals[i] = cur[d.touched[i]];
		nm_slots_write(s->buckets_fd, d.touched, vals, d.n);
	}
out:
	free(d.delta);
	free(d.touched);
	free(cur);
	free(vals);
	return err;
}

/* ---- add ---- */

/* What an add writes to one map: parallel arrays, one kernel batch each. */
struct nm_batch {
	size_t n;
	struct nm_rule_key *keys; /* map keys */
	struct nm_rule_val *vals;
	struct nm_rule_val *olds; /* olds[i] valid where existed[i] */
	bool *existed;
	bool *fresh; /* !existed: a new prefix */
};

struct nm_plan {
	struct nm_batch b[NM_STORES];
	size_t added;   /* port rules that are new (a del: that go) */
	uint64_t fresh[NM_STORES];
};

static void nm_plan_free(struct nm_plan *p)
{
	int i;

	for (i = 0; i < NM_STORES; i++) {
		free(p->b[i].keys);
		free(p->b[i].vals);
		free(p->b[i].olds);
		free(p->b[i].existed);
		free(p->b[i].fresh);
	}
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
		if (!b->keys || !b->vals || !b->olds || !b->existed || !b->fresh)
			return -ENOMEM;
	}
	return 0;
}

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

/*
 * Rules are grouped by prefix through an open-addressing index from map
 * key to plan entry: one pass over the input, in input order. (A qsort of
 * a million keyed rules took 0.3 s plus 32 MiB of scratch it faulted in.)
 */
struct nm_key_index {
	uint32_t *slot; /* 0: empty; else which << 31 | (entry + 1) */
	uint32_t mask;
};

static uint32_t nm_key_hash(const struct nm_rule_key *k)
{
	uint64_t w[3];

	memcpy(w, k, sizeof(w));
	w[0] = w[0] * 0x9e3779b97f4a7c15ull ^ w[1] * 0xc2b2ae3d27d4eb4full ^ w[2] * 0x165667b19e3779f9ull;
	return (uint32_t)(w[0] ^ w[0] >> 29 ^ w[0] >> 47);
}

/* The plan entry of this rule key (found through the index), or a new one
 * at the end of its store's batch, started from the store's current value. */
static struct nm_rule_val *nm_plan_entry(struct nm_store *s, struct nm_plan *p,
					 struct nm_key_index *ix, const struct nm_rule_key *key,
					 bool lookup, size_t *entry, int *store)
{
	int which;
	struct nm_rule_key m = nm_map_key(key, &which);
	uint32_t h = nm_key_hash(&m) & ix->mask, v;
	struct nm_batch *b;

	for (; (v = ix->slot[h]) != 0; h = (h + 1) & ix->mask) {
		b = &p->b[v >> 31];
		*entry = (v & 0x7fffffffu) - 1;
		if ((int)(v >> 31) == which && !memcmp(&b->keys[*entry], &m, sizeof(m))) {
			*store = which;
			return &b->vals[*entry];
		}
	}
	b = &p->b[which];
	*entry = b->n++;
	*store = which;
	ix->slot[h] = (uint32_t)which << 31 | (uint32_t)(*entry + 1);
	b->keys[*entry] = m;
	b->existed[*entry] = lookup && nm_lookup_exact(s, key, &b->olds[*entry]);
	if (b->existed[*entry]) {
		b->vals[*entry] = b->olds[*entry];
	} else {
		memset(&b->vals[*entry], 0, sizeof(b->vals[*entry]));
		b->vals[*entry].prefixlen = key->prefixlen;
	}
	b->fresh[*entry] = !b->existed[*entry];
	return &b->vals[*entry];
}

/* Drop entries that were present and gained no rule: nothing to write. */
static void nm_plan_compact(struct nm_batch *b, const bool *gained)
{
	size_t i, n = 0;

	for (i = 0; i < b->n; i++) {
		if (!b->existed[i] || gained[i]) {
			b->keys[n] = b->keys[i];
			b->vals[n] = b->vals[i];
			b->olds[n] = b->olds[i];
			b->existed[n] = b->existed[i];
			b->fresh[n] = b->fresh[i];
			n++;
		}
	}
	b->n = n;
}

static int nm_plan_build(struct nm_store *s, const struct nm_rule *rules, size_t n,
			 struct nm_plan *p, char *err, size_t errlen)
{
	/* An empty store needs no lookups: the bulk-load case. */
	bool lookup = s->meta.prefixes != 0;
	struct nm_key_index ix = {};
	bool *gained[NM_STORES] = {};
	size_t i, size = 16, entry;
	int store, ret = 0;

	while (size < 2 * n)
		size *= 2;
	ix.mask = (uint32_t)size - 1;
	ix.slot = nm_calloc_big(size, sizeof(*ix.slot));
	for (i = 0; i < NM_STORES; i++)
		gained[i] = nm_calloc_big(n, sizeof(bool));
	if (!ix.slot || !gained[NM_HOSTS] || !gained[NM_NETS] || nm_plan_alloc(p, n)) {
		ret = STORE_ERR(-ENOMEM, "out of memory for %zu rules", n);
		goto out;
	}
	for (i = 0; i < n; i++) {
		struct nm_rule_key key;
		struct nm_rule_val *v;
		char text[160];

		nm_rule_key(&rules[i], &key);
		v = nm_plan_entry(s, p, &ix, &key, lookup, &entry, &store);
		if (nm_port_find(v, &rules[i].port) >= 0)
			continue;
		if (v->count >= NM_PORT_RULES) {
			nm_rule_format(&rules[i], text, sizeof(text));
			ret = STORE_ERR(-ENOSPC, "%s: a prefix holds at most %d port rules", text,
					NM_PORT_RULES);
			goto out;
		}
		v->r[v->count++] = rules[i].port;
		gained[store][entry] = true;
		p->added++;
	}
	for (i = 0; i < NM_STORES; i++)
		nm_plan_compact(&p->b[i], gained[i]);
out:
	free(ix.slot);
	free(gained[NM_HOSTS]);
	free(gained[NM_NETS]);
	return ret;
}

static int nm_plan_account(struct nm_store *s, struct nm_plan *p, char *err, size_t errlen)
{
	struct nm_meta *m = &s->meta;
	size_t i;
	int w;

	for (w = 0; w < NM_STORES; w++) {
		struct nm_batch *b = &p->b[w];
		uint64_t have = w == NM_HOSTS ? m->hosts : m->prefixes - m->hosts;

		for (i = 0; i < b->n; i++)
			p->fresh[w] += b->fresh[i];
		if (have + p->fresh[w] > s->max[w])
			return STORE_ERR(-ENOSPC, "rule store full: %s holds %llu + %llu new > %u (load with 'entries N')",
					 nm_store_names[w], (unsigned long long)have,
					 (unsigned long long)p->fresh[w], s->max[w]);
		for (i = 0; w == NM_NETS && i < b->n; i++)
			if (b->fresh[i])
				(*nm_len_slot(m, &b->keys[i]))++;
	}
	m->hosts += p->fresh[NM_HOSTS];
	m->prefixes += p->fresh[NM_HOSTS] + p->fresh[NM_NETS];
	m->rules += p->added;
	return nm_chain_ok(m, err, errlen);
}

static void nm_batch_undo(int fd, struct nm_batch *b, size_t upto)
{
	size_t i;

	for (i = 0; i < upto; i++) {
		if (b->existed[i])
			bpf_map_update_elem(fd, &b->keys[i], &b->olds[i], BPF_ANY);
		else
			bpf_map_delete_elem(fd, &b->keys[i]);
	}
}

/* Write entries [from, from + n); returns how many were written (errno set when short). */
static size_t nm_write_batch(int fd, struct nm_batch *b, size_t from, size_t n)
{
	/* A kernel without batch updates for these maps: one by one. Two
	 * threads may both find out; either store of true is right. */
	static volatile bool no_batch;
	uint32_t count = n;
	size_t i;

	if (!no_batch) {
		if (bpf_map_update_batch(fd, &b->keys[from], &b->vals[from], &count, NULL) == 0)
			return n;
		if (errno != EINVAL && errno != ENOTSUP && errno != 524 /* ENOTSUPP */)
			return count;
		no_batch = true;
	}
	for (i = 0; i < n; i++)
		if (bpf_map_update_elem(fd, &b->keys[from + i], &b->vals[from + i], BPF_ANY))
			return i;
	return n;
}

static int nm_batch_apply(int fd, struct nm_batch *b, size_t *done)
{
	const size_t chunk = 8192;
	size_t want, got;

	for (*done = 0; *done < b->n; *done += got) {
		want = b->n - *done < chunk ? b->n - *done : chunk;
		got = nm_write_batch(fd, b, *done, want);
		if (got < want) {
			*done += got;
			return -errno;
		}
	}
	return 0;
}

struct nm_apply_job {
	int fd;
	struct nm_batch *b;
	size_t done;
	int ret;
};

static void *nm_apply_job_run(void *arg)
{
	struct nm_apply_job *j = arg;

	j->ret = nm_batch_apply(j->fd, j->b, &j->done);
	return NULL;
}

/*
 * The hash and the trie have their own locks, so a bulk load writes them
 * from two threads: the kernel's insertion work (0.5-0.6 s for 726k hosts,
 * 0.3-0.45 s for 267k prefixes here) is most of a million-rule load.
 */
#define NM_PARALLEL_MIN 65536

static int nm_apply_both(struct nm_apply_job *hosts, struct nm_apply_job *nets)
{
	pthread_t t;
	bool threaded = hosts->b->n >= NM_PARALLEL_MIN && nets->b->n >= NM_PARALLEL_MIN &&
			pthread_create(&t, NULL, nm_apply_job_run, nets) == 0;

	nm_apply_job_run(hosts);
	if (threaded)
		pthread_join(t, NULL);
	else if (!hosts->ret)
		nm_apply_job_run(nets);
	return hosts->ret ? hosts->ret : nets->ret;
}

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
	ret = nm_store_open(&s);
	if (ret)
		return snprintf(err, errlen, "cannot open the rule store: %s", strerror(-ret)), ret;
	before = s.meta;
	ret = nm_plan_build(&s, rules, n, &plan, err, errlen);
	if (!ret)
		ret = nm_plan_account(&s, &plan, err, errlen);
	if (!ret)
		ret = nm_plan_apply(&s, &plan, &before, err, errlen);
	if (!ret)
		*added = plan.added;
	nm_plan_free(&plan);
	nm_store_close(&s);
	return ret;
}

/* ---- del, walk, flush ---- */

/*
 * The reverse of an add, in the reverse order: the entry changes first (the
 * hooks stop matching), then its bucket counts and the meta counts come
 * down, so a kill at any point leaves counts that over-count, never under.
 * An error puts back what was done: an error means nothing changed.
 */
int nm_store_del(const struct nm_rule *r, char *err, size_t errlen)
{
	struct nm_rule_key key, mkey;
	struct nm_rule_val val, old;
	struct nm_store s;
	bool gone, bucketed = false;
	char text[160];
	int ret, i, which;

	ret = nm_store_open(&s);
	if (ret)
		return snprintf(err, errlen, "cannot open the rule store: %s", strerror(-ret)), ret;
	nm_rule_key(r, &key);
	mkey = nm_map_key(&key, &which);
	nm_rule_format(r, text, sizeof(text));
	if (!nm_lookup_exact(&s, &key, &val) || (i = nm_port_find(&val, &r->port)) < 0) {
		nm_store_close(&s);
		snprintf(err, errlen, "%s: no such rule", text);
		return -ENOENT;
	}
	old = val;
	memmove(&val.r[i], &val.r[i + 1], (val.count - i - 1) * sizeof(val.r[0]));
	memset(&val.r[--val.count], 0, sizeof(val.r[0]));
	gone = val.count == 0;
	if (!gone)
		ret = bpf_map_update_elem(s.fd[which], &mkey, &val, BPF_EXIST) ? -errno : 0;
	else
		ret = bpf_map_delete_elem(s.fd[which], &mkey) ? -errno : 0;
	if (ret)
		goto out;
	if (gone && which == NM_NETS) {
		ret = nm_buckets_add(&s, &key, NULL, 1, -1);
		bucketed = !ret;
	}
	if (!ret) {
		s.meta.rules--;
		if (gone) {
			s.meta.prefixes--;
			s.meta.hosts -= which == NM_HOSTS;
			(*nm_len_slot(&s.meta, &key))--;
		}
		ret = nm_meta_write(&s.meta);
	}
	if (ret) {
		/* Counts back up before the entry returns, as in an add. */
		if (bucketed)
			nm_buckets_add(&s, &key, NULL, 1, +1);
		bpf_map_update_elem(s.fd[which], &mkey, &old, BPF_ANY);
	}
out:
	if (ret)
		snprintf(err, errlen, "%s: %s; nothing changed", text, strerror(-ret));
	nm_store_close(&s);
	return ret;
}

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

/* Every key of one map; deleting while iterating an LPM trie restarts the walk. */
static int nm_collect_keys(int fd, struct nm_rule_key **out, size_t *count)
{
	struct nm_rule_key *keys = NULL;
	size_t n = 0, cap = 0;

	for (;;) {
		if (n == cap) {
			struct nm_rule_key *k = realloc(keys, (cap = cap ? cap * 2 : 1024) * sizeof(*k));

			if (!k) {
				free(keys);
				return -ENOMEM;
			}
			keys = k;
		}
		if (bpf_map_get_next_key(fd, n ? &keys[n - 1] : NULL, &keys[n]))
			break;
		n++;
	}
	*out = keys;
	*count = n;
	return 0;
}

static int nm_delete_keys(int fd, struct nm_rule_key *keys, size_t n)
{
	size_t i;

	for (i = 0; i < n;) {
		uint32_t count = n - i > 8192 ? 8192 : n - i;

		/* One syscall per chunk where the kernel has batch deletes for this map. */
		if (bpf_map_delete_batch(fd, &keys[i], &count, NULL) == 0) {
			i += count;
			continue;
		}
		if (bpf_map_delete_elem(fd, &keys[i]) && errno != ENOENT)
			return -errno;
		i++;
	}
	return 0;
}

/*
 * Take each rule out of its prefix's plan entry (started from the store's
 * value by nm_plan_entry). A rule that is not in the store is an error
 * naming it; a rule given twice is removed once.
 */
static int nm_del_plan_build(struct nm_store *s, const struct nm_rule *rules, size_t n,
			     struct nm_plan *p, char *err, size_t errlen)
{
	struct nm_key_index ix = {};
	size_t i, size = 16, entry;
	int store, k, ret = 0;

	while (size < 2 * n)
		size *= 2;
	ix.mask = (uint32_t)size - 1;
	ix.slot = nm_calloc_big(size, sizeof(*ix.slot));
	if (!ix.slot || nm_plan_alloc(p, n)) {
		ret = STORE_ERR(-ENOMEM, "out of memory for %zu rules", n);
		goto out;
	}
	for (i = 0; i < n; i++) {
		struct nm_rule_key key;
		struct nm_rule_val *v;
		char text[160];

		nm_rule_key(&rules[i], &key);
		v = nm_plan_entry(s, p, &ix, &key, true, &entry, &store);
		k = nm_port_find(v, &rules[i].port);
		if (k < 0 && p->b[store].existed[entry] &&
		    nm_port_find(&p->b[store].olds[entry], &rules[i].port) >= 0)
			continue; /* a duplicate: gone already */
		if (k < 0) {
			nm_rule_format(&rules[i], text, sizeof(text));
			ret = STORE_ERR(-ENOENT, "%s: no such rule", text);
			goto out;
		}
		memmove(&v->r[k], &v->r[k + 1], (v->count - k - 1) * sizeof(v->r[0]));
		memset(&v->r[--v->count], 0, sizeof(v->r[0]));
		p->added++; /* here: rules removed */
	}
out:
	free(ix.slot);
	return ret;
}

/* Entries that keep some rules first (one update each), emptied ones last
 * (one delete each): returns where the emptied ones start. */
#define NM_SWAP(a, b) do { __typeof__(a) t_ = (a); (a) = (b); (b) = t_; } while (0)

static size_t nm_del_partition(struct nm_batch *b)
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
 * Many dels, all or nothing, in nm_store_del's order: entries change first
 * (batch updates and deletes), then the bucket counts of the trie prefixes
 * that went away come down, then the meta counts; a kill at any point
 * leaves counts that over-count, never under. An error puts back what was
 * done, counts before entries, so an error means nothing changed.
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
	ret = nm_store_open(&s);
	if (ret)
		return snprintf(err, errlen, "cannot open the rule store: %s", strerror(-ret)), ret;
	ret = nm_del_plan_build(&s, rules, n, &plan, err, errlen);
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
	if (!ret)
		*removed = plan.added;
	nm_plan_free(&plan);
	nm_store_close(&s);
	return ret;
}

int nm_store_flush(uint64_t *removed)
{
	struct nm_store s;
	int w, ret = nm_store_open(&s);

	if (ret)
		return ret;
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
	nm_store_close(&s);
	return ret;
}
