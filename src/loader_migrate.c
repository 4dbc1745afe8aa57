// SPDX-License-Identifier: GPL-2.0
/*
 * `load` over pins of an older layout: the maps it reuses and those it
 * makes anew, the counts taken again from the rule maps, and every link
 * moved to the new programs without a moment of no enforcement.
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "loader_internal.h"

/* The maps a migration from layout `from` starts fresh: config (it says
 * the layout), the counts (under a new name each layout), the buckets
 * before 5 (16 slots to an element since 5, and counting hosts), from 2
 * and 3 the port sets (new in 4), and the counters (one per hook: layout 3
 * added bind4 and bind6, layout 6 sock_create; the counts restart at 0). */
bool nm_map_migrates(struct netmonctl_bpf *skel, const struct bpf_map *map, uint32_t from)
{
	if (map == skel->maps.config || map == skel->maps.rule_lists)
		return true;
	if (from < 7 && (map == skel->maps.scopes || map == skel->maps.scope_ctx || map == skel->maps.scope_ids ||
			  map == skel->maps.rule_hits))
		return true;
	if (from < 5 && map == skel->maps.buckets)
		return true;
	if (from < 4 && (map == skel->maps.port_sets || map == skel->maps.set_rules))
		return true;
	return from < 6 && map == skel->maps.counters; /* layout 6 has one more hook: sock_create */
}

/* The counts of the active generation, for both of the new layout's, taken
 * from the maps: layout 6 counts what no older one did (lsm_only_rules).
 * A generation an older meta calls empty stays empty. */
static int nm_migrate_meta(uint32_t from, uint32_t gen, struct nm_meta *meta)
{
	static const char *const old_meta[] = { [2] = NM_MAP_META_LAYOUT2, [3] = NM_MAP_META_LAYOUT3,
						[4] = NM_MAP_META_LAYOUT4, [5] = NM_MAP_META_LAYOUT5,
						[6] = NM_MAP_META_LAYOUT6 };
	uint64_t old_rules = 1;
	int err = 0;

	if (from >= 3) /* layout 2's meta had no generations: never empty */
		err = nm_array_read_raw(old_meta[from], gen, &old_rules, sizeof(old_rules));
	if (!err && old_rules)
		err = nm_store_recount(gen, from >= 4, meta);
	return err;
}

/*
 * Layout 2 to 6 -> 7, into the new object's fresh config and counts.
 * The config keeps everything but the layout number: layout 2's is the
 * first 40 bytes of this one (active_gen 0), later ones all of it
 * (active_gen too: a killed edit of an older layout is repaired by the
 * next edit like one of this layout, the generations work the same). The
 * counts are those of the active generation (nm_migrate_meta), the same
 * for both. A generation whose count said 0 stays empty, whatever its
 * entries hold (a flush killed after its switch). The new buckets array
 * is counted from the keys, host rules now included, before any new
 * program runs: layout 5's hooks skip `hosts` where a bucket says 0. The
 * old programs keep their own array until their links move. The rule maps are reused as they are:
 * enforcement never lapses, the old programs keep their maps until their
 * links move.
 */
uint64_t nm_migrated_slots; /* for the load report */

int nm_migrate_state(struct netmonctl_bpf *skel, uint32_t from)
{
	struct nm_config cfg = {};
	struct nm_meta meta = {};
	uint64_t slots = 0;
	uint32_t key = 0;
	int err = nm_array_read_raw(NM_MAP_CONFIG, 0, &cfg,
				    from == 2 ? offsetof(struct nm_config, active_gen) : sizeof(cfg));

	if (!err)
		err = nm_migrate_meta(from, cfg.active_gen & 1, &meta);
	if (!err && from < 5)
		err = nm_store_recount_buckets(bpf_map__fd(skel->maps.buckets), &slots);
	if (err)
		return nm_sys("load: reading the state of an older layout", err);
	cfg.layout_version = NM_LAYOUT_VERSION;
	if (bpf_map_update_elem(bpf_map__fd(skel->maps.config), &key, &cfg, BPF_ANY))
		return nm_sys("load: config", errno);
	for (key = 0; key < NM_GENS; key++)
		if (bpf_map_update_elem(bpf_map__fd(skel->maps.rule_lists), &key, &meta, BPF_ANY))
			return nm_sys("load: meta", errno);
	nm_migrated_slots = slots;
	return 0;
}

/* The maps made anew pinned, the older layouts' meta pins gone, and config last: it says the layout,
 * so a migration cut short before it is done again from the start. */
int nm_pin_migrated(struct netmonctl_bpf *skel, uint32_t from)
{
	const char *name;
	struct bpf_map *map;
	int err;

	bpf_object__for_each_map(map, skel->obj) {
		if (!nm_map_migrates(skel, map, from) || map == skel->maps.config)
			continue;
		name = bpf_map__name(map);
		err = nm_pin_replace(bpf_map__fd(map), "maps", name);
		if (err)
			return nm_sys(name, err);
	}
	err = nm_unpin_old_meta();
	if (err)
		return nm_sys("maps", err);
	err = nm_pin_replace(bpf_map__fd(skel->maps.config), "maps", NM_MAP_CONFIG);
	return err ? nm_sys(NM_MAP_CONFIG, err) : 0;
}


/*
 * A cgroup link of a layout before 7 gets a new link, not an update: the
 * kernel gives a program its cgroup storage when it is attached, and a
 * link update swaps the program only, so the new program would find no
 * storage. The new link is made before the old one's pin is replaced:
 * for a moment both programs check, never neither.
 */
static int nm_relink_cgroup_new(const struct nm_prog_desc *d, int link_fd, int prog_fd, const char *name)
{
	struct bpf_link_info info = {};
	uint32_t len = sizeof(info);
	char path[NM_PATH_MAX];
	int cg, link, err;

	if (bpf_obj_get_info_by_fd(link_fd, &info, &len))
		return -errno;
	err = nm_cgroup_path(info.cgroup.cgroup_id, path, sizeof(path));
	if (err)
		return err;
	cg = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg < 0)
		return -errno;
	link = bpf_link_create(prog_fd, cg, d->attach_type, NULL);
	err = link < 0 ? -errno : 0;
	close(cg);
	if (!err)
		err = nm_pin_replace(link, "links", name);
	if (link >= 0)
		close(link);
	return err;
}

int nm_relink_one(const char *name, int link_fd, void *arg)
{
	struct nm_relink *r = arg;
	const struct nm_prog_desc *d = nm_link_desc(name);
	struct bpf_program *p = d ? nm_skel_prog(r->skel, d) : NULL;
	int prog_fd = p ? bpf_program__fd(p) : -1;
	int new_link, err;

	if (prog_fd < 0)
		return 0; /* not loaded this time: the old program stays attached */
	if (d->layer == NM_LAYER_CGROUP && r->recreate) {
		err = nm_relink_cgroup_new(d, link_fd, prog_fd, name);
		if (err) {
			r->err = nm_sys(name, err);
			return -1;
		}
		r->updated++;
		return 0;
	} else if (d->layer == NM_LAYER_CGROUP) {
		/* One syscall swaps the program under the link: atomic. */
		if (bpf_link_update(link_fd, prog_fd, NULL)) {
			r->err = nm_sys(name, errno);
			return -1;
		}
		r->updated++;
		return 0;
	}
	/* LSM (tracing) links cannot be updated: attach the new program first,
	 * then drop the old link when its pin is replaced. */
	new_link = bpf_raw_tracepoint_open(NULL, prog_fd);
	if (new_link < 0) {
		r->err = nm_sys(name, errno);
		return -1;
	}
	err = nm_pin_replace(new_link, "links", name);
	close(new_link);
	if (err) {
		r->err = nm_sys(name, err);
		return -1;
	}
	r->updated++;
	return 0;
}

