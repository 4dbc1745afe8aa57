// SPDX-License-Identifier: GPL-2.0
/*
 * Writing and deleting store entries in kernel batches, one by one where a
 * kernel has no batch operations for a map; the hash and the trie from two
 * threads for bulk loads.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "store_internal.h"

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
		if (errno != EINVAL && errno != ENOTSUP && errno != NM_ENOTSUPP)
			return count;
		no_batch = true;
	}
	for (i = 0; i < n; i++)
		if (bpf_map_update_elem(fd, &b->keys[from + i], &b->vals[from + i], BPF_ANY))
			return i;
	return n;
}

int nm_batch_apply(int fd, struct nm_batch *b, size_t *done)
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

static void *nm_apply_job_run(void *arg)
{
	struct nm_apply_job *j = arg;
	struct nm_batch w = *j->b;

	w.n -= j->n_delete;
	j->ret = nm_batch_apply(j->fd, &w, &j->done);
	if (!j->ret)
		j->ret = nm_delete_keys(j->fd, &j->b->keys[w.n], j->n_delete);
	return NULL;
}

/*
 * The hash and the trie have their own locks, so a bulk load (and an
 * edit's build and settle steps) writes them from two threads: the kernel's insertion work (0.5-0.6 s for 726k hosts,
 * 0.3-0.45 s for 267k prefixes here) is most of a million-rule load.
 */
#define NM_PARALLEL_MIN 65536

int nm_apply_both(struct nm_apply_job *hosts, struct nm_apply_job *nets)
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


/* Every key of one map; deleting while iterating an LPM trie restarts the walk. */
int nm_collect_keys(int fd, struct nm_rule_key **out, size_t *count)
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

/* Grow both arrays to hold at least want entries. */
static int nm_entries_grow(struct nm_rule_key **keys, struct nm_rule_val **vals, size_t *cap, size_t want)
{
	struct nm_rule_key *k;
	struct nm_rule_val *v;
	size_t c = *cap ? *cap : 8192;

	while (c < want)
		c *= 2;
	if (c == *cap)
		return 0;
	k = realloc(*keys, c * sizeof(*k));
	if (k)
		*keys = k;
	v = k ? realloc(*vals, c * sizeof(*v)) : NULL;
	if (v)
		*vals = v;
	if (!k || !v)
		return -ENOMEM;
	*cap = c;
	return 0;
}

/* Every entry of a map in chunks of kernel batch lookups (hash maps from
 * 5.6; other maps where the kernel has the generic ones): 0, 1 when this
 * map or kernel has none (nothing read), or -errno. */
static int nm_read_batched(int fd, struct nm_rule_key **keys, struct nm_rule_val **vals, size_t *n,
			   size_t *cap)
{
	const uint32_t chunk = 8192;
	/* The kernel's batch position: a u32 bucket for a hash, a whole key
	 * for the generic batch ops (the trie on newer kernels). */
	struct nm_rule_key token = {};
	bool first = true;

	for (;;) {
		uint32_t count = chunk;
		int ret = nm_entries_grow(keys, vals, cap, *n + chunk);

		if (ret)
			return ret;
		ret = bpf_map_lookup_batch(fd, first ? NULL : &token, &token, *keys + *n, *vals + *n, &count,
					   NULL);
		if (ret && errno != ENOENT)
			return first && (errno == EINVAL || errno == ENOTSUP || errno == NM_ENOTSUPP) ? 1 : -errno;
		*n += count;
		first = false;
		if (ret) /* ENOENT: that was the last chunk */
			return 0;
	}
}

int nm_read_entries(int fd, struct nm_rule_key **keys, struct nm_rule_val **vals, size_t *count)
{
	size_t n = 0, cap = 0, i, kept = 0;
	int ret = nm_read_batched(fd, keys, vals, &n, &cap);

	if (ret <= 0) {
		*count = n;
		return ret;
	}
	/* The trie: every key, then each value (an entry may have gone since). */
	free(*keys);
	*keys = NULL;
	ret = nm_collect_keys(fd, keys, &n);
	if (!ret)
		ret = nm_entries_grow(keys, vals, &cap, n);
	for (i = 0; !ret && i < n; i++)
		if (bpf_map_lookup_elem(fd, &(*keys)[i], &(*vals)[kept]) == 0)
			(*keys)[kept++] = (*keys)[i];
	*count = kept;
	return ret;
}

int nm_delete_keys(int fd, struct nm_rule_key *keys, size_t n)
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

