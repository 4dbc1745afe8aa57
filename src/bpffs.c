// SPDX-License-Identifier: GPL-2.0
/* The pin directory: where everything netmonctl creates lives, no daemon. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <libgen.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>
#include <linux/magic.h>
#include "nm.h"

int nm_pin_path(char *buf, size_t len, const char *sub, const char *name)
{
	int n;

	if (sub && name)
		n = snprintf(buf, len, "%s/%s/%s", nm_opts.pin_dir, sub, name);
	else if (sub)
		n = snprintf(buf, len, "%s/%s", nm_opts.pin_dir, sub);
	else
		n = snprintf(buf, len, "%s", nm_opts.pin_dir);
	return n < 0 || (size_t)n >= len ? -ENAMETOOLONG : 0;
}

bool nm_on_bpffs(const char *path)
{
	struct statfs st;

	return statfs(path, &st) == 0 && st.f_type == BPF_FS_MAGIC;
}

/*
 * The pin dir netmonctl made carries this empty subdirectory: bpffs holds
 * only BPF objects and directories (and refuses names with dots), so a
 * directory is the one marker it can hold. `unload` removes the pin dir only
 * when the marker is there and nothing else is left: a directory the admin
 * made, or one that still holds another tool's pins or a nested netmonctl's
 * pin dir, stays.
 */
#define NM_OWNER_MARK "created_by_netmonctl"
#define NM_BPFFS_STD "/sys/fs/bpf"

/* Absolute, and no `.` or `..` component: the path named is the path used. */
int nm_pin_dir_check(void)
{
	const char *p = nm_opts.pin_dir;

	if (p[0] != '/')
		return nm_usage(p, "pin directory must be an absolute path");
	if (strlen(p) >= NM_PATH_MAX - 64)
		return nm_usage(p, "pin directory path is too long");
	for (; *p; p++) {
		if (p[0] == '/' && p[1] == '.' && (p[2] == '/' || !p[2] ||
						   (p[2] == '.' && (p[3] == '/' || !p[3]))))
			return nm_usage(nm_opts.pin_dir, "pin directory must not have '.' or '..' components");
	}
	return 0;
}

/* Nearest existing ancestor of path (path itself if it exists); returns the
 * length of path it covers. */
static size_t nm_existing_ancestor(const char *path, char *out, size_t len)
{
	struct stat st;

	snprintf(out, len, "%s", path);
	while (stat(out, &st) != 0) {
		char *slash = strrchr(out, '/');

		if (!slash || slash == out) {
			snprintf(out, len, "/");
			return 1;
		}
		*slash = 0;
	}
	return strlen(out);
}

/* Is there a bpffs where the pin dir is, or would be made? */
bool nm_bpffs_present(void)
{
	char anc[NM_PATH_MAX];

	nm_existing_ancestor(nm_opts.pin_dir, anc, sizeof(anc));
	return nm_on_bpffs(anc);
}

/* path with symlinks resolved as far as it exists: where a mount would land. */
static void nm_canonical(const char *path, char *out, size_t len)
{
	char anc[NM_PATH_MAX], real[PATH_MAX];
	size_t n = nm_existing_ancestor(path, anc, sizeof(anc));

	if (!realpath(anc, real))
		snprintf(real, sizeof(real), "%s", anc);
	if (!strcmp(real, "/") && path[n] == '/')
		n++; /* no double slash after the root */
	if (snprintf(out, len, "%s%s", real, path + n) >= (int)len)
		snprintf(out, len, "/"); /* too long to place: treated like / (no mount) */
}

static bool nm_under(const char *path, const char *dir)
{
	size_t n = strlen(dir);

	return !strncmp(path, dir, n) && (path[n] == 0 || path[n] == '/');
}

/* 1 empty directory, 0 not empty, -errno not a readable directory. */
static int nm_dir_empty(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int empty = 1;

	if (!d)
		return -errno;
	while (empty && (de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			empty = 0;
	closedir(d);
	return empty;
}

/* mkdir -p; *made says whether the last component was created here. */
static int nm_mkdir_p(const char *path, bool *made)
{
	char tmp[NM_PATH_MAX];
	char *p;

	snprintf(tmp, sizeof(tmp), "%s", path);
	for (p = tmp + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = 0;
		if (mkdir(tmp, 0700) && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	*made = mkdir(tmp, 0700) == 0;
	if (!*made && errno != EEXIST)
		return -errno;
	return 0;
}

#define NM_MOUNT_RULE "netmonctl mounts bpffs only at " NM_BPFFS_STD \
	" or on an empty directory named as the pin dir's parent"

/* Where `load` may mount a bpffs for the pin dir, or an exit code (recorded). */
static int nm_mount_target(char *target, size_t len)
{
	char canon[NM_PATH_MAX], tmp[NM_PATH_MAX];
	const char *pin = nm_opts.pin_dir;
	int empty;

	nm_canonical(pin, canon, sizeof(canon));
	if (nm_under(canon, NM_BPFFS_STD)) {
		snprintf(target, len, "%s", NM_BPFFS_STD);
	} else {
		snprintf(tmp, sizeof(tmp), "%s", canon);
		snprintf(target, len, "%s", dirname(tmp));
		if (!strcmp(target, "/") || nm_under("/sys/fs", target) || nm_under("/proc", target))
			return nm_usage(pin, "not on a bpffs, and %s is not a place for one (%s)",
					target, NM_MOUNT_RULE);
	}
	empty = nm_dir_empty(target);
	if (empty < 0)
		return nm_usage(pin, "not on a bpffs, and %s: %s (%s; create it, or mount -t bpf bpf DIR)",
				target, strerror(-empty), NM_MOUNT_RULE);
	if (!empty)
		return nm_usage(pin, "not on a bpffs, and %s is not empty (%s; mount -t bpf bpf DIR yourself)",
				target, NM_MOUNT_RULE);
	return 0;
}

/*
 * Only `load` mounts, and only where nothing can be hidden: at /sys/fs/bpf
 * (as bpftool does) for a pin dir below it, or on the pin dir's parent when
 * that is an empty directory; never on /, /sys/fs or a non-empty directory.
 */
static int nm_mount_bpffs(void)
{
	char ancestor[NM_PATH_MAX], target[NM_PATH_MAX];
	int err;

	nm_existing_ancestor(nm_opts.pin_dir, ancestor, sizeof(ancestor));
	if (nm_on_bpffs(ancestor))
		return 0;
	if (nm_opts.nomount)
		return nm_fail(NM_EXIT_RUNTIME, nm_opts.pin_dir,
			       "not on a bpffs and --nomount given (mount -t bpf bpf DIR first)");
	err = nm_mount_target(target, sizeof(target));
	if (err)
		return err;
	if (mount("bpf", target, "bpf", 0, "mode=0700"))
		return nm_fail(NM_EXIT_RUNTIME, target, "cannot mount bpffs: %s", strerror(errno));
	return 0;
}

/* `load` only: bpffs (mounted by the rules above), the pin dir, its subdirs. */
int nm_bpffs_prepare(void)
{
	static const char *const subdirs[] = { "progs", "maps", "links", NULL };
	char path[NM_PATH_MAX];
	bool made;
	int i, err = nm_pin_dir_check();

	if (!err)
		err = nm_mount_bpffs();
	if (err)
		return err;
	err = nm_mkdir_p(nm_opts.pin_dir, &made);
	if (err)
		return nm_sys(nm_opts.pin_dir, err);
	if (!nm_on_bpffs(nm_opts.pin_dir))
		return nm_fail(NM_EXIT_RUNTIME, nm_opts.pin_dir, "is not on a bpffs");
	if (made) {
		nm_pin_path(path, sizeof(path), NM_OWNER_MARK, NULL);
		if (mkdir(path, 0700))
			return nm_sys(path, errno);
	}
	for (i = 0; subdirs[i]; i++) {
		nm_pin_path(path, sizeof(path), subdirs[i], NULL);
		if (mkdir(path, 0700) && errno != EEXIST)
			return nm_sys(path, errno);
	}
	return 0;
}

/*
 * After unload (or a failed first load) has removed its own pins by name:
 * the progs/maps/links subdirs go when empty, the pin dir only when netmonctl
 * made it and nothing but the marker is left. Returns true when the pin dir
 * is gone. Anything not empty is left as it is.
 */
bool nm_pin_dir_tidy(void)
{
	static const char *const subdirs[] = { "progs", "maps", "links", NULL };
	char path[NM_PATH_MAX], mark[NM_PATH_MAX];
	DIR *d;
	struct dirent *de;
	bool only_mark = true, has_mark = false;
	int i;

	nm_pin_path(path, sizeof(path), "maps", NM_EDIT_MARK);
	rmdir(path); /* an interrupted edit's mark: the maps it spoke for are gone */
	for (i = 0; subdirs[i]; i++) {
		nm_pin_path(path, sizeof(path), subdirs[i], NULL);
		rmdir(path); /* ENOTEMPTY: someone else's pins are in there */
	}
	d = opendir(nm_opts.pin_dir);
	if (!d)
		return errno == ENOENT;
	while ((de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (!strcmp(de->d_name, NM_OWNER_MARK))
			has_mark = true;
		else
			only_mark = false;
	}
	closedir(d);
	if (!has_mark || !only_mark)
		return false;
	nm_pin_path(mark, sizeof(mark), NM_OWNER_MARK, NULL);
	if (rmdir(mark))
		return false;
	if (rmdir(nm_opts.pin_dir) == 0)
		return true;
	mkdir(mark, 0700); /* something arrived meanwhile: it is still ours */
	return false;
}

bool nm_is_loaded(void)
{
	char path[NM_PATH_MAX];

	nm_pin_path(path, sizeof(path), "maps", NM_MAP_CONFIG);
	return access(path, F_OK) == 0;
}

/*
 * Serialises every command that changes state (load, unload, attach,
 * detach, mode, pin, deny edits). `deny list` takes it shared, so its walk
 * over the maps never meets an edit's switch halfway; `status` takes none.
 * A lock taken on a pin dir that `unload` removed meanwhile is no lock:
 * -ENOENT then.
 */
static int nm_lock_op(int op)
{
	int fd = open(nm_opts.pin_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	struct stat held, now;

	if (fd < 0)
		return -errno;
	if (flock(fd, op)) {
		int err = -errno;

		close(fd);
		return err;
	}
	if (fstat(fd, &held) || stat(nm_opts.pin_dir, &now) || held.st_ino != now.st_ino ||
	    held.st_dev != now.st_dev) {
		close(fd);
		return -ENOENT;
	}
	return fd;
}

int nm_lock(void)
{
	return nm_lock_op(LOCK_EX);
}

int nm_lock_shared(void)
{
	return nm_lock_op(LOCK_SH);
}

int nm_lock_try_shared(void)
{
	return nm_lock_op(LOCK_SH | LOCK_NB);
}

int nm_unpin(const char *path)
{
	if (unlink(path) && errno != ENOENT)
		return -errno;
	return 0;
}
