// SPDX-License-Identifier: GPL-2.0
/*
 * Port sets made before layout 6 carry no protocol classes in their id
 * (bpf/netmonctl.h, nm_set_id_classes), so a rule with no port inside one
 * would hold for TCP and UDP only, while layout 6 promises every protocol.
 * `load`, after migrating the pins, re-makes each such set under an id
 * with its classes and points the values naming it there: one map write
 * per value, each hook seeing the old set or the new one, and both deny
 * TCP and UDP alike. Sets hold at most NM_MAX_SET_RULES rules, so finding
 * them is cheap; the values are read only when one needs re-making.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <bpf/bpf.h>
#include "store_internal.h"

struct nm_remade {
	uint32_t from, to;
};

/* The port-less classes of set id's rules (index loaded). */
static uint8_t nm_set_rule_classes(const struct nm_sets *S, uint32_t id)
{
	const struct nm_set_rule_key *first;
	size_t n = nm_sets_find(S, id, &first), i;
	uint8_t classes = 0;

	for (i = 0; i < n; i++) {
		struct nm_port_rule r = { first[i].lo, first[i].hi, first[i].protos, 0 };

		classes |= nm_port_rule_portless_classes(&r);
	}
	return classes;
}

/* Every set whose id lacks classes its rules have: old and new ids. */
static int nm_sets_to_remake(struct nm_sets *S, struct nm_remade **out, size_t *n)
{
	size_t i, cap = 0;

	*out = NULL;
	*n = 0;
	for (i = 0; i < S->n; i++) {
		uint32_t id = S->k[i].id;
		uint8_t classes;

		if (i > 0 && S->k[i - 1].id == id)
			continue;
		classes = nm_set_rule_classes(S, id);
		if (!(classes & ~nm_set_id_classes(id)))
			continue;
		if (nm_array_grow(out, &cap, *n + 1, sizeof(**out)))
			return -ENOMEM;
		(*out)[(*n)++] = (struct nm_remade){
			id, (++S->top_id & NM_SET_SEQ_MASK) | (uint32_t)classes << NM_SET_CLASS_SHIFT
		};
	}
	return 0;
}

/* Set id's rules as port rules, for nm_sets_write. */
static struct nm_port_rule *nm_set_rules_copy(const struct nm_sets *S, uint32_t id, size_t *n)
{
	const struct nm_set_rule_key *first;
	struct nm_port_rule *r;
	size_t i;

	*n = nm_sets_find(S, id, &first);
	r = calloc(*n ? *n : 1, sizeof(*r));
	for (i = 0; r && i < *n; i++)
		r[i] = (struct nm_port_rule){ first[i].lo, first[i].hi, first[i].protos, 0 };
	return r;
}

/* Point every slot of one map naming an old id at its new one. */
static int nm_renamed_slots(int fd, const struct nm_remade *m, size_t nm)
{
	struct nm_rule_key *keys = NULL;
	struct nm_rule_val *vals = NULL;
	size_t n = 0, i, k;
	int ret = nm_read_entries(fd, &keys, &vals, &n), s;

	for (i = 0; !ret && i < n; i++) {
		bool changed = false;

		for (s = 0; s < NM_SET_SLOTS && s < vals[i].count; s++) {
			struct nm_port_rule *r = &vals[i].r[s];

			for (k = 0; nm_port_rule_is_set(r) && k < nm; k++) {
				if (nm_port_set_id(r) != m[k].from)
					continue;
				uint8_t flags = r->flags;

				*r = nm_port_set_ref(m[k].to);
				r->flags = flags;
				changed = true;
				break;
			}
		}
		if (changed && bpf_map_update_elem(fd, &keys[i], &vals[i], BPF_EXIST))
			ret = -errno;
	}
	free(keys);
	free(vals);
	return ret;
}

int nm_store_class_sets(uint64_t *remade)
{
	struct nm_remade *m = NULL;
	struct nm_store s;
	size_t n = 0, i;
	int w, ret = nm_store_open(&s);

	*remade = 0;
	if (ret)
		return ret;
	ret = nm_sets_load(&s.sets);
	if (!ret)
		ret = nm_sets_to_remake(&s.sets, &m, &n);
	if (!ret && n && nm_edit_marked()) { /* we hold the lock: a killed edit's mark */
		/* An older edit was killed: repair it first (its mark would go
		 * with ours), then look again at what the repair left. */
		char err[256];

		free(m);
		m = NULL;
		nm_store_close(&s);
		ret = nm_store_open_edit(&s, err, sizeof(err));
		if (ret)
			return ret;
		ret = nm_sets_load(&s.sets);
		if (!ret)
			ret = nm_sets_to_remake(&s.sets, &m, &n);
	}
	if (!ret && n)
		ret = nm_edit_mark(); /* killed midway: the next edit repairs (orphan sets go) */
	for (i = 0; !ret && i < n; i++) {
		size_t count;
		struct nm_port_rule *r = nm_set_rules_copy(&s.sets, m[i].from, &count);

		ret = r ? nm_sets_write(&s.sets, m[i].to, r, count) : -ENOMEM;
		free(r);
	}
	for (w = 0; !ret && n && w < NM_STORES; w++)
		ret = nm_renamed_slots(s.fd[w], m, n);
	for (i = 0; !ret && i < n; i++)
		ret = nm_sets_delete(&s.sets, m[i].from);
	if (!ret && n) {
		struct nm_meta meta;
		uint32_t g;

		/* The counts of what only LSM enforces now include these rules. */
		ret = nm_store_recount(s.gen, true, &meta);
		for (g = 0; !ret && g < NM_GENS; g++)
			ret = nm_meta_write_gen(g, &meta);
		if (!ret)
			nm_edit_done();
	}
	*remade = ret ? 0 : n;
	free(m);
	nm_store_close(&s);
	return ret;
}
