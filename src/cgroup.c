// SPDX-License-Identifier: GPL-2.0
/* cgroup v2: where it is mounted (never assumed), ids and paths. */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <linux/magic.h>
#include "nm.h"

int nm_cgroup2_mount(char *buf, size_t len)
{
	FILE *f = fopen("/proc/mounts", "re");
	char dev[256], dir[NM_PATH_MAX], type[64];
	int found = -ENOENT;

	if (!f)
		return -errno;
	while (fscanf(f, "%255s %511s %63s %*[^\n]", dev, dir, type) == 3) {
		if (strcmp(type, "cgroup2") == 0) {
			snprintf(buf, len, "%s", dir);
			found = 0;
			break;
		}
	}
	fclose(f);
	return found;
}

/* On cgroup v2 the cgroup id is the directory's inode number. */
int nm_cgroup_id(const char *path, uint64_t *id)
{
	struct stat st;

	if (stat(path, &st))
		return -errno;
	*id = st.st_ino;
	return 0;
}

static int nm_cgroup_search(const char *dir, uint64_t id, char *buf, size_t len, int depth)
{
	DIR *d;
	struct dirent *de;
	int found = -ENOENT;

	if (depth > 64)
		return -ENOENT;
	d = opendir(dir);
	if (!d)
		return -errno;
	while (found && (de = readdir(d))) {
		char child[PATH_MAX];

		if (de->d_type != DT_DIR || !strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		snprintf(child, sizeof(child), "%s/%s", dir, de->d_name);
		if (de->d_ino == id) {
			snprintf(buf, len, "%s", child);
			found = 0;
		} else {
			found = nm_cgroup_search(child, id, buf, len, depth + 1);
		}
	}
	closedir(d);
	return found;
}

int nm_cgroup_path(uint64_t id, char *buf, size_t len)
{
	char root[NM_PATH_MAX];
	uint64_t root_id = 0;
	int err = nm_cgroup2_mount(root, sizeof(root));

	if (err)
		return err;
	if (nm_cgroup_id(root, &root_id) == 0 && root_id == id) {
		snprintf(buf, len, "%s", root);
		return 0;
	}
	return nm_cgroup_search(root, id, buf, len, 0);
}

/* Canonical absolute path of a cgroup v2 directory given by the user. */
int nm_cgroup_resolve(const char *arg, char *buf, size_t len)
{
	char real[PATH_MAX];
	struct statfs st;

	if (!realpath(arg, real))
		return -errno;
	if (statfs(real, &st))
		return -errno;
	if (st.f_type != CGROUP2_SUPER_MAGIC)
		return -ENOTDIR;
	snprintf(buf, len, "%s", real);
	return 0;
}
