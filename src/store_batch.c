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
		if (errno != EINVAL && errno != ENOTSUP && errno != 524 /* ENOTSUPP */)
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

	j->ret = nm_batch_apply(j->fd, j->b, &j->done);
	return NULL;
}

/*
 * The hash and the trie have their own locks, so a bulk load writes them
 * from two threads: the kernel's insertion work (0.5-0.6 s for 726k hosts,
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

