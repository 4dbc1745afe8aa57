// SPDX-License-Identifier: GPL-2.0
/*
 * nmprobe: perform ONE socket operation and print its result, for the
 * netmonctl tests. stdout is `OK` or the errno name (EPERM, ECONNREFUSED..).
 * Exit: 0 OK, 1 the operation failed with an errno, 2 usage error,
 *       3 setup failed (listener, client, cgroup move, sync: not the result).
 * Only libc; builds with `gcc -O2 -static -o nmprobe nmprobe.c`.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define EXIT_ERRNO 1
#define EXIT_USAGE 2
#define EXIT_SETUP 3
#define IO_TIMEOUT_S 5   /* no operation may hang a test */
#define SYNC_TIMEOUT_S 30

static const char usage_text[] =
	"usage: nmprobe [--cgroup DIR] [--count N] [--serve] [--sync FILE]\n"
	"               OP PROTO ADDR PORT [from SRCADDR]\n"
	"  OP: connect (tcp|udp) | sendto (udp) | sendmsg (udp, msg_name) |\n"
	"      send-connected (udp: connect, send) | bind (tcp|udp) |\n"
	"      listen (tcp: bind, listen) | accept (tcp: listener on ADDR:PORT,\n"
	"      client from SRCADDR connects, accept) | recv (tcp: as accept, the\n"
	"      accepted socket recv()s a byte the client sent)\n"
	"  ADDR with ':' is IPv6 (::ffff:a.b.c.d included), else IPv4.\n"
	"  --serve   connect tcp: listen on ADDR:PORT first, so allowed prints OK\n"
	"  --cgroup  move into cgroup DIR after setup, before the operation\n"
	"  --sync    before the operation's last syscall: create FILE, wait\n"
	"            until it is removed (lets a test add a rule mid-operation)\n"
	"  --count   repeat N times; prints first failure (or OK), then\n"
	"            `count=N elapsed_ns=T failures=K`\n"
	"Prints OK or the errno name; exit 0 OK, 1 errno, 2 usage, 3 setup.\n";

struct addr {
	struct sockaddr_storage ss;
	socklen_t len;
	int family;
};

struct probe {
	const char *op, *cgroup, *sync;
	long count;
	int counted, serve, proto, type, has_src;
	struct addr dst, src;
	int listener; /* --serve, accept, recv: -1 if none */
	int synced;
};

#define E(x) { x, #x }
static const struct { int e; const char *name; } errnames[] = {
	E(EPERM), E(EACCES), E(ECONNREFUSED), E(ENETUNREACH), E(EHOSTUNREACH),
	E(EADDRINUSE), E(EADDRNOTAVAIL), E(EAFNOSUPPORT), E(EINVAL), E(ETIMEDOUT),
	E(EAGAIN), E(EINPROGRESS), E(ECONNRESET), E(ECONNABORTED), E(EPIPE),
	E(ENOTCONN), E(EISCONN), E(EDESTADDRREQ), E(EMSGSIZE), E(ENOBUFS), E(ENOMEM),
	E(EOPNOTSUPP), E(EPROTONOSUPPORT), E(ENOENT), E(EBADF), E(EFAULT), E(EINTR),
	E(ESRCH), E(EBUSY), E(ENODEV), E(ENODATA),
};
#undef E

static const char *errname(int e)
{
	static char buf[32];

	for (size_t i = 0; i < sizeof(errnames) / sizeof(errnames[0]); i++)
		if (errnames[i].e == e)
			return errnames[i].name;
	snprintf(buf, sizeof(buf), "E%d", e);
	return buf;
}

static void usage(const char *why)
{
	if (!why) {
		fputs(usage_text, stdout);
		exit(0);
	}
	fprintf(stderr, "nmprobe: %s (see nmprobe --help)\n", why);
	exit(EXIT_USAGE);
}

/* A failure that is not the result being measured. */
static void setup_fail(const char *step, int e)
{
	fprintf(stderr, "nmprobe: setup: %s: %s (%s)\n", step, errname(e), strerror(e));
	exit(EXIT_SETUP);
}

static int parse_addr(const char *s, const char *port, struct addr *a)
{
	char *end;
	long p = strtol(port, &end, 10);

	if (!*port || *end || p < 0 || p > 65535)
		return -1;
	memset(a, 0, sizeof(*a));
	if (strchr(s, ':')) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&a->ss;

		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((unsigned short)p);
		if (inet_pton(AF_INET6, s, &in6->sin6_addr) != 1)
			return -1;
		a->len = sizeof(*in6);
	} else {
		struct sockaddr_in *in = (struct sockaddr_in *)&a->ss;

		in->sin_family = AF_INET;
		in->sin_port = htons((unsigned short)p);
		if (inet_pton(AF_INET, s, &in->sin_addr) != 1)
			return -1;
		a->len = sizeof(*in);
	}
	a->family = a->ss.ss_family;
	return 0;
}

/* Loopback of the destination's family: ::ffff:127.0.0.1 for a v4-mapped one. */
static void default_src(struct probe *p)
{
	const struct sockaddr_in6 *d6 = (const struct sockaddr_in6 *)&p->dst.ss;

	if (p->dst.family == AF_INET)
		parse_addr("127.0.0.1", "0", &p->src);
	else if (IN6_IS_ADDR_V4MAPPED(&d6->sin6_addr))
		parse_addr("::ffff:127.0.0.1", "0", &p->src);
	else
		parse_addr("::1", "0", &p->src);
}

static int new_socket(const struct probe *p, int type)
{
	struct timeval tv = { .tv_sec = IO_TIMEOUT_S };
	int one = 1;
	int fd = socket(p->dst.family, type, 0);

	if (fd < 0)
		setup_fail("socket", errno);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	return fd;
}

/* Close without TIME_WAIT, so --count runs do not exhaust ports. */
static void close_rst(int fd)
{
	struct linger l = { .l_onoff = 1, .l_linger = 0 };

	setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof(l));
	close(fd);
}

static int make_listener(const struct probe *p)
{
	int fd = new_socket(p, SOCK_STREAM);

	if (bind(fd, (const struct sockaddr *)&p->dst.ss, p->dst.len))
		setup_fail("listener bind", errno);
	if (listen(fd, 128))
		setup_fail("listener listen", errno);
	return fd;
}

static void join_cgroup(const char *dir)
{
	char path[4096], pid[32];
	int fd, n;

	snprintf(path, sizeof(path), "%s/cgroup.procs", dir);
	fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		setup_fail(path, errno);
	n = snprintf(pid, sizeof(pid), "%d\n", (int)getpid());
	if (write(fd, pid, (size_t)n) != n)
		setup_fail(path, errno);
	close(fd);
}

/* --sync: announce the point by creating FILE; continue once it is gone. */
static void sync_point(struct probe *p)
{
	struct timespec ts = { .tv_nsec = 10 * 1000 * 1000 };
	int fd;

	if (!p->sync || p->synced++)
		return;
	fd = open(p->sync, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		setup_fail(p->sync, errno);
	close(fd);
	for (int i = 0; i < SYNC_TIMEOUT_S * 100; i++) {
		if (access(p->sync, F_OK) && errno == ENOENT)
			return;
		nanosleep(&ts, NULL);
	}
	setup_fail("sync: file still there", ETIMEDOUT);
}

/* ---- operations: return 0 or the errno of the measured step ---- */

static int ret_errno(int rc) { return rc < 0 ? errno : 0; }

static int client_socket(struct probe *p, int type)
{
	int fd = new_socket(p, type);

	if (p->has_src && bind(fd, (const struct sockaddr *)&p->src.ss, p->src.len))
		setup_fail("bind to source address", errno);
	return fd;
}

/* --serve: take the connection off the listener so the backlog never fills. */
static void drain(const struct probe *p)
{
	int fd = p->listener >= 0 ? accept4(p->listener, NULL, NULL, SOCK_NONBLOCK) : -1;

	if (fd >= 0)
		close_rst(fd);
}

static int op_connect(struct probe *p)
{
	int fd = client_socket(p, p->type), rc;

	sync_point(p);
	rc = ret_errno(connect(fd, (const struct sockaddr *)&p->dst.ss, p->dst.len));
	close_rst(fd);
	if (!rc)
		drain(p);
	return rc;
}

static int op_sendto(struct probe *p)
{
	int fd = client_socket(p, SOCK_DGRAM), rc;

	sync_point(p);
	rc = ret_errno(sendto(fd, "x", 1, 0, (const struct sockaddr *)&p->dst.ss, p->dst.len));
	close(fd);
	return rc;
}

static int op_sendmsg(struct probe *p)
{
	struct iovec iov = { .iov_base = "x", .iov_len = 1 };
	struct msghdr msg = { .msg_name = &p->dst.ss, .msg_namelen = p->dst.len,
			      .msg_iov = &iov, .msg_iovlen = 1 };
	int fd = client_socket(p, SOCK_DGRAM), rc;

	sync_point(p);
	rc = ret_errno(sendmsg(fd, &msg, 0));
	close(fd);
	return rc;
}

static int op_send_connected(struct probe *p)
{
	int fd = client_socket(p, SOCK_DGRAM), rc;

	rc = ret_errno(connect(fd, (const struct sockaddr *)&p->dst.ss, p->dst.len));
	if (!rc) {
		sync_point(p);
		rc = ret_errno(send(fd, "x", 1, 0));
	}
	close(fd);
	return rc;
}

static int op_bind(struct probe *p)
{
	int fd = new_socket(p, p->type), rc;

	sync_point(p);
	rc = ret_errno(bind(fd, (const struct sockaddr *)&p->dst.ss, p->dst.len));
	close(fd);
	return rc;
}

static int op_listen(struct probe *p)
{
	int fd = new_socket(p, SOCK_STREAM), rc;

	rc = ret_errno(bind(fd, (const struct sockaddr *)&p->dst.ss, p->dst.len));
	if (!rc) {
		sync_point(p);
		rc = ret_errno(listen(fd, 16));
	}
	close(fd);
	return rc;
}

/* accept/recv: a client connects to our listener; setup, not the result. */
static int connected_client(struct probe *p)
{
	int fd = new_socket(p, SOCK_STREAM);

	if (bind(fd, (const struct sockaddr *)&p->src.ss, p->src.len))
		setup_fail("client bind", errno);
	if (connect(fd, (const struct sockaddr *)&p->dst.ss, p->dst.len))
		setup_fail("client connect", errno);
	return fd;
}

static int op_accept(struct probe *p)
{
	int cl = connected_client(p), fd, rc;

	sync_point(p);
	fd = accept(p->listener, NULL, NULL);
	rc = ret_errno(fd);
	if (fd >= 0)
		close_rst(fd);
	close_rst(cl);
	return rc;
}

static int op_recv(struct probe *p)
{
	int cl = connected_client(p), fd, rc;
	char c;
	ssize_t n;

	fd = accept(p->listener, NULL, NULL);
	if (fd < 0)
		setup_fail("accept", errno);
	if (send(cl, "x", 1, 0) != 1)
		setup_fail("client send", errno);
	sync_point(p);
	n = recv(fd, &c, 1, 0);
	rc = n < 0 ? errno : n == 0 ? ENODATA : 0;
	close_rst(fd);
	close_rst(cl);
	return rc;
}

static const struct op {
	const char *name;
	int (*fn)(struct probe *p);
	int tcp, udp; /* protocols it accepts */
} ops[] = {
	{ "connect", op_connect, 1, 1 },	 { "sendto", op_sendto, 0, 1 },
	{ "sendmsg", op_sendmsg, 0, 1 },	 { "send-connected", op_send_connected, 0, 1 },
	{ "bind", op_bind, 1, 1 },		 { "listen", op_listen, 1, 0 },
	{ "accept", op_accept, 1, 0 },		 { "recv", op_recv, 1, 0 },
};

static const struct op *find_op(const char *name)
{
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (!strcmp(ops[i].name, name))
			return &ops[i];
	return NULL;
}

static int parse_args(int argc, char **argv, struct probe *p)
{
	int i = 1;
	char *end;

	for (; i < argc && !strncmp(argv[i], "--", 2); i++) {
		if (!strcmp(argv[i], "--help")) {
			usage(NULL);
		} else if (!strcmp(argv[i], "--serve")) {
			p->serve = 1;
		} else if (i + 1 >= argc) {
			usage("option needs an argument");
		} else if (!strcmp(argv[i], "--cgroup")) {
			p->cgroup = argv[++i];
		} else if (!strcmp(argv[i], "--sync")) {
			p->sync = argv[++i];
		} else if (!strcmp(argv[i], "--count")) {
			p->counted = 1;
			p->count = strtol(argv[++i], &end, 10);
			if (*end || p->count < 1)
				usage("--count needs a positive number");
		} else {
			usage("unknown option");
		}
	}
	if (argc - i != 4 && argc - i != 6)
		usage("wrong number of arguments");
	p->op = argv[i];
	if (!strcmp(argv[i + 1], "tcp"))
		p->proto = IPPROTO_TCP, p->type = SOCK_STREAM;
	else if (!strcmp(argv[i + 1], "udp"))
		p->proto = IPPROTO_UDP, p->type = SOCK_DGRAM;
	else
		usage("PROTO must be tcp or udp");
	if (parse_addr(argv[i + 2], argv[i + 3], &p->dst))
		usage("bad ADDR or PORT");
	if (argc - i == 6) {
		if (strcmp(argv[i + 4], "from") || parse_addr(argv[i + 5], "0", &p->src))
			usage("expected `from SRCADDR`");
		if (p->src.family != p->dst.family)
			usage("SRCADDR and ADDR are of different families");
		p->has_src = 1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	struct probe p = { .count = 1, .listener = -1 };
	struct timespec t0, t1;
	const struct op *op;
	int first = 0;
	long failures = 0;

	parse_args(argc, argv, &p);
	op = find_op(p.op);
	if (!op)
		usage("unknown OP");
	if ((p.proto == IPPROTO_TCP && !op->tcp) || (p.proto == IPPROTO_UDP && !op->udp))
		usage("OP does not take that PROTO");
	if (p.serve && (op->fn != op_connect || p.proto != IPPROTO_TCP))
		usage("--serve is for `connect tcp` only");

	if (op->fn == op_accept || op->fn == op_recv) {
		if (!p.has_src)
			default_src(&p);
		p.listener = make_listener(&p);
	} else if (p.serve) {
		p.listener = make_listener(&p);
		fcntl(p.listener, F_SETFL, O_NONBLOCK);
	}
	if (p.cgroup)
		join_cgroup(p.cgroup);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long i = 0; i < p.count; i++) {
		int rc = op->fn(&p);

		if (rc && !failures++)
			first = rc;
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);

	puts(first ? errname(first) : "OK");
	if (p.counted)
		printf("count=%ld elapsed_ns=%lld failures=%ld\n", p.count,
		       (long long)(t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec),
		       failures);
	return first ? EXIT_ERRNO : 0;
}
