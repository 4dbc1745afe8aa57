// SPDX-License-Identifier: GPL-2.0
/*
 * events-gen: produce blocked connects as fast as the kernel allows, for
 * tests/bench/events-bench.sh. Each of P processes joins CGROUP and calls
 * connect() on one TCP socket N times; a deny rule on ADDR:PORT makes every
 * call fail with EPERM in the cgroup connect4 hook (one event each), and a
 * failed connect leaves the socket reusable, so it is one syscall per event.
 *   events-gen CGROUP ADDR PORT N [P]
 * Prints `events=<P*N> denied=<K> seconds=<wall> rate=<events/s>`;
 * exit 1 if any connect was not denied.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec + t.tv_nsec / 1e9;
}

static long run(const char *cg, const struct sockaddr_in *a, long n, volatile int *go)
{
	char path[4096];
	long i, denied = 0;
	int fd;

	snprintf(path, sizeof(path), "%s/cgroup.procs", cg);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0 || dprintf(fd, "%d\n", getpid()) < 0) {
		perror(path);
		return -1;
	}
	close(fd);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0) {
		perror("socket");
		return -1;
	}
	while (!*go)
		;
	for (i = 0; i < n; i++) {
		if (connect(fd, (const void *)a, sizeof(*a)) < 0 && errno == EPERM)
			denied++;
		else
			fprintf(stderr, "connect %ld: %s\n", i, errno ? strerror(errno) : "allowed");
	}
	close(fd);
	return denied;
}

int main(int argc, char **argv)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	long n, p, i, denied = 0;
	volatile int *go;
	long *res;
	double t0, t1;

	if (argc < 5) {
		fprintf(stderr, "usage: events-gen CGROUP ADDR PORT N [P]\n");
		return 2;
	}
	a.sin_port = htons(atoi(argv[3]));
	if (inet_pton(AF_INET, argv[2], &a.sin_addr) != 1) {
		fprintf(stderr, "events-gen: %s: not an IPv4 address\n", argv[2]);
		return 2;
	}
	n = atol(argv[4]);
	p = argc > 5 ? atol(argv[5]) : 1;
	if (n < 1 || p < 1 || p > 64)
		return 2;
	go = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	if (go == MAP_FAILED)
		return 3;
	res = (long *)(go + 64);
	for (i = 0; i < p; i++) {
		if (fork() == 0) {
			res[i] = run(argv[1], &a, n, go);
			_exit(res[i] < 0 ? 3 : 0);
		}
	}
	usleep(100000); /* every child in the cgroup, socket ready */
	t0 = now_s();
	*go = 1;
	for (i = 0; i < p; i++)
		wait(NULL);
	t1 = now_s();
	for (i = 0; i < p; i++) {
		if (res[i] < 0)
			return 3;
		denied += res[i];
	}
	printf("events=%ld denied=%ld seconds=%.3f rate=%.0f\n", n * p, denied, t1 - t0,
	       n * p / (t1 - t0));
	return denied == n * p ? 0 : 1;
}
