// SPDX-License-Identifier: GPL-2.0
/*
 * netmonctl save [ FILE | - ]: the whole state in one file that `restore`
 * reads back (src/statefile.c): load sizes, mode, attachments, the
 * global default and lists, and every scope's default and lists.
 * A FILE is written beside itself and renamed over, so it is always either
 * the old state or the whole new one.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "cmds.h"

/* max_entries of a pinned map, or 0. */
static uint32_t save_map_size(const char *name)
{
	struct bpf_map_info info = {};
	uint32_t len = sizeof(info);
	int fd = nm_open_map(name);

	if (fd < 0)
		return 0;
	if (bpf_obj_get_info_by_fd(fd, &info, &len))
		info.max_entries = 0;
	close(fd);
	return info.max_entries;
}

struct save_ctx {
	FILE *f;
	struct nm_notes notes;
	const char *verb;  /* deny or allow */
	const char *where; /* "" or " cgroup PATH" */
};

static int save_rule(const struct nm_rule *key_rule, void *arg)
{
	struct save_ctx *c = arg;
	struct nm_rule r = *key_rule;
	char text[NM_RULE_TEXT_MAX];

	r.note = nm_notes_of(&c->notes, &r);
	nm_rule_format(&r, text, sizeof(text));
	return fprintf(c->f, "%s %s%s\n", c->verb, text, c->where) < 0 ? -EIO : 0;
}

/* One scope's default (a line per dir it denies) and lists. */
static int save_scope_policy(struct save_ctx *c, uint32_t scope, uint8_t default_deny)
{
	int dir, err;

	for (dir = 0; dir < NM_DIR_MAX; dir++)
		if (default_deny & (1u << dir))
			fprintf(c->f, "policy default deny dir %s%s\n", nm_dir_names[dir], c->where);
	c->verb = "allow";
	err = nm_store_walk(nm_list_id(scope, 1), save_rule, c);
	c->verb = "deny";
	return err ?: nm_store_walk(nm_list_id(scope, 0), save_rule, c);
}

/* A scope whose cgroup is gone is left out, and said so: restore could
 * not make it. */
static int save_scope(uint32_t id, const struct nm_scope *rec, void *arg)
{
	struct save_ctx *c = arg;
	char path[NM_PATH_MAX], word[NM_PATH_MAX + 2], where[NM_PATH_MAX + 16];
	uint64_t cgid = 0;

	if (nm_cgroup_resolve(rec->path, path, sizeof(path)) || nm_cgroup_id(path, &cgid) ||
	    cgid != rec->cgroup_id) {
		fprintf(c->f, "# scope %u: its cgroup %s was removed; not saved ('policy del')\n", id,
			rec->path);
		return 0;
	}
	snprintf(where, sizeof(where), " cgroup %s", nm_word_format(rec->path, word, sizeof(word)));
	c->where = where;
	return save_scope_policy(c, id, rec->default_deny);
}

static int save_attached(FILE *f)
{
	char path[NM_PATH_MAX], word[NM_PATH_MAX + 2];
	uint64_t *ids;
	size_t n, i;
	bool lsm;
	int err = nm_attached(&ids, &n, &lsm);

	for (i = 0; !err && i < n; i++) {
		if (nm_cgroup_path(ids[i], path, sizeof(path)))
			fprintf(f, "# attached to cgroup id %llu, which no longer exists\n",
				(unsigned long long)ids[i]);
		else
			fprintf(f, "attach cgroup %s\n", nm_word_format(path, word, sizeof(word)));
	}
	if (!err && lsm)
		fprintf(f, "attach lsm\n");
	free(ids);
	return err;
}

/* The state, under the lock taken shared: no edit runs meanwhile. */
static int save_write(FILE *f)
{
	struct nm_config cfg;
	struct save_ctx c = { f, {}, "deny", "" };
	char when[64];
	time_t now = time(NULL);
	int err = nm_config_read(&cfg);

	if (err)
		return err;
	strftime(when, sizeof(when), "%Y-%m-%d %H:%M:%S UTC", gmtime(&now));
	fprintf(f, "# netmonctl state: 'netmonctl restore FILE' makes the kernel match it.\n"
		   "# Saved %s by netmonctl %s from %s.\n",
		when, NM_VERSION, nm_opts.pin_dir);
	fprintf(f, "load ringbuf %u entries %u\n", save_map_size(NM_MAP_EVENTS), save_map_size(NM_MAP_NETS));
	fprintf(f, "mode %s\n", cfg.mode == NM_MODE_AUDIT ? "audit" : "enforce");
	err = save_attached(f);
	if (!err)
		err = nm_notes_load(&c.notes);
	if (!err)
		err = save_scope_policy(&c, 0, cfg.default_deny);
	if (!err)
		err = nm_scopes_walk(save_scope, &c);
	nm_notes_free(&c.notes);
	if (!err && fflush(f))
		err = -errno;
	return err;
}

/* FILE.new, then renamed over FILE once whole and on disk. */
static int save_to_file(const char *name)
{
	char tmp[NM_PATH_MAX + 8];
	FILE *f;
	int err, fd;

	if (snprintf(tmp, sizeof(tmp), "%s.new", name) >= (int)sizeof(tmp))
		return -ENAMETOOLONG;
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return -errno;
	f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		unlink(tmp);
		return -ENOMEM;
	}
	err = save_write(f);
	if (!err && fsync(fileno(f)))
		err = -errno;
	if (fclose(f) && !err)
		err = -errno;
	if (!err && rename(tmp, name))
		err = -errno;
	if (err)
		unlink(tmp);
	return err;
}

int do_save(int argc, char **argv)
{
	const char *name = argc ? argv[0] : "-";
	int lock, err;

	if (argc == 1 && !strcmp(argv[0], "help")) {
		nm_help_one("save");
		return 0;
	}
	if (argc > 1)
		return nm_usage("save", "expected one FILE or -");
	err = nm_require_loaded("save");
	if (err)
		return err;
	lock = nm_lock_shared();
	if (lock < 0)
		return nm_sys(nm_opts.pin_dir, lock);
	err = strcmp(name, "-") ? save_to_file(name) : save_write(stdout);
	close(lock);
	if (err)
		return nm_sys(strcmp(name, "-") ? name : "save", err);
	if (strcmp(name, "-") && nm_opts.json)
		nm_json_print(json_pack("{s:s}", "saved", name));
	else if (strcmp(name, "-"))
		nm_info("saved to %s\n", name);
	return 0;
}
