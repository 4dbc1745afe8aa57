/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The rule store's parts, shared by store.c (the commands: add, del,
 * replace, flush, walk), store_plan.c (what an edit will write),
 * store_txn.c (an edit as one transaction: the order of writes that keeps
 * the hooks and a kill safe), store_repair.c (what a killed edit left),
 * store_batch.c (writing and deleting entries in kernel batches) and
 * store_buckets.c (which bucket slots a trie prefix counts in).
 */
#ifndef NM_STORE_INTERNAL_H
#define NM_STORE_INTERNAL_H

#include <stdbool.h>
#include <bpf/bpf.h>
#include "nm.h"

/* Write the message, evaluate to the error code. */
#define STORE_ERR(code, ...) ((void)snprintf(err, errlen, __VA_ARGS__), (code))

enum { NM_HOSTS, NM_NETS, NM_STORES };

/* Port sets (store_sets.c, bpf/netmonctl.h): prefixes with many port rules. */
struct nm_sets {
	int fd_bits, fd_rules;        /* port_sets, set_rules */
	uint32_t max_sets, max_rules; /* their max_entries */
	bool loaded;                  /* k and the counts below read */
	struct nm_set_rule_key *k;    /* every exact rule, sorted by (id, rule) */
	size_t n, cap;
	size_t n_sets;   /* entries in port_sets */
	uint32_t top_id; /* highest id in use: new sets count up from it */
	uint32_t last;
};
struct nm_ids {
	uint32_t *v;
	size_t n, cap;
};

extern const char *const nm_store_names[NM_STORES];

struct nm_store {
	int fd[NM_STORES];
	uint32_t max[NM_STORES];
	int buckets_fd;
	uint32_t gen;        /* the active generation */
	struct nm_meta meta; /* its counts */
	struct nm_sets sets;
};


/* A rule's map key (bpf/netmonctl.h), and which map it goes in. */
static inline struct nm_rule_key nm_map_key(const struct nm_rule_key *k, int *which)
{
	struct nm_rule_key m;

	*which = nm_map_key_of(k, &m) ? NM_HOSTS : NM_NETS;
	return m;
}

static inline uint32_t *nm_len_slot(struct nm_meta *m, const struct nm_rule_key *k)
{
	static uint32_t none;

	if (k->prefixlen <= NM_KEY_ANY_BITS || nm_key_is_host(k))
		return &none; /* only trie prefixes make up the kernel's walk */
	return &m->len_count[k->dir][k->family == NM_FAM_V6][k->prefixlen - NM_KEY_HDR_BITS];
}

static inline int nm_port_find(const struct nm_rule_val *v, const struct nm_port_rule *p)
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
static inline bool nm_lookup_exact(struct nm_store *s, const struct nm_rule_key *key, struct nm_rule_val *val)
{
	int which;
	struct nm_rule_key m = nm_map_key(key, &which);

	return bpf_map_lookup_elem(s->fd[which], &m, val) == 0 && val->prefixlen == key->prefixlen;
}


/* While planning: the rules of a prefix that outgrew its value (on), of
 * any number (store_plan_sets.c). */
struct nm_big {
	struct nm_port_rule *r;
	size_t n, cap;
	bool on;
};

/* What an add writes to one map: parallel arrays, one kernel batch each. */
struct nm_batch {
	size_t n;
	struct nm_rule_key *keys; /* map keys */
	struct nm_rule_val *vals;
	struct nm_rule_val *olds; /* olds[i] valid where existed[i] */
	bool *existed;
	bool *fresh; /* !existed: a new prefix */
	struct nm_big *big; /* per entry, until nm_plan_finalize */
};

struct nm_seen_slot {
	uint64_t a, b; /* entry << 1 | store, the rule */
	uint8_t state;
};
struct nm_seen {
	struct nm_seen_slot *slot;
	size_t mask, used;
};

/* A port set the edit writes before its build. A rehome set holds a
 * value's 8 inline rules (which layout 3 allowed) so that the value has
 * a free slot for the edit's new set: the value is rewritten to name it
 * (same rules, no switch) right after the sets are written. */
struct nm_plan_set {
	uint32_t id;
	struct nm_port_rule *r;
	size_t n;
	bool rehome;
	int store;
	struct nm_rule_key key;  /* rehome: the value's map key */
	struct nm_rule_val val;  /* rehome: the value naming the set */
};

/* vals: what each entry holds once the edit is done (count 0: deleted). */
/* A change of rules rules of entry k, lsm_only of them nm_rule_lsm_only,
 * into the counts (bpf/netmonctl.h nm_rule_counts_global): the one place
 * an edit, a repair and a recount count a rule. */
static inline void nm_meta_add(struct nm_meta *m, const struct nm_rule_key *k, int64_t rules, int64_t lsm_only)
{
	m->rules += rules;
	m->list_rules[k->list % NM_LISTS] += rules;
	if (nm_rule_counts_global(k)) {
		m->dir_rules[k->dir] += rules;
		m->lsm_only_rules[k->dir] += lsm_only;
	} else if (!nm_list_allows(k->list)) {
		m->scoped_rules[k->dir] += rules;
		m->scoped_lsm_only[k->dir] += lsm_only;
	}
}

struct nm_plan {
	struct nm_batch b[NM_STORES];
	size_t added;   /* port rules that are new (a del: that go) */
	size_t removed; /* a replace: port rules that go */
	bool flush;     /* every entry goes: olds were not read (nothing needs them) */
	uint16_t list;  /* a replace: the list it makes anew (the others stay) */
	struct nm_seen seen;     /* the rules of big entries */
	struct nm_plan_set *made; /* new port sets */
	size_t n_made, cap_made;
	uint64_t set_rules_made;
	struct nm_ids gone; /* port sets no value names after the edit */
};

/*
 * Rules are grouped by prefix through an open-addressing index from map
 * key to plan entry: one pass over the input, in input order. (A qsort of
 * a million keyed rules took 0.3 s plus 32 MiB of scratch it faulted in.)
 */
struct nm_key_index {
	uint32_t *slot; /* 0: empty; else which << 31 | (entry + 1) */
	uint32_t mask;
};


/* store_sets.c: port sets (bpf/netmonctl.h), for prefixes with many port rules */
int nm_ids_push(struct nm_ids *l, uint32_t id);
int nm_sets_open(struct nm_sets *S);
void nm_sets_close(struct nm_sets *S);
int nm_sets_load(struct nm_sets *S);
size_t nm_sets_find(const struct nm_sets *S, uint32_t id, const struct nm_set_rule_key **first);
bool nm_sets_has(const struct nm_sets *S, uint32_t id, const struct nm_port_rule *r);
int nm_sets_write(struct nm_sets *S, uint32_t id, const struct nm_port_rule *r, size_t n);
int nm_sets_delete(struct nm_sets *S, uint32_t id);
int nm_sets_delete_rules(struct nm_sets *S, uint32_t id, const struct nm_port_rule *r, size_t n);
int nm_sets_keep_only(struct nm_sets *S, const uint32_t *keep, size_t n_keep, uint64_t *gone);
uint64_t nm_sets_val_rules(const struct nm_sets *S, const struct nm_rule_val *v);
uint64_t nm_sets_val_lsm_only(const struct nm_sets *S, const struct nm_rule_key *k, const struct nm_rule_val *v);

/* The set a value names, or 0 (ids start at 1). */
static inline uint32_t nm_val_set_id(const struct nm_rule_val *v)
{
	int i;

	for (i = 0; i < v->count && i < NM_PORT_RULES; i++)
		if (nm_port_rule_is_set(&v->r[i]))
			return nm_port_set_id(&v->r[i]);
	return 0;
}

/* store.c */
int nm_store_open(struct nm_store *s);
void nm_store_close(struct nm_store *s);

/* store_buckets.c: add v to the bucket slots of entries b[w].keys[from[w]..n)
 * of both maps (only fresh ones when fresh_only), all or nothing. */
int nm_buckets_add(struct nm_store *s, const struct nm_batch b[NM_STORES], const size_t from[NM_STORES],
		   bool fresh_only, int v);

/* store_plan.c */
void nm_plan_free(struct nm_plan *p);
int nm_plan_build(struct nm_store *s, const struct nm_rule *rules, size_t n, struct nm_plan *p,
		  char *err, size_t errlen);
int nm_replace_plan_build(struct nm_store *s, const struct nm_rule *rules, size_t n, struct nm_plan *p,
			  char *err, size_t errlen);
int nm_del_plan_build(struct nm_store *s, const struct nm_rule *rules, size_t n, struct nm_plan *p,
		      char *err, size_t errlen);
size_t nm_del_partition(struct nm_batch *b);

/* store_plan_sets.c */
int nm_big_put(struct nm_plan *p, int w, size_t e, const struct nm_port_rule *r);
int nm_big_start(struct nm_plan *p, int w, size_t e, const struct nm_port_rule *r, size_t n);
int nm_big_del(struct nm_plan *p, int w, size_t e, const struct nm_port_rule *r);
int nm_big_from_set(struct nm_store *s, struct nm_plan *p, int w, size_t e, uint32_t id);
bool nm_plan_old_has(struct nm_store *s, const struct nm_batch *b, size_t e, const struct nm_port_rule *r);
uint64_t nm_plan_val_rules(struct nm_store *s, const struct nm_plan *p, const struct nm_rule_val *v);
uint64_t nm_plan_val_lsm_only(struct nm_store *s, const struct nm_plan *p, const struct nm_rule_key *k,
			      const struct nm_rule_val *v);
int nm_plan_finalize(struct nm_store *s, struct nm_plan *p, char *err, size_t errlen);
void nm_plan_sets_free(struct nm_plan *p);

/* store_txn.c: apply a plan as one transaction (see there) */
int nm_txn_commit(struct nm_store *s, struct nm_plan *p, char *err, size_t errlen);

/* store_repair.c: open for an edit, repairing first what a killed edit left */
int nm_store_open_edit(struct nm_store *s, char *err, size_t errlen);
int nm_store_repair(struct nm_store *s, struct nm_repair *r);
int nm_edit_mark(void); /* before an edit's first write */
bool nm_edit_marked(void); /* a mark is there: with the lock held, a killed edit's */
void nm_edit_done(void);  /* after its last, or a failure before its first */

/* store_buckets.c: every slot set from the keys of both maps; *written: slots changed */
int nm_buckets_rebuild(int buckets_fd, struct nm_rule_key *const keys[NM_STORES],
		       const size_t n[NM_STORES], uint64_t *written);

/* store_batch.c */
int nm_batch_apply(int fd, struct nm_batch *b, size_t *done);
struct nm_apply_job {
	int fd;
	struct nm_batch *b;
	size_t n_delete; /* the last n_delete entries of b are deleted, not written */
	size_t done;
	int ret;
};
int nm_apply_both(struct nm_apply_job *hosts, struct nm_apply_job *nets);
int nm_collect_keys(int fd, struct nm_rule_key **out, size_t *count);
/* Every entry, keys and values: by kernel batches where the map has them. */
int nm_read_entries(int fd, struct nm_rule_key **keys, struct nm_rule_val **vals, size_t *count);
int nm_delete_keys(int fd, struct nm_rule_key *keys, size_t n);

#endif
