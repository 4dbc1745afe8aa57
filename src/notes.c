// SPDX-License-Identifier: GPL-2.0
/*
 * Rule comments: `deny add 192.0.2.1 port 22 comment "jump host"`.
 * The text of a parsed rule lives in this process's pool (struct nm_rule
 * carries its id, so a million rules without one cost 4 bytes each); the
 * stored text lives in `rule_notes` (bpf/netmonctl.h), keyed by the rule's
 * identity (nm_rule_hit_key), which user space makes at the first comment.
 *
 * An add with a comment sets the rule's comment, one without keeps it; a
 * replace makes every comment the file's (none where a line has none).
 * The changes are worked out before the rules switch (a
 * table that would overflow refuses the command, which then changes
 * nothing) and written just after it: a command killed between the two
 * leaves its rules with their earlier comments. The comments of removed
 * rules are pruned after the edit, as their hit counts are.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "nm.h"

static struct {
	char **v;
	size_t n, cap;
} pool;

uint32_t nm_note_intern(const char *text)
{
	char *copy;

	/* a port list or a file of rules repeats one text: keep it once */
	if (pool.n && !strcmp(pool.v[pool.n - 1], text))
		return (uint32_t)pool.n;
	if (pool.n >= UINT32_MAX - 1 ||
	    (pool.n == pool.cap && nm_array_grow(&pool.v, &pool.cap, pool.n + 1, sizeof(*pool.v))))
		return 0;
	copy = strdup(text);
	if (!copy)
		return 0;
	pool.v[pool.n++] = copy;
	return (uint32_t)pool.n;
}

const char *nm_note_text(uint32_t id)
{
	return id && id <= pool.n ? pool.v[id - 1] : NULL;
}

void nm_note_pool_free(void)
{
	size_t i;

	for (i = 0; i < pool.n; i++)
		free(pool.v[i]);
	free(pool.v);
	memset(&pool, 0, sizeof(pool));
}

/* Printable ASCII without `"` and `\`: it goes between quotes in a rule's
 * text and in a JSON string as it is, and never carries a terminal escape. */
int nm_note_check(const char *text, char *err, size_t errlen)
{
	size_t i, n = strlen(text);

	if (!n || n >= NM_NOTE_MAX) {
		snprintf(err, errlen, "comment: 1 to %d characters, not %zu", NM_NOTE_MAX - 1, n);
		return -EINVAL;
	}
	for (i = 0; i < n; i++) {
		unsigned char c = text[i];

		if (c < 0x20 || c > 0x7e || c == '"' || c == '\\') {
			snprintf(err, errlen, "comment: character %zu (byte 0x%02x): printable ASCII only, "
				 "no \" or \\", i + 1, c);
			return -EINVAL;
		}
	}
	return 0;
}

static int nm_note_ent_cmp(const void *a, const void *b)
{
	return memcmp(&((const struct nm_note_ent *)a)->k, &((const struct nm_note_ent *)b)->k,
		      sizeof(struct nm_hit_key));
}

void nm_notes_free(struct nm_notes *t)
{
	free(t->v);
	memset(t, 0, sizeof(*t));
}

static int nm_notes_push(struct nm_note_ent **v, size_t *n, size_t *cap, const struct nm_hit_key *k, uint32_t id)
{
	if (*n == *cap && nm_array_grow(v, cap, *n + 1, sizeof(**v)))
		return -ENOMEM;
	(*v)[*n].k = *k;
	(*v)[(*n)++].id = id;
	return 0;
}

static int nm_notes_read(int fd, struct nm_notes *t)
{
	struct nm_hit_key k, next;
	struct nm_rule_note note;
	size_t cap = 0;
	void *prev = NULL;
	uint32_t id;

	while (bpf_map_get_next_key(fd, prev, &next) == 0) {
		k = next;
		prev = &k;
		if (bpf_map_lookup_elem(fd, &k, &note))
			continue; /* deleted meanwhile: only by a command that holds the lock */
		note.text[NM_NOTE_MAX - 1] = 0;
		id = nm_note_intern(note.text);
		if (!id || nm_notes_push(&t->v, &t->n, &cap, &k, id))
			return -ENOMEM;
	}
	if (t->n)
		qsort(t->v, t->n, sizeof(*t->v), nm_note_ent_cmp);
	return 0;
}

int nm_notes_load(struct nm_notes *t)
{
	int fd = nm_open_map(NM_MAP_RULE_NOTES), ret;

	memset(t, 0, sizeof(*t));
	if (fd < 0)
		return fd == -ENOENT ? 0 : fd;
	ret = nm_notes_read(fd, t);
	close(fd);
	if (ret)
		nm_notes_free(t);
	return ret;
}

static struct nm_note_ent *nm_notes_find(const struct nm_notes *t, const struct nm_hit_key *k)
{
	struct nm_note_ent want = { .k = *k };

	if (!t->n)
		return NULL;
	return bsearch(&want, t->v, t->n, sizeof(*t->v), nm_note_ent_cmp);
}

uint32_t nm_notes_of(const struct nm_notes *t, const struct nm_rule *r)
{
	struct nm_hit_key k;
	const struct nm_note_ent *e;

	if (!t->n)
		return 0;
	nm_rule_hit_key(r, &k);
	e = nm_notes_find(t, &k);
	return e ? e->id : 0;
}

void nm_notes_edit_free(struct nm_notes_edit *e)
{
	free(e->v);
	memset(e, 0, sizeof(*e));
}

static bool nm_same_note(uint32_t a, uint32_t b)
{
	return a == b || (a && b && !strcmp(nm_note_text(a), nm_note_text(b)));
}

int nm_notes_plan(const struct nm_rule *rules, size_t n, bool replace, struct nm_notes_edit *e, char *err,
		  size_t errlen)
{
	struct nm_notes t;
	size_t i, cap = 0, entries;
	bool any = false;
	int ret;

	memset(e, 0, sizeof(*e));
	for (i = 0; i < n && !any; i++)
		any = rules[i].note != 0;
	if (!any && !replace) /* the common case, whatever is stored: nothing to read */
		return 0;
	ret = nm_notes_load(&t);
	if (ret || (!any && !t.n))
		goto out;
	entries = t.n;
	for (i = 0; i < n && !ret; i++) {
		struct nm_hit_key k;
		struct nm_note_ent *have;

		if (!rules[i].note && !replace)
			continue;
		nm_rule_hit_key(&rules[i], &k);
		have = nm_notes_find(&t, &k);
		if (nm_same_note(have ? have->id : 0, rules[i].note))
			continue;
		entries += !have && rules[i].note; /* an upper bound: a rule given twice counts twice */
		entries -= have && !rules[i].note;
		if (have) /* a rule given twice: its last comment holds */
			have->id = rules[i].note;
		ret = nm_notes_push(&e->v, &e->n, &cap, &k, rules[i].note);
	}
	if (!ret && entries > NM_MAX_NOTES) {
		snprintf(err, errlen, "comment: more than %d rules would have one", NM_MAX_NOTES);
		ret = -ENOSPC;
	}
out:
	nm_notes_free(&t);
	if (ret == -ENOMEM)
		snprintf(err, errlen, "comments: %s", strerror(ENOMEM));
	if (ret)
		nm_notes_edit_free(e);
	return ret;
}

/* The map, made and pinned at the first comment. */
static int nm_notes_map(bool create)
{
	LIBBPF_OPTS(bpf_map_create_opts, opts, .map_flags = BPF_F_NO_PREALLOC);
	char path[NM_PATH_MAX];
	int fd = nm_open_map(NM_MAP_RULE_NOTES), ret;

	if (fd != -ENOENT || !create)
		return fd;
	fd = bpf_map_create(BPF_MAP_TYPE_HASH, NM_MAP_RULE_NOTES, sizeof(struct nm_hit_key),
			    sizeof(struct nm_rule_note), NM_MAX_NOTES, &opts);
	if (fd < 0)
		return -errno;
	if (nm_pin_path(path, sizeof(path), "maps", NM_MAP_RULE_NOTES))
		ret = -ENAMETOOLONG;
	else
		ret = bpf_obj_pin(fd, path) ? -errno : 0;
	if (ret) {
		close(fd);
		return ret;
	}
	return fd;
}

int nm_notes_apply(const struct nm_notes_edit *e)
{
	bool create = false;
	size_t i;
	int fd, ret = 0;

	for (i = 0; i < e->n && !create; i++)
		create = e->v[i].id != 0;
	if (!e->n)
		return 0;
	fd = nm_notes_map(create);
	if (fd < 0)
		return fd == -ENOENT ? 0 : fd; /* only deletes, and no map: nothing to delete */
	for (i = 0; i < e->n && !ret; i++) {
		struct nm_rule_note note = {};

		if (!e->v[i].id) {
			if (bpf_map_delete_elem(fd, &e->v[i].k) && errno != ENOENT)
				ret = -errno;
			continue;
		}
		strncpy(note.text, nm_note_text(e->v[i].id), NM_NOTE_MAX - 1);
		if (bpf_map_update_elem(fd, &e->v[i].k, &note, BPF_ANY))
			ret = -errno;
	}
	close(fd);
	return ret;
}

/* Marks the entry of each rule the list still holds. */
struct nm_notes_owned {
	struct nm_notes *t;
	bool *kept;
};

static int nm_note_mark(const struct nm_rule *r, void *arg)
{
	struct nm_notes_owned *o = arg;
	struct nm_hit_key k;
	struct nm_note_ent *e;

	nm_rule_hit_key(r, &k);
	e = nm_notes_find(o->t, &k);
	if (e)
		o->kept[e - o->t->v] = true;
	return 0;
}

int nm_notes_prune(uint16_t list)
{
	struct nm_notes t;
	struct nm_notes_owned o = { &t, NULL };
	size_t i, mine = 0;
	int fd, ret = nm_notes_load(&t);

	for (i = 0; i < t.n; i++)
		mine += t.v[i].k.key.list == list;
	if (ret || !mine)
		goto out;
	o.kept = calloc(t.n, sizeof(*o.kept));
	ret = o.kept ? nm_store_walk(list, nm_note_mark, &o) : -ENOMEM;
	fd = ret ? -1 : nm_open_map(NM_MAP_RULE_NOTES);
	if (!ret && fd < 0)
		ret = fd;
	for (i = 0; !ret && i < t.n; i++)
		if (t.v[i].k.key.list == list && !o.kept[i] && bpf_map_delete_elem(fd, &t.v[i].k) &&
		    errno != ENOENT)
			ret = -errno;
	if (fd >= 0)
		close(fd);
out:
	free(o.kept);
	nm_notes_free(&t);
	return ret;
}
