// SPDX-License-Identifier: GPL-2.0
/*
 * nbtime: run a command and print its wall-clock and CPU time in
 * nanoseconds, for tests/bench/run.sh. Wall: from just before fork() to
 * wait4() returning, so it includes fork+exec of the command (measure a
 * trivial command for that floor). CPU: the child's user + system time from
 * wait4()'s rusage, which time spent waiting for a CPU does not inflate.
 * The command's stdout goes to /dev/null; stderr is kept.
 *   nbtime [-n N] CMD [ARG...]   prints N lines `<wall_ns> <cpu_ns>`; exit 1
 *                                if any run failed (reported on stderr)
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long long tv_ns(struct timeval tv)
{
	return tv.tv_sec * 1000000000LL + tv.tv_usec * 1000LL;
}

static long long now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(int argc, char **argv)
{
	int i = 1, n = 1, failed = 0;

	if (argc > 2 && !strcmp(argv[1], "-n")) {
		n = atoi(argv[2]);
		i = 3;
	}
	if (i >= argc || n < 1) {
		fprintf(stderr, "usage: nbtime [-n N] CMD [ARG...]\n");
		return 2;
	}
	for (int r = 0; r < n; r++) {
		long long t0 = now_ns(), t1;
		struct rusage ru;
		int status;
		pid_t pid = fork();

		if (pid < 0) {
			perror("nbtime: fork");
			return 2;
		}
		if (pid == 0) {
			int fd = open("/dev/null", O_WRONLY);

			if (fd >= 0)
				dup2(fd, 1);
			execvp(argv[i], argv + i);
			perror(argv[i]);
			_exit(127);
		}
		if (wait4(pid, &status, 0, &ru) < 0) {
			perror("nbtime: wait4");
			return 2;
		}
		t1 = now_ns();
		printf("%lld %lld\n", t1 - t0, tv_ns(ru.ru_utime) + tv_ns(ru.ru_stime));
		fflush(stdout);
		if (!WIFEXITED(status) || WEXITSTATUS(status)) {
			fprintf(stderr, "nbtime: %s: exit status %d\n", argv[i],
				WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
			failed = 1;
		}
	}
	return failed;
}
