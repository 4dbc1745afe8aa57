// SPDX-License-Identifier: GPL-2.0
/*
 * `load`: verify and pin the embedded BPF object. When netmonctl is already
 * loaded, upgrade in place: the new programs reuse the pinned maps (rules,
 * mode, counters and pending events survive), every cgroup link is switched
 * with an atomic link update, and every LSM link is replaced by attaching
 * the new program before the old link is released, so there is no moment
 * without enforcement. Pins of an older layout are migrated
 * (loader_migrate.c).
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "nm.h"
#include "netmonctl.skel.h"
#include "loader_internal.h"

static char nm_libbpf_last[512];
static unsigned int nm_pinned_progs; /* bit per nm_progs[] entry pinned by this load */

/* Without -d libbpf stays quiet, but its last complaint about a program is
 * kept so the one-line error can say which program the kernel rejected. */
static int nm_libbpf_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
	char line[512];
	va_list copy;

	va_copy(copy, ap);
	vsnprintf(line, sizeof(line), fmt, copy);
	va_end(copy);
	/* under -d too: the one-line error names the program the kernel refused */
	if (level != LIBBPF_DEBUG && strstr(line, "prog '") && !nm_libbpf_last[0]) {
		line[strcspn(line, "\n")] = 0;
		snprintf(nm_libbpf_last, sizeof(nm_libbpf_last), "%s", line);
	}
	if (nm_opts.debug)
		return vfprintf(stderr, fmt, ap);
	return 0;
}

static struct bpf_program *nm_skel_variant(struct netmonctl_bpf *skel, const struct nm_prog_desc *d,
					   const char *suffix)
{
	char name[64];

	snprintf(name, sizeof(name), "nm_%s%s", d->name, suffix);
	return bpf_object__find_program_by_name(skel->obj, name);
}

/* The program of d this load uses: an LSM hook's `_scoped` build where
 * nm_open_skel chose it (it checks scopes with bpf_loop), else the plain
 * one. */
struct bpf_program *nm_skel_prog(struct netmonctl_bpf *skel, const struct nm_prog_desc *d)
{
	struct bpf_program *scoped = d->layer == NM_LAYER_LSM ? nm_skel_variant(skel, d, "_scoped") : NULL;

	return scoped && bpf_program__autoload(scoped) ? scoped : nm_skel_variant(skel, d, "");
}

uint64_t nm_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

/* Upgrade: make every map of the new object the pinned one (all but the
 * ones a migration makes anew). *migrate: the older layout of the pins, or
 * 0 when they are of this one. */
static int nm_reuse_maps(struct netmonctl_bpf *skel, const struct nm_load_opts *o, uint32_t *migrate)
{
	struct bpf_map *map;
	uint32_t layout;
	int err = nm_pinned_layout(&layout);

	if (err)
		return nm_sys("load: pinned config", err);
	if (layout != NM_LAYOUT_VERSION && (layout < NM_LAYOUT_MIGRATES_FROM || layout > NM_LAYOUT_VERSION))
		return nm_fail(NM_EXIT_RUNTIME, "load",
			       "pinned state has layout %u, this netmonctl writes layout %u: "
			       "'netmonctl unload' first (rules are lost), or use the matching netmonctl",
			       layout, NM_LAYOUT_VERSION);
	*migrate = layout == NM_LAYOUT_VERSION ? 0 : layout;
	bpf_object__for_each_map(map, skel->obj) {
		const char *name = bpf_map__name(map);
		struct bpf_map_info info = {};
		uint32_t len = sizeof(info);
		int fd;

		if (strchr(name, '.'))
			continue; /* rodata belongs to the programs, not to the state */
		if (*migrate && nm_map_migrates(skel, map, *migrate))
			continue;
		fd = nm_open_map(name);
		if (fd < 0)
			return nm_sys(name, fd);
		err = nm_map_check(fd, name, bpf_map__key_size(map), bpf_map__value_size(map));
		if (!err && bpf_obj_get_info_by_fd(fd, &info, &len))
			err = nm_sys(name, errno);
		else if (err)
			err = NM_EXIT_RUNTIME;
		if (!err && map == skel->maps.events && o->ringbuf_set && info.max_entries != o->ringbuf)
			err = nm_usage("load", "ringbuf is %u bytes while loaded; unload to change it",
				       info.max_entries);
		if (!err && map == skel->maps.nets && o->entries_set && info.max_entries != o->entries)
			err = nm_usage("load", "entries is %u while loaded; unload to change it",
				       info.max_entries);
		if (!err && bpf_map__reuse_fd(map, fd))
			err = nm_sys(name, errno);
		close(fd);
		if (err)
			return err;
	}
	return 0;
}

/*
 * A first load (no config pinned: nothing is loaded) that finds a map pin
 * of its own name replaces it: an orphan, such as the meta that an older
 * netmonctl's unload of newer pins leaves (it does not know that name). No program uses a map that only a pin holds.
 */
static int nm_pin_maps(struct netmonctl_bpf *skel)
{
	char path[NM_PATH_MAX];
	struct bpf_map *map;

	bpf_object__for_each_map(map, skel->obj) {
		if (strchr(bpf_map__name(map), '.'))
			continue;
		nm_pin_path(path, sizeof(path), "maps", bpf_map__name(map));
		if (bpf_map__pin(map, path) == 0)
			continue;
		if (errno != EEXIST || nm_unpin(path) || bpf_map__pin(map, path))
			return nm_sys(path, errno);
	}
	return 0;
}

/* What this kernel allowed, probed once per load. */
struct nm_caps {
	int lsm_err;
	uint32_t ctx_helpers;
};

static int nm_init_state(const struct nm_caps *caps)
{
	struct nm_config cfg = {
		.layout_version = NM_LAYOUT_VERSION,
		.mode = NM_MODE_ENFORCE,
		.tool_version = NM_VERSION_CODE,
		.lsm_errno = caps->lsm_err,
		.loaded_ns = nm_now_ns(),
		.ctx_helpers = caps->ctx_helpers,
	};
	struct nm_meta meta = {};
	char notes[NM_PATH_MAX];
	int err = nm_config_write(&cfg);

	/* Comments of an earlier store (an older netmonctl's unload leaves
	 * the pin it does not know) would label its rules' look-alikes. */
	nm_pin_path(notes, sizeof(notes), "maps", NM_MAP_RULE_NOTES);
	if (!err)
		err = nm_unpin(notes);
	if (!err)
		err = nm_meta_write_gen(0, &meta);
	if (!err)
		err = nm_meta_write_gen(1, &meta);
	return err ? nm_sys("load: initial state", err) : 0;
}

/* Pin under a temporary name, then rename over the old pin: readers of the
 * pin dir always find a program there. */
int nm_pin_replace(int fd, const char *sub, const char *name)
{
	char path[NM_PATH_MAX], tmp[NM_PATH_MAX + 8];

	nm_pin_path(path, sizeof(path), sub, name);
	snprintf(tmp, sizeof(tmp), "%s__new", path); /* bpffs refuses names with dots */
	unlink(tmp);
	if (bpf_obj_pin(fd, tmp))
		return -errno;
	if (rename(tmp, path)) {
		int err = -errno;

		unlink(tmp);
		return err;
	}
	return 0;
}

static int nm_pin_progs(struct netmonctl_bpf *skel, json_t *progs, unsigned int *pinned)
{
	int i;

	for (i = 0; i < NM_HOOK_MAX; i++) {
		const struct nm_prog_desc *d = &nm_progs[i];
		struct bpf_program *p = nm_skel_prog(skel, d);
		int fd = p ? bpf_program__fd(p) : -1;
		struct bpf_prog_info info = {};
		uint32_t len = sizeof(info);
		int err;

		if (fd < 0)
			continue;
		err = nm_pin_replace(fd, "progs", d->name);
		if (err)
			return nm_sys(d->name, err);
		*pinned |= 1u << i;
		bpf_obj_get_info_by_fd(fd, &info, &len);
		json_object_set_new(json_object_get(progs, d->name),
				    "id", json_integer(info.id));
	}
	return 0;
}

static json_t *nm_prog_report(int lsm_err)
{
	json_t *progs = json_object();
	int i;

	for (i = 0; i < NM_HOOK_MAX; i++) {
		bool lsm = nm_progs[i].layer == NM_LAYER_LSM;
		json_t *p = json_pack("{s:s, s:s, s:b}", "hook", nm_progs[i].section, "layer",
				      nm_layer_name(nm_progs[i].layer), "loaded", !(lsm && lsm_err));

		if (lsm && lsm_err)
			json_object_set_new(p, "error", json_string(nm_lsm_reason(lsm_err)));
		json_object_set_new(progs, nm_progs[i].name, p);
	}
	return progs;
}

/*
 * The verifier's log under -d: its statistics and, for a program it
 * refuses, why (BPF_LOG_STATS, 5.2+). Level 1 would format every
 * instruction it walks only to drop the text when the program passes: 5x
 * the load time on this host, and most of the 193 s a 5.10 guest took
 * under TCG. NM_VERIFIER_LOG=1 or 2 asks for that trace.
 */
static uint32_t nm_verifier_log_level(void)
{
	const char *v = getenv("NM_VERIFIER_LOG");

	if (!nm_opts.debug)
		return 0;
	if (v && (!strcmp(v, "1") || !strcmp(v, "2")))
		return (uint32_t)(*v - '0') | 4;
	return 4;
}

static int nm_open_skel(struct netmonctl_bpf **out, const struct nm_caps *caps)
{
	LIBBPF_OPTS(bpf_object_open_opts, opts, .kernel_log_level = nm_verifier_log_level());
	struct netmonctl_bpf *skel;
	int i;

	libbpf_set_print(nm_libbpf_print);
	skel = netmonctl_bpf__open_opts(&opts);
	if (!skel)
		return nm_sys("load: open embedded object", errno);
	skel->rodata->nm_ctx_helpers = caps->ctx_helpers;
	for (i = 0; i < NM_HOOK_MAX; i++) {
		const struct nm_prog_desc *d = &nm_progs[i];
		bool loop = caps->ctx_helpers & NM_HELPER_LOOP;

		if (d->layer != NM_LAYER_LSM)
			continue;
		/* one build of each hook: with scopes where bpf_loop exists */
		bpf_program__set_autoload(nm_skel_variant(skel, d, "_scoped"), loop && !caps->lsm_err);
		bpf_program__set_autoload(nm_skel_variant(skel, d, ""), !loop && !caps->lsm_err);
	}
	*out = skel;
	return 0;
}

static int nm_load_fresh(struct netmonctl_bpf *skel, const struct nm_load_opts *o,
			 const struct nm_caps *caps, json_t *progs)
{
	int err;

	bpf_map__set_max_entries(skel->maps.events, o->ringbuf_set ? o->ringbuf : NM_DEFAULT_RINGBUF);
	bpf_map__set_max_entries(skel->maps.hosts, o->entries_set ? o->entries : NM_DEFAULT_ENTRIES);
	bpf_map__set_max_entries(skel->maps.nets, o->entries_set ? o->entries : NM_DEFAULT_ENTRIES);
	err = netmonctl_bpf__load(skel) ? -errno : 0;
	if (err)
		return err;
	err = nm_pin_maps(skel);
	if (!err)
		err = nm_init_state(caps);
	if (!err)
		err = nm_pin_progs(skel, progs, &nm_pinned_progs);
	return err ? NM_EXIT_RUNTIME : 0;
}

/* A failed first load takes back exactly the pins it made (libbpf knows
 * which maps it pinned), then the directories it made if they are empty:
 * whatever was in a pre-existing pin dir stays. */
static void nm_load_undo(struct netmonctl_bpf *skel)
{
	char path[NM_PATH_MAX];
	struct bpf_map *map;
	int i;

	for (i = 0; i < NM_HOOK_MAX; i++) {
		if (!(nm_pinned_progs & (1u << i)))
			continue;
		nm_pin_path(path, sizeof(path), "progs", nm_progs[i].name);
		nm_unpin(path);
	}
	bpf_object__for_each_map(map, skel->obj)
		if (bpf_map__is_pinned(map))
			bpf_map__unpin(map, NULL);
	nm_pin_dir_tidy();
}

static int nm_load_upgrade(struct netmonctl_bpf *skel, const struct nm_load_opts *o,
			   const struct nm_caps *caps, json_t *report, json_t *progs)
{
	struct nm_relink r = { .skel = skel };
	struct nm_relink scoped = { .skel = skel };
	struct nm_config cfg;
	uint32_t migrate = 0;
	int err = nm_reuse_maps(skel, o, &migrate);

	if (err)
		return err;
	err = netmonctl_bpf__load(skel) ? -errno : 0;
	if (!err && migrate)
		err = nm_migrate_state(skel, migrate);
	if (err)
		return err;
	r.recreate = migrate && migrate < 7;
	nm_links_walk(nm_relink_one, &r);
	if (r.err)
		return r.err;
	if (!migrate) /* scopes exist from layout 7 on */
		nm_scope_links_walk(nm_relink_one, &scoped);
	if (scoped.err)
		return scoped.err;
	r.updated += scoped.updated;
	/* The pins of config and meta move last: until then the pinned state
	 * says layout 2, so a migration cut short is simply done again. */
	if (migrate)
		err = nm_pin_migrated(skel, migrate);
	if (!err)
		err = nm_pin_progs(skel, progs, &nm_pinned_progs);
	if (err)
		return err;
	if (nm_config_read(&cfg) == 0) {
		cfg.tool_version = NM_VERSION_CODE;
		cfg.upgraded_ns = nm_now_ns();
		cfg.lsm_errno = caps->lsm_err;
		cfg.ctx_helpers = caps->ctx_helpers;
		nm_config_write(&cfg);
	}
	json_object_set_new(report, "links_updated", json_integer(r.updated));
	if (migrate)
		json_object_set_new(report, "migrated_from_layout", json_integer(migrate));
	if (migrate)
		json_object_set_new(report, "bucket_slots_recounted", json_integer(nm_migrated_slots));
	if (migrate >= 4 && migrate < 6) {
		uint64_t remade;

		err = nm_store_class_sets(&remade);
		if (err)
			return nm_sys("load: giving port sets their protocol classes", err);
		json_object_set_new(report, "sets_remade", json_integer((json_int_t)remade));
	}
	if (migrate) {
		int completed;

		err = nm_attach_complete(report, &completed);
		json_object_set_new(report, "cgroups_completed", json_integer(completed));
	}
	return err;
}

static int nm_load_failed(int err)
{
	if (err > 0)
		return err; /* already recorded */
	if (nm_libbpf_last[0])
		return nm_fail(NM_EXIT_RUNTIME, "load", "%s: %s (%s)%s", nm_libbpf_last, strerror(-err),
			       nm_errno_name(err), nm_opts.debug ? "" : "; run with -d for the verifier log");
	return nm_sys("load", err);
}

/* load -j's programs in status's shape: an array, each with its name first. */
static json_t *nm_prog_array(json_t *progs)
{
	json_t *list = json_array();
	int i;

	for (i = 0; i < NM_HOOK_MAX; i++) {
		json_t *o = json_pack("{s:s}", "name", nm_progs[i].name);

		json_object_update(o, json_object_get(progs, nm_progs[i].name));
		json_array_append_new(list, o);
	}
	json_decref(progs);
	return list;
}

int nm_load(const struct nm_load_opts *o, json_t *report)
{
	struct netmonctl_bpf *skel = NULL;
	bool upgrade;
	json_t *progs;
	struct nm_caps caps;
	int err;

	nm_pinned_progs = 0;
	nm_libbpf_last[0] = 0;
	upgrade = nm_is_loaded();
	caps.lsm_err = nm_probe_lsm();
	caps.ctx_helpers = nm_probe_ctx_helpers();
	progs = nm_prog_report(caps.lsm_err);
	err = nm_open_skel(&skel, &caps);
	if (!err)
		err = upgrade ? nm_load_upgrade(skel, o, &caps, report, progs)
			      : nm_load_fresh(skel, o, &caps, progs);
	if (err && !upgrade && skel)
		nm_load_undo(skel);
	else if (err && !upgrade)
		nm_pin_dir_tidy();
	json_object_set_new(report, "action", json_string(upgrade ? "upgraded" : "loaded"));
	json_object_set_new(report, "pin_dir", json_string(nm_opts.pin_dir));
	json_object_set_new(report, "programs", nm_prog_array(progs));
	json_object_set_new(report, "lsm_layer",
			    json_string(caps.lsm_err ? nm_lsm_reason(caps.lsm_err) : "available"));
	netmonctl_bpf__destroy(skel);
	return err ? nm_load_failed(err) : 0;
}

/* `load`'s arguments (also a state file's load line): -EINVAL with why in err. */
int nm_load_opts_parse(int argc, char **argv, struct nm_load_opts *o, char *err, size_t errlen)
{
	static const char *const kw[] = { "ringbuf", "entries", NULL };
	long page = sysconf(_SC_PAGESIZE);
	uint64_t v;
	int i, k;

	for (i = 0; i < argc; i += 2) {
		k = nm_keyword(argv[i], kw);
		if (k < 0)
			return snprintf(err, errlen, "unknown keyword '%s'; expected ringbuf or entries", argv[i]), -EINVAL;
		if (i + 1 >= argc)
			return snprintf(err, errlen, "%s needs a value", kw[k]), -EINVAL;
		if (k == 0) {
			if (nm_parse_size(argv[i + 1], &v) || v < (uint64_t)page || v > (1ull << 30) ||
			    (v & (v - 1)))
				return snprintf(err, errlen, "ringbuf %s: a power of two from %ld to 1G (e.g. 4M)",
						argv[i + 1], page), -EINVAL;
			o->ringbuf = v;
			o->ringbuf_set = true;
		} else {
			if (nm_parse_u64(argv[i + 1], 1u << 26, &v) || v == 0)
				return snprintf(err, errlen, "entries %s: a number from 1 to %u", argv[i + 1],
						1u << 26), -EINVAL;
			o->entries = v;
			o->entries_set = true;
		}
	}
	return 0;
}
