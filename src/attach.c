// SPDX-License-Identifier: GPL-2.0
/*
 * Attachments are BPF links pinned under <pin-dir>/links so they outlive
 * the command: `cg<cgroup-id>_<prog>` for a cgroup, `<prog>` for LSM.
 * The pin name is the record of what is attached where, so attaching the
 * same place twice finds the pin and does nothing.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "nm.h"

const struct nm_prog_desc *nm_link_desc(const char *name)
{
	const struct nm_prog_desc *d;
	const char *p = name + 2;

	/* cg<cgroup-id>_<prog> in links/, sc<scope>_<prog> in scopes/ (scope.c) */
	if (((name[0] == 'c' && name[1] == 'g') || (name[0] == 's' && name[1] == 'c')) &&
	    isdigit((unsigned char)*p)) {
		while (isdigit((unsigned char)*p))
			p++;
		d = *p == '_' ? nm_prog_by_name(p + 1) : NULL;
		return d && d->layer == NM_LAYER_CGROUP ? d : NULL;
	}
	d = nm_prog_by_name(name);
	return d && d->layer == NM_LAYER_LSM ? d : NULL;
}

/* The link pins netmonctl named below <pin-dir>/sub (links/: cg<id>_ and
 * LSM names; scopes/: sc<id>_, scope.c); anything else there is not ours. */
int nm_link_pins_walk(const char *sub, nm_link_cb cb, void *arg)
{
	char dir[NM_PATH_MAX], path[NM_PATH_MAX * 2];
	bool scopes = !strcmp(sub, "scopes");
	struct dirent *de;
	DIR *d;
	int ret = 0;

	nm_pin_path(dir, sizeof(dir), sub, NULL);
	d = opendir(dir);
	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while (!ret && (de = readdir(d))) {
		int fd;

		if (!nm_link_desc(de->d_name) || scopes != !strncmp(de->d_name, "sc", 2))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		fd = bpf_obj_get(path);
		if (fd < 0)
			continue;
		ret = cb(de->d_name, fd, arg);
		close(fd);
	}
	closedir(d);
	return ret;
}

int nm_links_walk(nm_link_cb cb, void *arg)
{
	return nm_link_pins_walk("links", cb, arg);
}

static int nm_layer_seen(const char *name, int fd, void *arg)
{
	(void)fd;
	*(unsigned *)arg |= 1u << nm_link_desc(name)->layer;
	return 0;
}

/*
 * Rule directions the attached layers enforce, as bits 1 << NM_DIR_*: the
 * cgroup layer sees egress (connect, sendmsg) and bind, the LSM layer,
 * while switched on, every direction. 0: nothing is attached.
 */
unsigned nm_enforced_dirs(void)
{
	unsigned layers = 0, dirs = 0;
	struct nm_config cfg;

	nm_links_walk(nm_layer_seen, &layers);
	if (layers & (1u << NM_LAYER_CGROUP))
		dirs |= 1u << NM_DIR_EGRESS | 1u << NM_DIR_BIND;
	if ((layers & (1u << NM_LAYER_LSM)) && nm_config_read(&cfg) == 0 && cfg.lsm_enabled)
		dirs |= ((1u << NM_DIR_MAX) - 1) | (cfg.ctx_helpers & NM_HELPER_LOOP ? NM_DIRS_LSM_SCOPES : 0);
	return dirs;
}

/*
 * How the attached layers (dirs from nm_enforced_dirs) enforce rule r. A
 * layer that sees dir ingress is the LSM layer, which sees every socket;
 * the cgroup layer alone leaves the port-less classes of most rules
 * unchecked (nm_rule_lsm_only).
 */
enum nm_enforced nm_rule_enforced(const struct nm_rule *r, unsigned dirs)
{
	struct nm_rule_key k;

	if (nm_list_allows(r->list))
		return NM_ENF_YES; /* an exception: nothing to enforce */
	if (r->list && !(dirs & NM_DIRS_LSM_SCOPES)) /* a scope's, the LSM layer not checking scopes: */
		dirs = 1u << NM_DIR_EGRESS | 1u << NM_DIR_BIND; /* the cgroup layer at its cgroup */

	if (!(dirs & (1u << r->dir)))
		return NM_ENF_NO;
	if (dirs & (1u << NM_DIR_INGRESS))
		return NM_ENF_YES;
	nm_rule_key(r, &k);
	return nm_rule_lsm_only(&k, &r->port) ? NM_ENF_PARTLY : NM_ENF_YES;
}

/*
 * Detach a pinned link now, not when the kernel gets round to freeing it:
 * the last reference of an unpinned link is dropped from an RCU callback,
 * so a plain unlink left enforcement on for up to ~100 ms after `detach`
 * returned (seen on 5.10 and 6.12). BPF_LINK_DETACH (cgroup links from
 * 5.9, tracing links on newer kernels) ends it at once; where the kernel
 * has no detach for the link type, wait until the link is gone.
 */
int nm_link_release(const char *path)
{
	struct bpf_link_info info = {};
	uint32_t len = sizeof(info);
	bool detached = false;
	int fd = bpf_obj_get(path), i;

	if (fd >= 0) {
		bpf_obj_get_info_by_fd(fd, &info, &len);
		detached = bpf_link_detach(fd) == 0;
		close(fd);
	}
	if (nm_unpin(path))
		return -errno;
	for (i = 0; !detached && info.id && i < 400; i++) {
		fd = bpf_link_get_fd_by_id(info.id);
		if (fd < 0)
			break;
		close(fd);
		usleep(5000);
	}
	return 0;
}

static void nm_link_name(char *buf, size_t len, const struct nm_prog_desc *d, uint64_t cgid)
{
	if (d->layer == NM_LAYER_CGROUP)
		snprintf(buf, len, "cg%llu_%s", (unsigned long long)cgid, d->name);
	else
		snprintf(buf, len, "%s", d->name);
}

static bool nm_pin_exists(const char *sub, const char *name)
{
	char path[NM_PATH_MAX];

	nm_pin_path(path, sizeof(path), sub, name);
	return access(path, F_OK) == 0;
}

static int nm_link_create(const struct nm_prog_desc *d, int target_fd)
{
	int prog_fd = nm_open_prog(d->name), link;

	if (prog_fd < 0)
		return prog_fd;
	if (d->layer == NM_LAYER_CGROUP)
		link = bpf_link_create(prog_fd, target_fd, d->attach_type, NULL);
	else
		link = bpf_raw_tracepoint_open(NULL, prog_fd); /* works from 5.7 on */
	if (link < 0)
		link = -errno;
	close(prog_fd);
	return link;
}

/* Attach every loaded program of one layer; all or none. */
static int nm_attach_layer(enum nm_layer layer, int target_fd, uint64_t cgid, const char *where,
			   json_t *report)
{
	char made[NM_HOOK_MAX][64];
	json_t *list = json_array();
	int i, n = 0, skipped = 0, loaded = 0, err = 0;
	bool reloaded = false;

	for (i = 0; i < NM_HOOK_MAX && !err; i++) {
		const struct nm_prog_desc *d = &nm_progs[i];
		char name[64], path[NM_PATH_MAX];
		int link;

		if (d->layer != layer || !nm_pin_exists("progs", d->name))
			continue;
		loaded++;
		nm_link_name(name, sizeof(name), d, cgid);
		if (nm_pin_exists("links", name)) {
			skipped++;
			continue;
		}
		link = nm_link_create(d, target_fd);
		if (link == -ENOENT && layer == NM_LAYER_LSM && !reloaded) {
			/* 5.10 attaches a tracing program once per load: after a
			 * detach, `attach lsm` got ENOENT. Reload in place (maps and
			 * other links kept), then attach the fresh programs. */
			json_t *quiet = json_object();
			struct nm_load_opts o = {};

			err = nm_load(&o, quiet);
			json_decref(quiet);
			if (err)
				break;
			reloaded = true;
			link = nm_link_create(d, target_fd);
		}
		if (link < 0) {
			err = nm_sys(d->name, link);
			break;
		}
		nm_pin_path(path, sizeof(path), "links", name);
		if (bpf_obj_pin(link, path))
			err = nm_sys(path, errno);
		else
			snprintf(made[n++], sizeof(made[0]), "%s", name);
		close(link);
		json_array_append_new(list, json_string(d->name));
	}
	if (!err && loaded == 0)
		err = nm_fail(NM_EXIT_RUNTIME, "attach", "no %s programs are loaded: %s",
			      nm_layer_name(layer),
			      layer == NM_LAYER_LSM ? nm_lsm_reason(nm_probe_lsm()) : "run 'netmonctl load'");
	while (err && n > 0) {
		char path[NM_PATH_MAX];

		nm_pin_path(path, sizeof(path), "links", made[--n]);
		nm_unpin(path);
	}
	json_array_append_new(json_object_get(report, "attached"),
			      json_pack("{s:s, s:s, s:o, s:b}", "layer", nm_layer_name(layer), "target",
					where, "programs", list, "already", skipped > 0 && n == 0));
	if (!err)
		nm_info("%s layer %s %s\n", nm_layer_name(layer),
			n ? "attached to" : "already attached to", where);
	return err;
}

/* Resolve and open a cgroup v2 directory; 0 or an exit code (reported). */
static int nm_open_cgroup(const char *arg, char *path, size_t len, uint64_t *id, int *fd)
{
	int err = nm_cgroup_resolve(arg, path, len);

	if (err == -ENOTDIR)
		return nm_usage(arg, "not a cgroup v2 directory");
	if (err)
		return nm_fail(NM_EXIT_USAGE, arg, "%s", strerror(-err));
	err = nm_cgroup_id(path, id);
	if (err)
		return nm_sys(path, err);
	*fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	return *fd < 0 ? nm_sys(path, errno) : 0;
}

static int nm_report_init(json_t *report, const char *key)
{
	if (!json_object_get(report, key))
		json_object_set_new(report, key, json_array());
	return 0;
}

/* Is the cgroup layer attached at cgroup cgid? (Its link pins say.) */
bool nm_cgroup_layer_at(uint64_t cgid)
{
	char name[64];
	int i;

	for (i = 0; i < NM_HOOK_MAX; i++) {
		if (nm_progs[i].layer != NM_LAYER_CGROUP)
			continue;
		nm_link_name(name, sizeof(name), &nm_progs[i], cgid);
		if (nm_pin_exists("links", name))
			return true;
	}
	return false;
}

int nm_attach_cgroup(const char *cg, json_t *report)
{
	char path[NM_PATH_MAX];
	uint64_t id;
	int fd, err = nm_open_cgroup(cg, path, sizeof(path), &id, &fd);

	if (err)
		return err;
	if (nm_cgroup_has_scope(id)) {
		close(fd);
		return nm_usage("attach", "cgroup %s has a scope ('policy list'): its programs are attached "
			       "there for the scope's rules; attach the cgroup layer to another cgroup", path);
	}
	nm_report_init(report, "attached");
	err = nm_attach_layer(NM_LAYER_CGROUP, fd, id, path, report);
	close(fd);
	return err;
}

/* The LSM hooks' on/off switch in the config map (see nm_decide). */
static int nm_lsm_switch(bool on)
{
	struct nm_config cfg;
	int err = nm_config_read(&cfg);

	if (!err) {
		cfg.lsm_enabled = on;
		err = nm_config_write(&cfg);
	}
	return err ? nm_sys("config", err) : 0;
}

int nm_attach_lsm(json_t *report)
{
	int err;

	nm_report_init(report, "attached");
	err = nm_attach_layer(NM_LAYER_LSM, -1, 0, "system", report);
	return err ?: nm_lsm_switch(true);
}

/* Remove the link pins of one layer/target; the kernel detaches on last close. */
static int nm_detach_layer(enum nm_layer layer, uint64_t cgid, const char *where, json_t *report)
{
	json_t *list = json_array();
	int i, err = 0;

	for (i = 0; i < NM_HOOK_MAX; i++) {
		const struct nm_prog_desc *d = &nm_progs[i];
		char name[64], path[NM_PATH_MAX];

		if (d->layer != layer)
			continue;
		nm_link_name(name, sizeof(name), d, cgid);
		if (!nm_pin_exists("links", name))
			continue;
		nm_pin_path(path, sizeof(path), "links", name);
		if (nm_link_release(path))
			err = nm_sys(path, errno);
		else
			json_array_append_new(list, json_string(d->name));
	}
	if (!err && json_array_size(list) == 0) {
		json_decref(list);
		return nm_fail(NM_EXIT_RUNTIME, "detach", "%s layer is not attached to %s",
			       nm_layer_name(layer), where);
	}
	json_array_append_new(json_object_get(report, "detached"),
			      json_pack("{s:s, s:s, s:o}", "layer", nm_layer_name(layer), "target", where,
					"programs", list));
	if (!err)
		nm_info("%s layer detached from %s\n", nm_layer_name(layer), where);
	return err;
}

int nm_detach_cgroup(const char *cg, json_t *report)
{
	char path[NM_PATH_MAX];
	uint64_t id;
	int fd, err = nm_open_cgroup(cg, path, sizeof(path), &id, &fd);

	if (err)
		return err;
	close(fd);
	nm_report_init(report, "detached");
	return nm_detach_layer(NM_LAYER_CGROUP, id, path, report);
}

int nm_detach_cgroup_id(uint64_t cgid, json_t *report)
{
	char where[NM_PATH_MAX];

	if (nm_cgroup_path(cgid, where, sizeof(where)))
		snprintf(where, sizeof(where), "cgroup id %llu (removed)", (unsigned long long)cgid);
	nm_report_init(report, "detached");
	return nm_detach_layer(NM_LAYER_CGROUP, cgid, where, report);
}

struct nm_attached_walk {
	uint64_t *ids;
	size_t n, cap;
	bool lsm;
};

static int nm_attached_one(const char *name, int fd, void *arg)
{
	struct nm_attached_walk *w = arg;
	uint64_t id;
	size_t i;

	(void)fd;
	if (nm_link_desc(name)->layer == NM_LAYER_LSM) {
		w->lsm = true;
		return 0;
	}
	id = strtoull(name + 2, NULL, 10); /* cg<id>_<prog> */
	for (i = 0; i < w->n; i++)
		if (w->ids[i] == id)
			return 0;
	if (nm_array_grow(&w->ids, &w->cap, w->n + 1, sizeof(*w->ids)))
		return -ENOMEM;
	w->ids[w->n++] = id;
	return 0;
}

static int nm_id_cmp(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

int nm_attached(uint64_t **ids, size_t *n, bool *lsm)
{
	struct nm_attached_walk w = {};
	struct nm_config cfg;
	int err = nm_links_walk(nm_attached_one, &w);

	if (!err && w.lsm)
		w.lsm = nm_config_read(&cfg) == 0 && cfg.lsm_enabled;
	if (w.n)
		qsort(w.ids, w.n, sizeof(*w.ids), nm_id_cmp);
	*ids = w.ids;
	*n = err ? 0 : w.n;
	*lsm = w.lsm;
	return err;
}

int nm_detach_lsm(json_t *report)
{
	char name[64];
	int err;

	nm_link_name(name, sizeof(name), &nm_progs[NM_HOOK_LSM_CONNECT], 0);
	if (!nm_pin_exists("links", name))
		return nm_fail(NM_EXIT_RUNTIME, "detach", "lsm layer is not attached to system");
	/* Off first: from here on the hooks allow, whenever the links go. */
	err = nm_lsm_switch(false);
	if (err)
		return err;
	nm_report_init(report, "detached");
	return nm_detach_layer(NM_LAYER_LSM, 0, "system", report);
}

static int nm_release_one(const char *name, int fd, void *arg)
{
	char path[NM_PATH_MAX];

	(void)fd;
	(void)arg;
	nm_pin_path(path, sizeof(path), "links", name);
	return nm_link_release(path);
}

/* A `<link>__new` pin is ours too: a load that stopped between its pin and
 * its rename (see nm_pin_replace) left it. */
static void nm_unpin_leftovers(void)
{
	char dir[NM_PATH_MAX], name[64], path[NM_PATH_MAX * 2];
	struct dirent *de;
	DIR *d;
	size_t n;

	nm_pin_path(dir, sizeof(dir), "links", NULL);
	d = opendir(dir);
	if (!d)
		return;
	while ((de = readdir(d))) {
		n = strlen(de->d_name);
		if (n <= 5 || n - 5 >= sizeof(name) || strcmp(de->d_name + n - 5, "__new"))
			continue;
		snprintf(name, sizeof(name), "%.*s", (int)(n - 5), de->d_name);
		if (!nm_link_desc(name))
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, de->d_name);
		nm_unpin(path);
	}
	closedir(d);
}

/* Every link netmonctl pinned, by its names; other pins in links/ stay. */
int nm_detach_all(void)
{
	int err = nm_links_walk(nm_release_one, NULL), e = nm_scopes_detach_all();

	err = err ?: e;
	nm_unpin_leftovers();
	return err;
}

/* ---- after an upgrade: the programs a new layout added, where the layer is ---- */

struct nm_cg_ids {
	uint64_t *id;
	size_t n, cap;
};

static int nm_cg_id_seen(const char *name, int fd, void *arg)
{
	struct nm_cg_ids *ids = arg;
	uint64_t id = strtoull(name + 2, NULL, 10);
	size_t i;

	(void)fd;
	if (nm_link_desc(name)->layer != NM_LAYER_CGROUP)
		return 0;
	for (i = 0; i < ids->n && ids->id[i] != id; i++)
		;
	if (i < ids->n)
		return 0;
	if (nm_array_grow(&ids->id, &ids->cap, ids->n + 1, sizeof(*ids->id)))
		return -ENOMEM;
	ids->id[ids->n++] = id;
	return 0;
}

static bool nm_cgroup_layer_partial(uint64_t cgid)
{
	int i;

	for (i = 0; i < NM_HOOK_MAX; i++) {
		char name[64];

		if (nm_progs[i].layer != NM_LAYER_CGROUP || !nm_pin_exists("progs", nm_progs[i].name))
			continue;
		nm_link_name(name, sizeof(name), &nm_progs[i], cgid);
		if (!nm_pin_exists("links", name))
			return true;
	}
	return false;
}

/*
 * Every cgroup the cgroup layer is attached to gets the loaded programs it
 * lacks: after an upgrade that added a hook (layout 6: sock_create), the
 * relinked programs alone would leave the new one unattached, and the
 * rules only it enforces listed but not enforced. *completed: how many
 * cgroups got programs. Returns 0 or an exit code (reported).
 */
int nm_attach_complete(json_t *report, int *completed)
{
	struct nm_cg_ids ids = { NULL, 0, 0 };
	size_t i;
	int err = 0;

	*completed = 0;
	if (nm_links_walk(nm_cg_id_seen, &ids))
		err = nm_sys("attach: the cgroup links", -ENOMEM);
	for (i = 0; i < ids.n && !err; i++) {
		char path[NM_PATH_MAX];
		int fd;

		if (!nm_cgroup_layer_partial(ids.id[i]) || nm_cgroup_path(ids.id[i], path, sizeof(path)))
			continue; /* complete, or the cgroup is gone */
		fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (fd < 0)
			continue;
		nm_report_init(report, "attached");
		err = nm_attach_layer(NM_LAYER_CGROUP, fd, ids.id[i], path, report);
		close(fd);
		*completed += !err;
	}
	free(ids.id);
	return err;
}
