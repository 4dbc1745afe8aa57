// SPDX-License-Identifier: GPL-2.0
/*
 * netmonctl events, one reader per ring: an flock(2) on
 * /run/netmonctl/events-ID.lock (which holds the reader's pid), and the
 * count of drops already reported in events-ID.drops.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>
#include <bpf/bpf.h>
#include "events_internal.h"

static int ev_mkdir_run(void)
{
	if (mkdir("/run", 0755) && errno != EEXIST)
		return -errno;
	if (mkdir(NM_EV_RUN_DIR, 0755) && errno != EEXIST)
		return -errno;
	return 0;
}

/* Lock and drops files of rings that no longer exist are garbage. */
static void ev_cleanup_stale(void)
{
	DIR *d = opendir(NM_EV_RUN_DIR);
	struct dirent *de;

	if (!d)
		return;
	while ((de = readdir(d))) {
		char path[NM_PATH_MAX], suffix[16];
		unsigned id;
		int fd;

		if (sscanf(de->d_name, "events-%u.%15s", &id, suffix) != 2 || strcmp(suffix, "lock"))
			continue;
		fd = bpf_map_get_fd_by_id(id);
		if (fd >= 0 || errno != ENOENT) {
			if (fd >= 0)
				close(fd);
			continue;
		}
		snprintf(path, sizeof(path), "%s/%s", NM_EV_RUN_DIR, de->d_name);
		fd = open(path, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
		if (fd < 0)
			continue;
		if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
			unlink(path);
			snprintf(path, sizeof(path), "%s/events-%u.drops", NM_EV_RUN_DIR, id);
			unlink(path);
		}
		close(fd);
	}
	closedir(d);
}

/* "pid N (command line)" of the reader holding the lock. */
static void ev_describe_holder(int fd, char *who, size_t len)
{
	char buf[64], path[64], cmd[256];
	long pid = 0;
	int i, n = 0, f;

	for (i = 0; i < 50 && pid <= 0; i++) { /* it writes its pid right after locking */
		n = pread(fd, buf, sizeof(buf) - 1, 0);
		if (n > 0) {
			buf[n] = 0;
			pid = strtol(buf, NULL, 10);
		}
		if (pid <= 0)
			usleep(10000);
	}
	if (pid <= 0) {
		snprintf(who, len, "another process");
		return;
	}
	snprintf(path, sizeof(path), "/proc/%ld/cmdline", pid);
	f = open(path, O_RDONLY | O_CLOEXEC);
	n = f >= 0 ? read(f, cmd, sizeof(cmd) - 1) : -1;
	if (f >= 0)
		close(f);
	if (n <= 0) {
		snprintf(who, len, "pid %ld", pid);
		return;
	}
	while (n > 0 && cmd[n - 1] == 0)
		n--;
	for (i = 0; i < n; i++)
		if (cmd[i] == 0 || (unsigned char)cmd[i] < 0x20)
			cmd[i] = ' ';
	cmd[n] = 0;
	snprintf(who, len, "pid %ld (%s)", pid, cmd);
}

int nm_ev_lock(struct nm_ev_lock *l, uint32_t events_id, uint32_t counters_id, struct nm_ev_err *e)
{
	char pid[32], who[400];
	int err, n;

	memset(l, 0, sizeof(*l));
	l->fd = -1;
	l->events_id = events_id;
	l->counters_id = counters_id;
	snprintf(l->path, sizeof(l->path), "%s/events-%u.lock", NM_EV_RUN_DIR, events_id);
	snprintf(l->state, sizeof(l->state), "%s/events-%u.drops", NM_EV_RUN_DIR, events_id);
	err = ev_mkdir_run();
	if (err) {
		nm_ev_errf(e, NM_EXIT_RUNTIME, "%s: %s", l->path, strerror(-err));
		return err;
	}
	ev_cleanup_stale();
	l->fd = open(l->path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (l->fd < 0) {
		err = -errno;
		nm_ev_errf(e, NM_EXIT_RUNTIME, "%s: %s", l->path, strerror(-err));
		return err;
	}
	if (flock(l->fd, LOCK_EX | LOCK_NB)) {
		err = errno == EWOULDBLOCK ? -EBUSY : -errno;
		if (err == -EBUSY) {
			ev_describe_holder(l->fd, who, sizeof(who));
			nm_ev_errf(e, NM_EXIT_RUNTIME,
				   "another reader is running: %s; a ring buffer has one consumer, "
				   "a second reader would steal its events",
				   who);
		} else {
			nm_ev_errf(e, NM_EXIT_RUNTIME, "%s: %s", l->path, strerror(-err));
		}
		close(l->fd);
		l->fd = -1;
		return err;
	}
	n = snprintf(pid, sizeof(pid), "%d\n", getpid());
	if (ftruncate(l->fd, 0) || pwrite(l->fd, pid, n, 0) != n) {
		err = -errno;
		nm_ev_unlock(l);
		nm_ev_errf(e, NM_EXIT_RUNTIME, "%s: %s", l->path, strerror(-err));
		return err;
	}
	return 0;
}

void nm_ev_unlock(struct nm_ev_lock *l)
{
	if (l->fd < 0)
		return;
	/* Leave the file: unlinking a lock file others may hold open races. */
	if (ftruncate(l->fd, 0)) {
		/* nothing useful to do */
	}
	close(l->fd);
	l->fd = -1;
}

uint64_t nm_ev_drops_reported(const struct nm_ev_lock *l)
{
	unsigned long long reported = 0;
	unsigned counters = 0;
	FILE *f = fopen(l->state, "re");

	if (!f)
		return 0;
	if (fscanf(f, "counters %u reported %llu", &counters, &reported) != 2 ||
	    counters != l->counters_id)
		reported = 0;
	fclose(f);
	return reported;
}

int nm_ev_drops_save(const struct nm_ev_lock *l, uint64_t reported)
{
	char tmp[NM_PATH_MAX + 8], line[64];
	int fd, n, err = 0;

	snprintf(tmp, sizeof(tmp), "%s.new", l->state);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
	if (fd < 0)
		return -errno;
	n = snprintf(line, sizeof(line), "counters %u reported %llu\n", l->counters_id,
		     (unsigned long long)reported);
	if (write(fd, line, n) != n)
		err = -errno ?: -EIO;
	if (close(fd) && !err)
		err = -errno;
	if (!err && rename(tmp, l->state))
		err = -errno;
	if (err)
		unlink(tmp);
	return err;
}
