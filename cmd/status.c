// SPDX-License-Identifier: GPL-2.0
/*
 * netmonctl status: what is loaded, where it is attached, what it counted,
 * and what this kernel can do. Reads pins and map headers only: it never
 * opens the BPF object or walks the rule store, so it stays fast at a
 * million rules. Works before `load` too.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include <bpf/libbpf.h>
#include "cmds.h"

static json_t *status_kernel(const struct nm_kernel *kp)
{
	struct nm_kernel k = *kp;
	json_t *o;

	o = json_pack("{s:s, s:b, s:b, s:s*, s:s*, s:b}", "release", k.release, "btf", k.btf, "bpffs",
		      k.bpffs, "cgroup2", k.cgroup2[0] ? k.cgroup2 : NULL, "lsm_list",
		      k.lsm_active >= 0 ? k.lsm_list : NULL, "lsm_loadable", k.lsm_loadable);
	json_object_set_new(o, "lsm_active", k.lsm_active < 0 ? json_null() : json_boolean(k.lsm_active));
	if (!k.lsm_loadable)
		json_object_set_new(o, "lsm_error", json_string(nm_lsm_reason(k.lsm_errno)));
	json_object_set_new(o, "cgroup_ctx_helpers",
			    json_pack("{s:b, s:b, s:b}", "pid", !!(k.ctx_helpers & NM_HELPER_PID_TGID),
				      "comm", !!(k.ctx_helpers & NM_HELPER_COMM), "cgroup_id",
				      !!(k.ctx_helpers & NM_HELPER_CGROUP_ID)));
	return o;
}

/* Kernel memory of a map as the kernel reports it (fdinfo memlock). */
static long long status_memlock(int fd)
{
	char path[64], line[128];
	long long v = -1;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "memlock: %lld", &v) == 1)
			break;
	fclose(f);
	return v;
}

static json_t *status_maps(const struct nm_meta *meta)
{
	static const char *const types[] = { [BPF_MAP_TYPE_LPM_TRIE] = "lpm_trie",
					     [BPF_MAP_TYPE_HASH] = "hash",
					     [BPF_MAP_TYPE_ARRAY] = "array",
					     [BPF_MAP_TYPE_PERCPU_ARRAY] = "percpu_array",
					     [BPF_MAP_TYPE_RINGBUF] = "ringbuf",
					     [BPF_MAP_TYPE_CGROUP_STORAGE] = "cgroup_storage" };
	json_t *maps = json_array();
	int i;

	for (i = 0; nm_map_names[i]; i++) {
		struct bpf_map_info info = {};
		uint32_t len = sizeof(info);
		int fd = nm_open_map(nm_map_names[i]);
		json_t *m;

		if (fd < 0)
			continue;
		bpf_obj_get_info_by_fd(fd, &info, &len);
		m = json_pack("{s:s, s:i, s:s, s:i, s:I}", "name", nm_map_names[i], "id", info.id, "type",
			      info.type < sizeof(types) / sizeof(types[0]) && types[info.type] ? types[info.type] : "other",
			      "max_entries", info.max_entries, "memlock", status_memlock(fd));
		if (!strcmp(nm_map_names[i], NM_MAP_HOSTS))
			json_object_set_new(m, "entries", json_integer(meta->hosts));
		if (!strcmp(nm_map_names[i], NM_MAP_NETS))
			json_object_set_new(m, "entries", json_integer(meta->prefixes - meta->hosts));
		close(fd);
		json_array_append_new(maps, m);
	}
	return maps;
}

/* Kernel memory of every map, as the kernel counts it: since 6.4 what a
 * map really holds (hash and trie entries included), before that an
 * estimate made when the map was created. */
static long long status_memlock_total(json_t *maps)
{
	long long sum = 0;
	json_t *m;
	size_t i;

	json_array_foreach(maps, i, m)
		sum += json_integer_value(json_object_get(m, "memlock"));
	return sum;
}

/* Rules whose direction no attached layer enforces now: listed, and said
 * not to be enforced. A scope's rules have the cgroup layer at the
 * scope's cgroup (egress, bind) or the LSM layer (every dir). */
static json_int_t status_unenforced(const struct nm_meta *meta)
{
	unsigned dirs = nm_enforced_dirs();
	json_int_t n = 0;
	int d;

	for (d = 0; d < NM_DIR_MAX; d++)
		n += dirs & (1u << d) ? 0 : (json_int_t)meta->dir_rules[d];
	if (!(dirs & NM_DIRS_LSM_SCOPES))
		n += (json_int_t)meta->scoped_rules[NM_DIR_INGRESS];
	return n;
}

/* Rules the attached layers enforce for TCP and UDP only: with no port,
 * in a direction the cgroup layer sees, while the LSM layer is off
 * (nm_rule_enforced, counted per dir by the store). */
static json_int_t status_partly_enforced(const struct nm_meta *meta)
{
	unsigned dirs = nm_enforced_dirs();
	json_int_t n = 0;
	int d;

	if (!(dirs & NM_DIRS_LSM_SCOPES)) /* a scope's: the cgroup layer at its cgroup */
		n += (json_int_t)(meta->scoped_lsm_only[NM_DIR_EGRESS] + meta->scoped_lsm_only[NM_DIR_BIND]);
	if (dirs & (1u << NM_DIR_INGRESS))
		return n; /* the LSM layer sees every socket */
	for (d = 0; d < NM_DIR_MAX; d++)
		n += dirs & (1u << d) ? (json_int_t)meta->lsm_only_rules[d] : 0;
	return n;
}

static int status_scope_count(uint32_t id, const struct nm_scope *rec, void *arg)
{
	(void)id;
	(void)rec;
	(*(int *)arg)++;
	return 0;
}

/* Scopes besides the global one (`policy list` has the rest). */
static int status_scopes(void)
{
	int n = 0;

	nm_scopes_walk(status_scope_count, &n);
	return n;
}

/* Where each program is attached, from the link pins. */
static int status_link(const char *name, int fd, void *arg)
{
	struct bpf_link_info info = {};
	uint32_t len = sizeof(info);
	char where[NM_PATH_MAX] = "system";
	json_t *l;

	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		return 0;
	if (info.type == BPF_LINK_TYPE_CGROUP &&
	    nm_cgroup_path(info.cgroup.cgroup_id, where, sizeof(where)))
		snprintf(where, sizeof(where), "cgroup id %llu (removed)",
			 (unsigned long long)info.cgroup.cgroup_id);
	l = json_pack("{s:s, s:i, s:i, s:s}", "name", name, "id", info.id, "prog_id", info.prog_id,
		      "target", where);
	json_array_append_new(arg, l);
	return 0;
}

static json_t *status_programs(json_t *links, const struct nm_counters *cnt,
			       const struct nm_kernel *k)
{
	json_t *progs = json_array();
	int i;

	for (i = 0; i < NM_HOOK_MAX; i++) {
		const struct nm_prog_desc *d = &nm_progs[i];
		struct bpf_prog_info info = {};
		uint32_t len = sizeof(info);
		int fd = nm_open_prog(d->name);
		json_t *p = json_pack("{s:s, s:s, s:s, s:b}", "name", d->name, "hook", d->section, "layer",
				      nm_layer_name(d->layer), "loaded", fd >= 0);
		json_t *at = json_array(), *l;
		size_t j;

		if (fd >= 0) {
			bpf_obj_get_info_by_fd(fd, &info, &len);
			close(fd);
			json_object_set_new(p, "id", json_integer(info.id));
			json_object_set_new(p, "run_cnt", json_integer(info.run_cnt));
			json_object_set_new(p, "run_time_ns", json_integer(info.run_time_ns));
			json_array_foreach(links, j, l)
				if (json_integer_value(json_object_get(l, "prog_id")) == info.id)
					json_array_append(at, json_object_get(l, "target"));
		} else if (d->layer == NM_LAYER_LSM) {
			json_object_set_new(p, "error", json_string(k->lsm_loadable ? "not loaded"
									    : nm_lsm_reason(k->lsm_errno)));
		}
		json_object_set_new(p, "attached", at);
		json_object_set_new(p, "counters", nm_json_counters(&cnt[i]));
		json_array_append_new(progs, p);
	}
	return progs;
}

/* Is any program of this layer attached anywhere? */
static bool status_layer_attached(json_t *progs, enum nm_layer layer)
{
	json_t *p;
	size_t i;

	json_array_foreach(progs, i, p)
		if (!strcmp(json_string_value(json_object_get(p, "layer")), nm_layer_name(layer)) &&
		    json_array_size(json_object_get(p, "attached")))
			return true;
	return false;
}

/*
 * What the attached layers cannot enforce, as far as status can tell
 * without walking the rules (man page: SECURITY).
 */
static json_t *status_limits(json_t *progs, const struct nm_config *cfg)
{
	bool cg = status_layer_attached(progs, NM_LAYER_CGROUP);
	bool lsm = status_layer_attached(progs, NM_LAYER_LSM) && cfg->lsm_enabled;
	json_t *l = json_array();

	if (!cg && !lsm) {
		json_array_append_new(l, json_string("no layer is attached: no rule is enforced"));
		return l;
	}
	if (!lsm)
		json_array_append_new(l, json_string("dir ingress rules are not enforced (they need the "
						     "LSM layer), nor dir bind rules at listen and accept"));
	if (cg && !lsm)
		json_array_append_new(l, json_string("a socket created outside an attached cgroup and "
						     "passed in is judged by its creator's cgroup"));
	if (cg && !lsm)
		json_array_append_new(l, json_string("raw sockets, unconnected ping sends and SCTP are "
						     "checked only at socket creation, against rules on "
						     "every address (see partly_enforced)"));
	if (lsm && !(cfg->ctx_helpers & NM_HELPER_LOOP))
		json_array_append_new(l, json_string("the LSM layer checks the global scope only on this "
						     "kernel (no bpf_loop before 5.17): a scope's rules hold "
						     "where its cgroup layer sees them (see partly_enforced)"));
	json_array_append_new(l, json_string(lsm ? "connections made before a rule are cut at their next send"
						 : "connections made before a rule keep working"));
	return l;
}

static json_t *status_loaded(struct nm_kernel *k)
{
	struct nm_counters cnt[NM_HOOK_MAX] = {}, total = {};
	struct nm_config cfg = {};
	struct nm_meta meta = {};
	json_t *o, *links = json_array();
	char by[32];
	int i, err;

	err = nm_config_read(&cfg);
	if (!err)
		err = nm_meta_read(&meta, NULL);
	if (!err)
		err = nm_counters_read(cnt);
	if (err) {
		json_decref(links);
		return NULL;
	}
	nm_probe_kernel(k, &cfg);
	for (i = 0; i < NM_HOOK_MAX; i++) {
		total.checked += cnt[i].checked;
		total.denied += cnt[i].denied;
		total.audited += cnt[i].audited;
		total.rb_drops += cnt[i].rb_drops;
	}
	nm_links_walk(status_link, links);
	snprintf(by, sizeof(by), "%u.%u.%u", cfg.tool_version >> 16, (cfg.tool_version >> 8) & 0xff,
		 cfg.tool_version & 0xff);
	o = json_pack("{s:i, s:s, s:s, s:I, s:I}", "layout_version", cfg.layout_version, "loaded_by",
		      by, "mode", cfg.mode == NM_MODE_AUDIT ? "audit" : "enforce", "rules",
		      (json_int_t)meta.rules, "prefixes", (json_int_t)meta.prefixes);
	json_object_set_new(o, "unenforced", json_integer(status_unenforced(&meta)));
	json_object_set_new(o, "partly_enforced", json_integer(status_partly_enforced(&meta)));
	json_object_set_new(o, "scopes", json_integer(status_scopes()));
	json_object_set_new(o, "lsm_scopes", json_boolean(cfg.ctx_helpers & NM_HELPER_LOOP));
	json_object_set_new(o, "default_deny", json_boolean(cfg.default_deny != 0));
	json_object_set_new(o, "generation", json_integer(cfg.active_gen));
	json_object_set_new(o, "edit_interrupted", json_boolean(nm_store_interrupted()));
	json_object_set_new(o, "programs", status_programs(links, cnt, k));
	json_object_set_new(o, "limits", status_limits(json_object_get(o, "programs"), &cfg));
	json_object_set_new(o, "links", links);
	json_object_set_new(o, "maps", status_maps(&meta));
	json_object_set_new(o, "memlock_total", json_integer(status_memlock_total(json_object_get(o, "maps"))));
	json_object_set_new(o, "totals", nm_json_counters(&total));
	return o;
}

static void status_text_programs(json_t *st)
{
	json_t *p, *c, *t;
	size_t i, j;

	printf("programs:\n");
	json_array_foreach(json_object_get(st, "programs"), i, p) {
		printf("  %-12s %-20s ", json_string_value(json_object_get(p, "name")),
		       json_string_value(json_object_get(p, "hook")));
		if (!json_is_true(json_object_get(p, "loaded"))) {
			printf("not loaded%s\n", json_object_get(p, "error") ? " (BPF-LSM: see kernel below)" : "");
			continue;
		}
		printf("id %-6lld", json_integer_value(json_object_get(p, "id")));
		if (json_array_size(json_object_get(p, "attached")) == 0)
			printf(" not attached");
		json_array_foreach(json_object_get(p, "attached"), j, t)
			printf(" %s%s", j ? ", " : "attached: ", json_string_value(t));
		c = json_object_get(p, "counters");
		printf("\n  %12s checked %lld denied %lld audited %lld ringbuf drops %lld\n", "",
		       json_integer_value(json_object_get(c, "checked")),
		       json_integer_value(json_object_get(c, "denied")),
		       json_integer_value(json_object_get(c, "audited")),
		       json_integer_value(json_object_get(c, "rb_drops")));
	}
}

static void status_text(json_t *st)
{
	json_t *k = json_object_get(st, "kernel"), *m;
	size_t i;

	printf("netmonctl %s, pin dir %s\n", NM_VERSION, json_string_value(json_object_get(st, "pin_dir")));
	if (json_is_true(json_object_get(st, "loaded"))) {
		printf("loaded: yes (layout %lld, by netmonctl %s)\n",
		       json_integer_value(json_object_get(st, "layout_version")),
		       json_string_value(json_object_get(st, "loaded_by")));
		printf("mode: %s\nrules: %lld (%lld prefixes, %lld not enforced by the attached layers, "
		       "%lld for TCP and UDP only)%s\n",
		       json_string_value(json_object_get(st, "mode")),
		       json_integer_value(json_object_get(st, "rules")),
		       json_integer_value(json_object_get(st, "prefixes")),
		       json_integer_value(json_object_get(st, "unenforced")),
		       json_integer_value(json_object_get(st, "partly_enforced")),
		       json_is_true(json_object_get(st, "edit_interrupted"))
			       ? "; an edit was interrupted: counts may be off until the next change repairs them"
			       : "");
		printf("scopes: %lld besides the global one%s ('policy list')\n",
		       json_integer_value(json_object_get(st, "scopes")),
		       json_is_true(json_object_get(st, "default_deny")) ? ", whose default denies" : "");
		status_text_programs(st);
		printf("limits:\n");
		json_array_foreach(json_object_get(st, "limits"), i, m)
			printf("  %s\n", json_string_value(m));
		printf("maps:\n");
		json_array_foreach(json_object_get(st, "maps"), i, m)
			printf("  %-11s %-13s id %-6lld max_entries %-9lld memlock %lld bytes\n",
			       json_string_value(json_object_get(m, "name")),
			       json_string_value(json_object_get(m, "type")),
			       json_integer_value(json_object_get(m, "id")),
			       json_integer_value(json_object_get(m, "max_entries")),
			       json_integer_value(json_object_get(m, "memlock")));
		printf("memory: %.1f MiB locked by the maps (the kernel's count)\n",
		       json_integer_value(json_object_get(st, "memlock_total")) / 1048576.0);
	} else {
		printf("loaded: no\n");
	}
	printf("kernel: %s, BTF %s, bpffs %s, cgroup2 %s\n",
	       json_string_value(json_object_get(k, "release")),
	       json_is_true(json_object_get(k, "btf")) ? "yes" : "no",
	       json_is_true(json_object_get(k, "bpffs")) ? "yes" : "no",
	       json_string_value(json_object_get(k, "cgroup2")) ?: "not mounted");
	printf("BPF-LSM: %s, %s%s\n",
	       json_is_null(json_object_get(k, "lsm_active")) ? "unknown (securityfs not mounted)"
	       : json_is_true(json_object_get(k, "lsm_active")) ? "active" : "not in the lsm list",
	       json_is_true(json_object_get(k, "lsm_loadable")) ? "loadable" : "not loadable: ",
	       json_string_value(json_object_get(k, "lsm_error")) ?: "");
}

int do_status(int argc, char **argv)
{
	json_t *st, *loaded = NULL;
	struct nm_kernel k;

	if (argc == 1 && !strcmp(argv[0], "help")) {
		nm_help_one("status");
		return 0;
	}
	if (argc)
		return nm_usage("status", "takes no arguments");
	if (nm_is_loaded()) {
		loaded = status_loaded(&k);
		if (!loaded)
			return nm_sys("status", errno ? errno : EIO);
	} else {
		nm_probe_kernel(&k, NULL);
	}
	st = json_pack("{s:s, s:s, s:i, s:b}", "version", NM_VERSION, "pin_dir", nm_opts.pin_dir,
		       "tool_layout_version", NM_LAYOUT_VERSION, "loaded", loaded != NULL);
	if (loaded)
		json_object_update(st, loaded);
	json_decref(loaded);
	json_object_set_new(st, "kernel", status_kernel(&k));
	if (nm_opts.json) {
		nm_json_print(st);
		return 0;
	}
	status_text(st);
	json_decref(st);
	return 0;
}
