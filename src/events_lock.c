// SPDX-License-Identifier: GPL-2.0
/*
 * netmonctl events, one reader per ring: an flock(2) on
 * /run/netmonctl/events-ID.lock (which holds the reader's pid), and the
 * count of drops already reported in events-ID.drops.
 *
 * Everything here runs as root in a directory others might want to use
 * against it: a planted symlink or hard link at one of these names would
 * make root truncate or write whatever it points to, and a planted drops
 * file would hide drops. So the directory must be root's and writable by
 * root alone (checked on a descriptor opened without following a link, and
 * every name is opened below that descriptor); files are opened with
 * O_NOFOLLOW and used only when fstat says they are regular files owned by
 * root with one link; new state is written to a fresh O_EXCL file and
 * renamed into place.
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

/* Not a FIFO to block on, nor a terminal to adopt, whatever is found. */
#define EV_OPEN_FLAGS (O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK)

static bool ev_file_ok(int fd)
{
	struct stat st;

	return fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_nlink == 1 && st.st_uid == 0;
}

int nm_ev_run_dir(struct nm_ev_err *e)
{
	struct stat st;
	int fd;

	if (mkdir("/run", 0755) && errno != EEXIST)
		return nm_ev_errno(e, errno, "/run");
	if (mkdir(NM_EV_RUN_DIR, 0700) && errno != EEXIST)
		return nm_ev_errno(e, errno, NM_EV_RUN_DIR);
	/* lstat(), but of what is then used: the descriptor, opened without
	 * following a symlink, is checked and everything is opened below it. */
	fd = open(NM_EV_RUN_DIR, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 && (errno == ELOOP || errno == ENOTDIR)) {
		nm_ev_errf(e, NM_EXIT_RUNTIME,
			   "%s is not a directory (a symlink or a file); refusing to keep reader "
			   "state there: remove it",
			   NM_EV_RUN_DIR);
		return -ENOTDIR;
	}
	if (fd < 0 || fstat(fd, &st)) {
		int err = errno;

		if (fd >= 0)
			close(fd);
		return nm_ev_errno(e, err, NM_EV_RUN_DIR);
	}
	if (!S_ISDIR(st.st_mode) || st.st_uid != 0 || (st.st_mode & 022)) {
		nm_ev_errf(e, NM_EXIT_RUNTIME,
			   "%s is %s (owner uid %u, mode %04o); refusing to keep reader state "
			   "there: it must be root's and writable by root alone (chown root; chmod 0700)",
			   NM_EV_RUN_DIR, st.st_uid != 0 ? "not owned by root" : "writable by group or others",
			   (unsigned)st.st_uid, (unsigned)(st.st_mode & 07777));
		close(fd);
		return -EPERM;
	}
	return fd;
}

/* Lock and drops files of rings that no longer exist are garbage. */
static void ev_cleanup_stale(int dirfd)
{
	int dfd = dup(dirfd);
	DIR *d = dfd >= 0 ? fdopendir(dfd) : NULL;
	struct dirent *de;

	if (!d) {
		if (dfd >= 0)
			close(dfd);
		return;
	}
	while ((de = readdir(d))) {
		char name[64], suffix[16];
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
		fd = openat(dirfd, de->d_name, O_RDONLY | EV_OPEN_FLAGS);
		if (fd < 0)
			continue;
		if (flock(fd, LOCK_EX | LOCK_NB) == 0) {
			unlinkat(dirfd, de->d_name, 0);
			snprintf(name, sizeof(name), "events-%u.drops", id);
			unlinkat(dirfd, name, 0);
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

/*
 * The lock file, opened without creating a second one for a lock someone
 * holds. Whatever else sits at its name (a symlink, a hard link, a file of
 * someone else's) is not a lock: its name is removed (never the file it
 * leads to) and a fresh file made in its place.
 */
static int ev_open_lock(int dirfd, const char *name)
{
	int i, fd;

	for (i = 0; i < 4; i++) {
		fd = openat(dirfd, name, O_RDWR | O_CREAT | EV_OPEN_FLAGS, 0644);
		if (fd >= 0 && ev_file_ok(fd))
			return fd;
		if (fd < 0 && errno != ELOOP)
			return -errno;
		if (fd >= 0)
			close(fd);
		if (unlinkat(dirfd, name, 0) && errno != ENOENT)
			return -errno;
	}
	return -EPERM;
}

int nm_ev_lock(struct nm_ev_lock *l, uint32_t events_id, uint32_t counters_id, struct nm_ev_err *e)
{
	char pid[32], who[400];
	int err, n;

	memset(l, 0, sizeof(*l));
	l->fd = l->dirfd = -1;
	l->events_id = events_id;
	l->counters_id = counters_id;
	snprintf(l->name, sizeof(l->name), "events-%u.lock", events_id);
	snprintf(l->state, sizeof(l->state), "events-%u.drops", events_id);
	snprintf(l->path, sizeof(l->path), "%s/%s", NM_EV_RUN_DIR, l->name);
	l->dirfd = nm_ev_run_dir(e);
	if (l->dirfd < 0)
		return l->dirfd;
	ev_cleanup_stale(l->dirfd);
	l->fd = ev_open_lock(l->dirfd, l->name);
	if (l->fd < 0) {
		err = l->fd;
		nm_ev_unlock(l);
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
		nm_ev_unlock(l);
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
	if (l->fd >= 0) {
		/* Leave the file: unlinking a lock file others may hold open races. */
		if (ftruncate(l->fd, 0)) {
			/* nothing useful to do */
		}
		close(l->fd);
	}
	l->fd = -1;
	if (l->dirfd >= 0)
		close(l->dirfd);
	l->dirfd = -1;
}

uint64_t nm_ev_drops_reported(const struct nm_ev_lock *l)
{
	unsigned long long reported = 0;
	unsigned counters = 0;
	char buf[64];
	ssize_t n;
	int fd = openat(l->dirfd, l->state, O_RDONLY | EV_OPEN_FLAGS);

	if (fd < 0)
		return 0;
	n = ev_file_ok(fd) ? read(fd, buf, sizeof(buf) - 1) : -1;
	close(fd);
	if (n <= 0)
		return 0;
	buf[n] = 0;
	if (sscanf(buf, "counters %u reported %llu", &counters, &reported) != 2 ||
	    counters != l->counters_id)
		reported = 0;
	return reported;
}

int nm_ev_drops_save(const struct nm_ev_lock *l, uint64_t reported)
{
	char tmp[sizeof(l->state) + 8], line[64];
	int fd, n, err = 0;

	snprintf(tmp, sizeof(tmp), "%s.new", l->state);
	/* Whatever is at the name (a crash's leftover, or planted) goes: only the
	 * name, never what a link leads to. Then a file that is surely new. */
	if (unlinkat(l->dirfd, tmp, 0) && errno != ENOENT)
		return -errno;
	fd = openat(l->dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | EV_OPEN_FLAGS, 0644);
	if (fd < 0)
		return -errno;
	if (!ev_file_ok(fd)) { /* made by us, but not as it must be (not root?) */
		close(fd);
		unlinkat(l->dirfd, tmp, 0);
		return -EPERM;
	}
	n = snprintf(line, sizeof(line), "counters %u reported %llu\n", l->counters_id,
		     (unsigned long long)reported);
	if (write(fd, line, n) != n)
		err = -errno ?: -EIO;
	if (close(fd) && !err)
		err = -errno;
	if (!err && renameat(l->dirfd, tmp, l->dirfd, l->state))
		err = -errno;
	if (err)
		unlinkat(l->dirfd, tmp, 0);
	return err;
}
