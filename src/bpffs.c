// SPDX-License-Identifier: GPL-2.0
/* The pin directory: where everything netmonctl creates lives, no daemon. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
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

/* Nearest existing ancestor of path (path itself if it exists). */
static void nm_existing_ancestor(const char *path, char *out, size_t len)
{
	struct stat st;

	snprintf(out, len, "%s", path);
	while (stat(out, &st) != 0) {
		char *slash = strrchr(out, '/');

		if (!slash || slash == out) {
			snprintf(out, len, "/");
			return;
		}
		*slash = 0;
	}
}

static int nm_mkdir_p(const char *path)
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
	if (mkdir(tmp, 0700) && errno != EEXIST)
		return -errno;
	return 0;
}

/*
 * Like bpftool: when the pin directory is not on a bpffs, mount one on its
 * parent (for the default, /sys/fs/bpf) unless --nomount was given.
 */
static int nm_mount_bpffs(void)
{
	char tmp[NM_PATH_MAX], parent[NM_PATH_MAX], ancestor[NM_PATH_MAX];

	snprintf(tmp, sizeof(tmp), "%s", nm_opts.pin_dir);
	snprintf(parent, sizeof(parent), "%s", dirname(tmp));
	nm_existing_ancestor(parent, ancestor, sizeof(ancestor));
	if (nm_on_bpffs(ancestor))
		return 0;
	if (nm_opts.nomount)
		return nm_fail(NM_EXIT_RUNTIME, nm_opts.pin_dir,
			       "not on a bpffs and --nomount given (mount -t bpf bpf %s)", parent);
	if (nm_mkdir_p(parent))
		return nm_sys(parent, errno);
	if (mount("bpf", parent, "bpf", 0, "mode=0700"))
		return nm_fail(NM_EXIT_RUNTIME, parent, "cannot mount bpffs: %s", strerror(errno));
	return 0;
}

int nm_bpffs_prepare(bool create)
{
	static const char *const subdirs[] = { "progs", "maps", "links", NULL };
	char path[NM_PATH_MAX];
	int i, err;

	if (nm_opts.pin_dir[0] != '/')
		return nm_usage(nm_opts.pin_dir, "pin directory must be an absolute path");
	err = nm_mount_bpffs();
	if (err || !create)
		return err;
	for (i = 0; subdirs[i]; i++) {
		nm_pin_path(path, sizeof(path), subdirs[i], NULL);
		err = nm_mkdir_p(path);
		if (err)
			return nm_sys(path, err);
	}
	if (!nm_on_bpffs(nm_opts.pin_dir))
		return nm_fail(NM_EXIT_RUNTIME, nm_opts.pin_dir, "is not on a bpffs");
	return 0;
}

bool nm_is_loaded(void)
{
	char path[NM_PATH_MAX];

	nm_pin_path(path, sizeof(path), "maps", NM_MAP_CONFIG);
	return access(path, F_OK) == 0;
}

/* Serialises commands that change state; readers never take it. */
int nm_lock(void)
{
	int fd = open(nm_opts.pin_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);

	if (fd < 0)
		return -errno;
	if (flock(fd, LOCK_EX)) {
		int err = -errno;

		close(fd);
		return err;
	}
	return fd;
}

int nm_unpin(const char *path)
{
	if (unlink(path) && errno != ENOENT)
		return -errno;
	return 0;
}

/* Remove a directory of pins below the pin dir, depth first. */
int nm_rmdir_tree(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int err = 0;

	if (!d)
		return errno == ENOENT ? 0 : -errno;
	while ((de = readdir(d))) {
		char child[NM_PATH_MAX];
		struct stat st;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(child, sizeof(child), "%s/%s", path, de->d_name);
		if (lstat(child, &st))
			continue;
		if (S_ISDIR(st.st_mode))
			err = nm_rmdir_tree(child) ?: err;
		else if (unlink(child))
			err = -errno;
	}
	closedir(d);
	if (rmdir(path) && errno != ENOENT)
		err = -errno;
	return err;
}
