// SPDX-License-Identifier: GPL-2.0
/*
 * Scopes: a cgroup subtree with its own deny and allow lists and its own
 * default (bpf/netmonctl.h). A scope is a record in `scopes`, the cgroup
 * layer's programs attached at its cgroup (links pinned below
 * <pin-dir>/scopes/ as sc<id>_<prog>), and the scope's id and default in
 * that cgroup's storage, which the programs read. Every scope on a
 * socket's cgroup path has its own attachment, so the kernel runs each
 * one's check and all must agree: "scopes only narrow" is how cgroup
 * multi-attach works, not a walk netmonctl has to get right.
 *
 * The record is written first and the rest is made from it by
 * nm_scope_sync, which any later command on the scope runs again, so a
 * command killed half-way leaves nothing that cannot be finished.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <bpf/bpf.h>
#include "nm.h"

#define NM_SCOPE_LINKS "scopes"

static int nm_scopes_fd(void)
{
	int fd = nm_open_map(NM_MAP_SCOPES);

	if (fd >= 0 && nm_map_check(fd, NM_MAP_SCOPES, sizeof(uint32_t), sizeof(struct nm_scope))) {
		close(fd);
		return -EPROTO;
	}
	return fd;
}

uint8_t nm_default_apply(uint8_t mask, bool deny, uint8_t dirs)
{
	if (!dirs)
		dirs = NM_DEFAULT_DIRS;
	return deny ? (uint8_t)(mask | dirs) : (uint8_t)(mask & ~dirs);
}

int nm_scope_read(uint32_t id, struct nm_scope *rec)
{
	int fd = nm_scopes_fd(), err;

	if (fd < 0)
		return fd;
	err = bpf_map_lookup_elem(fd, &id, rec) ? -errno : 0;
	close(fd);
	return err;
}

int nm_scope_write(uint32_t id, const struct nm_scope *rec)
{
	int fd = nm_scopes_fd(), err;

	if (fd < 0)
		return fd;
	err = bpf_map_update_elem(fd, &id, rec, BPF_ANY) ? -errno : 0;
	close(fd);
	return err;
}

/* Every scope, in id order. */
int nm_scopes_walk(nm_scope_cb cb, void *arg)
{
	struct nm_scope rec;
	uint32_t id;
	int fd = nm_scopes_fd(), ret = 0;

	if (fd < 0)
		return fd;
	for (id = 1; id <= NM_MAX_SCOPES && !ret; id++)
		if (bpf_map_lookup_elem(fd, &id, &rec) == 0)
			ret = cb(id, &rec, arg);
	close(fd);
	return ret;
}

struct nm_scope_find {
	uint64_t cgid;
	const char *path;
	uint32_t id;
	struct nm_scope rec;
};

static int nm_scope_match(uint32_t id, const struct nm_scope *rec, void *arg)
{
	struct nm_scope_find *f = arg;

	if ((f->cgid && rec->cgroup_id == f->cgid) || (f->path && !strcmp(rec->path, f->path))) {
		f->id = id;
		f->rec = *rec;
		return 1;
	}
	return 0;
}

/* The scope of cgroup cgid (or, cgid 0, of the path it was made for). */
static int nm_scope_find(uint64_t cgid, const char *path, uint32_t *id, struct nm_scope *rec)
{
	struct nm_scope_find f = { .cgid = cgid, .path = path };
	int ret = nm_scopes_walk(nm_scope_match, &f);

	if (ret < 0)
		return ret;
	if (!ret)
		return -ENOENT;
	if (id)
		*id = f.id;
	if (rec)
		*rec = f.rec;
	return 0;
}

bool nm_cgroup_has_scope(uint64_t cgid)
{
	return nm_scope_find(cgid, NULL, NULL, NULL) == 0;
}

int nm_scope_of(uint64_t cgid, uint32_t *id, struct nm_scope *rec)
{
	return nm_scope_find(cgid, NULL, id, rec);
}

/* A cgroup's level: 0 for the cgroup2 root, 1 for its children, ... */
static int nm_scope_level(const char *path)
{
	char mount[NM_PATH_MAX];
	const char *p;
	size_t len;
	int level = 0;

	if (nm_cgroup2_mount(mount, sizeof(mount)))
		return -1;
	len = strlen(mount);
	if (strncmp(path, mount, len) || (path[len] && path[len] != '/'))
		return -1;
	for (p = path + len; *p; p++)
		level += *p == '/' && p[1];
	return level;
}

static int nm_scope_level_bit(uint32_t id, const struct nm_scope *rec, void *arg)
{
	int level = nm_scope_level(rec->path);

	(void)id;
	if (level > 0 && level < NM_MAX_SCOPE_LEVEL)
		*(uint16_t *)arg |= (uint16_t)(1u << level);
	return 0;
}

/* config.scope_levels from the records: where the LSM hooks look. */
static int nm_scope_levels_write(void)
{
	struct nm_config cfg;
	uint16_t levels = 0;
	int err = nm_scopes_walk(nm_scope_level_bit, &levels);

	if (!err)
		err = nm_config_read(&cfg);
	if (!err && cfg.scope_levels != levels) {
		cfg.scope_levels = levels;
		err = nm_config_write(&cfg);
	}
	return err;
}

static void nm_scope_link_name(char *buf, size_t len, uint32_t id, const struct nm_prog_desc *d)
{
	snprintf(buf, len, "sc%u_%s", id, d->name);
}

/* Attach every cgroup program not attached at the scope's cgroup yet. */
static int nm_scope_attach(uint32_t id, int cg_fd, int *attached)
{
	char dir[NM_PATH_MAX], name[64], path[NM_PATH_MAX * 2];
	int i, err = 0;

	nm_pin_path(dir, sizeof(dir), NM_SCOPE_LINKS, NULL);
	if (mkdir(dir, 0700) && errno != EEXIST)
		return -errno;
	for (i = 0; i < NM_HOOK_MAX && !err; i++) {
		const struct nm_prog_desc *d = &nm_progs[i];
		int prog, link;

		if (d->layer != NM_LAYER_CGROUP)
			continue;
		nm_scope_link_name(name, sizeof(name), id, d);
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		if (access(path, F_OK) == 0) {
			(*attached)++;
			continue;
		}
		prog = nm_open_prog(d->name);
		if (prog < 0)
			return prog;
		link = bpf_link_create(prog, cg_fd, d->attach_type, NULL);
		err = link < 0 ? -errno : 0;
		close(prog);
		if (!err && bpf_obj_pin(link, path))
			err = -errno;
		if (link >= 0)
			close(link);
		*attached += !err;
	}
	return err;
}

/*
 * Make the kernel match the record: programs attached at the cgroup, and
 * its storage saying the scope's id and default. Until the storage is
 * written the programs there check the global rules (stricter, never
 * weaker: nm_scope_ctx).
 */
int nm_scope_sync(uint32_t id, const struct nm_scope *rec)
{
	struct nm_scope_ctx ctx = { .scope = (uint16_t)id, .default_deny = rec->default_deny };
	char path[NM_PATH_MAX];
	uint64_t cgid = 0;
	int cg, fd, err, attached = 0;

	err = nm_cgroup_path(rec->cgroup_id, path, sizeof(path));
	if (err)
		return err == -ENOENT ? -ENOENT : err; /* the cgroup is gone */
	cg = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (cg < 0)
		return -errno;
	if (nm_cgroup_id(path, &cgid) || cgid != rec->cgroup_id) {
		close(cg);
		return -ENOENT;
	}
	err = nm_scope_attach(id, cg, &attached);
	close(cg);
	if (err)
		return err;
	fd = nm_open_map(NM_MAP_SCOPE_CTX);
	if (fd < 0)
		return fd;
	err = bpf_map_update_elem(fd, &cgid, &ctx, BPF_EXIST) ? -errno : 0;
	close(fd);
	/* the LSM hooks' view: by cgroup id, at the levels that have scopes */
	fd = err ? -1 : nm_open_map(NM_MAP_SCOPE_IDS);
	if (!err && fd < 0)
		err = fd;
	if (!err && bpf_map_update_elem(fd, &cgid, &ctx, BPF_ANY))
		err = -errno;
	if (fd >= 0)
		close(fd);
	return err ?: nm_scope_levels_write();
}

/* Programs attached at the scope's cgroup (of the cgroup layer's). */
int nm_scope_attached(uint32_t id)
{
	char name[64];
	int i, n = 0;

	for (i = 0; i < NM_HOOK_MAX; i++) {
		char path[NM_PATH_MAX];

		if (nm_progs[i].layer != NM_LAYER_CGROUP)
			continue;
		nm_scope_link_name(name, sizeof(name), id, &nm_progs[i]);
		nm_pin_path(path, sizeof(path), NM_SCOPE_LINKS, name);
		n += access(path, F_OK) == 0;
	}
	return n;
}

int nm_scope_links_walk(nm_link_cb cb, void *arg)
{
	return nm_link_pins_walk(NM_SCOPE_LINKS, cb, arg);
}

/* Detach the scope's programs now; the record goes last (the caller has
 * emptied its lists), so a killed removal is finished by the next one. */
int nm_scope_remove(uint32_t id)
{
	struct nm_scope rec;
	char name[64], path[NM_PATH_MAX];
	int i, fd, err = 0;

	for (i = 0; i < NM_HOOK_MAX && !err; i++) {
		if (nm_progs[i].layer != NM_LAYER_CGROUP)
			continue;
		nm_scope_link_name(name, sizeof(name), id, &nm_progs[i]);
		nm_pin_path(path, sizeof(path), NM_SCOPE_LINKS, name);
		if (access(path, F_OK) == 0)
			err = nm_link_release(path);
	}
	if (err)
		return err;
	err = nm_scope_read(id, &rec);
	fd = err ? -1 : nm_open_map(NM_MAP_SCOPE_IDS);
	if (fd >= 0) {
		if (bpf_map_delete_elem(fd, &rec.cgroup_id) && errno != ENOENT)
			err = -errno;
		close(fd);
	}
	if (err && err != -ENOENT)
		return err;
	fd = nm_scopes_fd();
	if (fd < 0)
		return fd;
	err = bpf_map_delete_elem(fd, &id) && errno != ENOENT ? -errno : 0;
	close(fd);
	return err ?: nm_scope_levels_write();
}

/* Its lists emptied first, each in one switch: a killed drop leaves a
 * scope with fewer rules, never rules no scope owns. */
int nm_scope_drop(uint32_t id, uint64_t gone[2], char *err, size_t errlen)
{
	int allow, ret = 0;

	for (allow = 0; allow < 2 && !ret; allow++)
		ret = nm_store_flush(nm_list_id(id, allow), &gone[allow], err, errlen);
	if (!ret && (ret = nm_scope_remove(id)) != 0)
		snprintf(err, errlen, "%s (%s)", strerror(-ret), nm_errno_name(ret));
	return ret;
}

static int nm_scope_link_release(const char *name, int fd, void *arg)
{
	char path[NM_PATH_MAX];
	int *err = arg, e;

	(void)fd;
	nm_pin_path(path, sizeof(path), NM_SCOPE_LINKS, name);
	e = nm_link_release(path);
	*err = *err ?: e;
	return 0;
}

/* unload: every scope's links (the records go with the map). */
int nm_scopes_detach_all(void)
{
	char dir[NM_PATH_MAX];
	int err = 0, ret = nm_scope_links_walk(nm_scope_link_release, &err);

	err = ret ?: err;
	nm_pin_path(dir, sizeof(dir), NM_SCOPE_LINKS, NULL);
	if (!err)
		rmdir(dir);
	return err;
}

struct nm_scope_kin {
	const char *path;
	int n; /* scopes above or below path */
};

static bool nm_path_below(const char *below, const char *above)
{
	size_t len = strlen(above);

	return !strncmp(below, above, len) && below[len] == '/';
}

static int nm_scope_kin_count(uint32_t id, const struct nm_scope *rec, void *arg)
{
	struct nm_scope_kin *k = arg;

	(void)id;
	k->n += nm_path_below(k->path, rec->path) || nm_path_below(rec->path, k->path);
	return 0;
}

static uint32_t nm_scope_free_id(void)
{
	struct nm_scope rec;
	uint32_t id;
	int fd = nm_scopes_fd();

	if (fd < 0)
		return 0;
	for (id = 1; id <= NM_MAX_SCOPES; id++)
		if (bpf_map_lookup_elem(fd, &id, &rec))
			break;
	close(fd);
	return id <= NM_MAX_SCOPES ? id : 0;
}

/*
 * The scope of cgroup `arg` (a path, absolute or below the cgroup2
 * mount): found, or with create made (record, then nm_scope_sync). A
 * cgroup that no longer exists is found by the path its scope was made
 * for. Errors are reported (nm_fail) and returned as exit codes.
 */
int nm_scope_get(const char *what, const char *arg, bool create, uint32_t *id, struct nm_scope *rec)
{
	char path[NM_PATH_MAX];
	uint64_t cgid = 0;
	int err = nm_cgroup_resolve(arg, path, sizeof(path));

	if (err == -ENOENT && !create && nm_scope_find(0, arg, id, rec) == 0)
		return 0; /* its cgroup is gone: the scope can still be listed and removed */
	if (err == -ENOTDIR)
		return nm_usage(what, "cgroup %s: not a cgroup v2 directory", arg);
	if (err)
		return nm_fail(NM_EXIT_USAGE, what, "cgroup %s: %s", arg, strerror(-err));
	err = nm_cgroup_id(path, &cgid);
	if (err)
		return nm_sys(path, err);
	err = nm_scope_find(cgid, NULL, id, rec);
	if (err != -ENOENT) {
		if (!err && create) /* finish what a killed command left */
			nm_scope_sync(*id, rec);
		return err ? nm_sys("scopes", err) : 0;
	}
	if (!create)
		return nm_fail(NM_EXIT_RUNTIME, what, "cgroup %s has no scope: no rule or default was set for it", path);
	if (nm_cgroup_layer_at(cgid))
		return nm_usage(what, "cgroup %s: the cgroup layer is attached here, so its rules are "
			       "the global ones; a scope needs a cgroup of its own", path);
	if (nm_scope_level(path) < 1 || nm_scope_level(path) >= NM_MAX_SCOPE_LEVEL)
		return nm_usage(what, "cgroup %s: a scope's cgroup is at level 1 to %d below the cgroup2 root",
				path, NM_MAX_SCOPE_LEVEL - 1);
	{
		struct nm_scope_kin kin = { path, 0 };

		nm_scopes_walk(nm_scope_kin_count, &kin);
		if (kin.n + 1 > NM_MAX_PATH_SCOPES)
			return nm_usage(what, "cgroup %s: %d scopes above and below it already; at most %d "
				       "on one cgroup path", path, kin.n, NM_MAX_PATH_SCOPES);
	}
	if (strlen(path) >= NM_SCOPE_PATH_MAX)
		return nm_usage(what, "cgroup %s: path longer than %d bytes", path, NM_SCOPE_PATH_MAX - 1);
	*id = nm_scope_free_id();
	if (!*id)
		return nm_fail(NM_EXIT_RUNTIME, what, "no free scope: %d are in use ('policy list')", NM_MAX_SCOPES);
	memset(rec, 0, sizeof(*rec));
	rec->cgroup_id = cgid;
	snprintf(rec->path, sizeof(rec->path), "%s", path);
	err = nm_scope_write(*id, rec);
	if (!err)
		err = nm_scope_sync(*id, rec);
	return err ? nm_sys(what, err) : 0;
}
