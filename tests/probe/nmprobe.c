// SPDX-License-Identifier: GPL-2.0
/*
 * nmprobe: perform ONE socket operation and print its result, for the
 * netmonctl tests. stdout is `OK` or the errno name (EPERM, ECONNREFUSED..).
 * Exit: 0 OK, 1 the operation failed with an errno, 2 usage error,
 *       3 setup failed (listener, client, cgroup move, sync: not the result).
 * Only libc; builds with `gcc -O2 -static -o nmprobe nmprobe.c`.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/io_uring.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#define EXIT_ERRNO 1
#define EXIT_USAGE 2
#define EXIT_SETUP 3
#define IO_TIMEOUT_S 5   /* no operation may hang a test */
#define SYNC_TIMEOUT_S 30

static const char usage_text[] =
	"usage: nmprobe [--cgroup DIR] [--count N] [--serve] [--serve-at ADDR]\n"
	"               [--user UID] [--newnet] [--sync FILE]\n"
	"               OP PROTO ADDR PORT [from SRCADDR]\n"
	"  OP: connect (tcp|udp|mptcp) | sendto (udp) | sendmsg (udp, msg_name) |\n"
	"      send-connected (udp: connect, send) | bind (tcp|udp) |\n"
	"      listen (tcp: bind, listen) | accept (tcp: listener on ADDR:PORT,\n"
	"      client from SRCADDR connects, accept) | recv (tcp: as accept, the\n"
	"      accepted socket recv()s a byte the client sent) |\n"
	"      fastopen (tcp: sendto with MSG_FASTOPEN) | sendmmsg (udp) |\n"
	"      uring-connect (tcp|udp) | uring-sendmsg (udp): through io_uring |\n"
	"      sendmsg-pktinfo (udp: sendmsg with an IP(V6)_PKTINFO naming SRCADDR) |\n"
	"      send-named (tcp: connect, then sendto() naming PORT+1, which TCP\n"
	"      ignores)\n"
	"      icmp (a ping socket), raw (SOCK_RAW, ICMP) and rawtcp (SOCK_RAW,\n"
	"      TCP): connect (connect, then send an echo request) | sendto (an\n"
	"      echo request) | bind | socket (only create it) | send-named\n"
	"      (connect to SRCADDR, then sendto() naming ADDR); PORT is the echo\n"
	"      id (ping) or ignored (raw). --newnet as root lets every group open\n"
	"      ping sockets there.\n"
	"  ADDR with ':' is IPv6 (::ffff:a.b.c.d and fe80::1%IFNAME included),\n"
	"  else IPv4.\n"
	"  --serve   connect/fastopen (tcp, mptcp): listen on ADDR:PORT first, so\n"
	"            allowed prints OK; udp sends: a receiver on ADDR:PORT, and\n"
	"            OK only once the datagram arrived (ENODATA if it did not)\n"
	"  --serve-at  as --serve, but the listener is on this address (same port):\n"
	"            for destinations the kernel routes elsewhere (0.0.0.0, ::)\n"
	"  --cgroup  move into cgroup DIR after setup, before the operation\n"
	"  --user    then drop to this uid and gid (no supplementary groups)\n"
	"  --newnet  then enter a new network namespace (a new user namespace\n"
	"            too when not root) with lo up; the listener is made there\n"
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
	const char *op, *cgroup, *sync, *serve_at;
	long count;
	int counted, serve, proto, type, has_src, newnet;
	int raw_tcp; /* rawtcp: a raw socket of protocol TCP */
	long user; /* --user: -1 if none */
	struct addr dst, src, srv; /* srv: where --serve listens */
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
	char *end, host[INET6_ADDRSTRLEN + IF_NAMESIZE + 2];
	long p = strtol(port, &end, 10);

	if (!*port || *end || p < 0 || p > 65535)
		return -1;
	memset(a, 0, sizeof(*a));
	if (strchr(s, ':')) {
		struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&a->ss;
		char *scope;

		snprintf(host, sizeof(host), "%s", s);
		scope = strchr(host, '%');
		if (scope) {
			*scope++ = 0;
			in6->sin6_scope_id = if_nametoindex(scope);
			if (!in6->sin6_scope_id)
				return -1;
		}
		in6->sin6_family = AF_INET6;
		in6->sin6_port = htons((unsigned short)p);
		if (inet_pton(AF_INET6, host, &in6->sin6_addr) != 1)
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

static int new_socket_of(int family, int type, int proto)
{
	struct timeval tv = { .tv_sec = IO_TIMEOUT_S };
	int one = 1;
	int fd = socket(family, type, proto);

	if (fd < 0)
		setup_fail("socket", errno);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	return fd;
}

static int new_socket(const struct probe *p, int type)
{
	return new_socket_of(p->dst.family, type, 0);
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
	int fd = new_socket_of(p->srv.family, p->type, 0);

	if (p->type == SOCK_STREAM && p->srv.family == AF_INET6) {
		int off = 0; /* a [::] listener takes IPv4 too */

		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof(off));
	}
	if (bind(fd, (const struct sockaddr *)&p->srv.ss, p->srv.len))
		setup_fail("listener bind", errno);
	if (p->type == SOCK_STREAM && listen(fd, 128))
		setup_fail("listener listen", errno);
	return fd;
}

/* A udp --serve receiver: did the datagram arrive? */
static int received(const struct probe *p, int rc)
{
	struct timeval tv = { .tv_sec = 1 };
	char c;

	if (rc || !p->serve || p->type != SOCK_DGRAM)
		return rc;
	setsockopt(p->listener, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	return recv(p->listener, &c, 1, 0) == 1 ? 0 : ENODATA;
}

static void drop_user(long uid)
{
	if (setgroups(0, NULL) || setresgid((gid_t)uid, (gid_t)uid, (gid_t)uid) ||
	    setresuid((uid_t)uid, (uid_t)uid, (uid_t)uid))
		setup_fail("drop to --user", errno);
}

static void new_netns(void)
{
	struct ifreq ifr = { .ifr_name = "lo" };
	int fd;

	if (unshare(CLONE_NEWNET | (geteuid() ? CLONE_NEWUSER : 0)))
		setup_fail("unshare (--newnet)", errno);
	if (!geteuid()) { /* ping sockets for every group, in this netns only */
		fd = open("/proc/sys/net/ipv4/ping_group_range", O_WRONLY | O_CLOEXEC);
		if (fd < 0 || write(fd, "0 2147483647", 12) != 12)
			setup_fail("ping_group_range", errno);
		close(fd);
	}
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0 || ioctl(fd, SIOCGIFFLAGS, &ifr))
		setup_fail("lo flags", errno);
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr))
		setup_fail("lo up", errno);
	close(fd);
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
	int fd = new_socket_of(p->dst.family, type, p->proto == IPPROTO_MPTCP ? IPPROTO_MPTCP : 0);

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
	return received(p, rc);
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
	return received(p, rc);
}

/* sendmsg whose source comes from IP_PKTINFO / IPV6_PKTINFO: SRCADDR. */
static int op_sendmsg_pktinfo(struct probe *p)
{
	struct iovec iov = { .iov_base = "x", .iov_len = 1 };
	union {
		char buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
		struct cmsghdr align;
	} ctl = {};
	struct msghdr msg = { .msg_name = &p->dst.ss, .msg_namelen = p->dst.len,
			      .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf };
	struct cmsghdr *c = (struct cmsghdr *)ctl.buf;
	int fd = new_socket(p, SOCK_DGRAM), rc;

	if (p->dst.family == AF_INET) {
		struct in_pktinfo pi = {
			.ipi_spec_dst = ((struct sockaddr_in *)&p->src.ss)->sin_addr,
		};

		c->cmsg_level = IPPROTO_IP;
		c->cmsg_type = IP_PKTINFO;
		c->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(c), &pi, sizeof(pi));
		msg.msg_controllen = CMSG_SPACE(sizeof(pi));
	} else {
		struct in6_pktinfo pi = {
			.ipi6_addr = ((struct sockaddr_in6 *)&p->src.ss)->sin6_addr,
		};

		c->cmsg_level = IPPROTO_IPV6;
		c->cmsg_type = IPV6_PKTINFO;
		c->cmsg_len = CMSG_LEN(sizeof(pi));
		memcpy(CMSG_DATA(c), &pi, sizeof(pi));
		msg.msg_controllen = CMSG_SPACE(sizeof(pi));
	}
	sync_point(p);
	rc = ret_errno(sendmsg(fd, &msg, 0));
	close(fd);
	return received(p, rc);
}

static int op_sendmmsg(struct probe *p)
{
	struct iovec iov = { .iov_base = "x", .iov_len = 1 };
	struct mmsghdr mm[2] = {};
	int fd = client_socket(p, SOCK_DGRAM), n, rc;

	for (int i = 0; i < 2; i++) {
		mm[i].msg_hdr.msg_name = &p->dst.ss;
		mm[i].msg_hdr.msg_namelen = p->dst.len;
		mm[i].msg_hdr.msg_iov = &iov;
		mm[i].msg_hdr.msg_iovlen = 1;
	}
	sync_point(p);
	n = sendmmsg(fd, mm, 2, 0);
	rc = n < 0 ? errno : n < 2 ? EPERM : 0; /* a short count: the kernel stopped at a denied one */
	close(fd);
	return received(p, rc);
}

/* tcp: connect to ADDR:PORT, then (the measured step) sendto() naming
 * ADDR:PORT+1, which TCP ignores: the data goes to the connected peer. */
static int op_send_named(struct probe *p)
{
	struct addr other = p->dst;
	int fd = client_socket(p, SOCK_STREAM), rc;

	/* sin_port and sin6_port share their offset */
	struct sockaddr_in *o = (struct sockaddr_in *)&other.ss;

	o->sin_port = htons(ntohs(o->sin_port) + 1);
	if (connect(fd, (const struct sockaddr *)&p->dst.ss, p->dst.len))
		setup_fail("connect", errno);
	sync_point(p);
	rc = ret_errno(sendto(fd, "x", 1, 0, (const struct sockaddr *)&other.ss, other.len));
	close_rst(fd);
	drain(p);
	return rc;
}

/* TCP Fast Open: the connect happens inside sendto(). */
static int op_fastopen(struct probe *p)
{
	int fd = client_socket(p, SOCK_STREAM), rc;

	sync_point(p);
	rc = ret_errno(sendto(fd, "x", 1, MSG_FASTOPEN, (const struct sockaddr *)&p->dst.ss, p->dst.len));
	close_rst(fd);
	if (!rc)
		drain(p);
	return rc;
}

/* ---- io_uring, by raw syscalls (no liburing in the VM's initramfs) ---- */

struct uring {
	int fd;
	unsigned *sq_tail, *sq_mask, *sq_array, *cq_head, *cq_tail, *cq_mask;
	struct io_uring_sqe *sqes;
	struct io_uring_cqe *cqes;
};

static void *ring_map(int fd, size_t len, off_t off)
{
	void *m = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, off);

	if (m == MAP_FAILED)
		setup_fail("io_uring mmap", errno);
	return m;
}

static void uring_setup(struct uring *r)
{
	struct io_uring_params prm = {};
	char *sq, *cq;

	r->fd = (int)syscall(__NR_io_uring_setup, 4, &prm);
	if (r->fd < 0)
		setup_fail("io_uring_setup", errno);
	sq = ring_map(r->fd, prm.sq_off.array + prm.sq_entries * sizeof(unsigned), IORING_OFF_SQ_RING);
	cq = ring_map(r->fd, prm.cq_off.cqes + prm.cq_entries * sizeof(struct io_uring_cqe),
		      IORING_OFF_CQ_RING);
	r->sqes = ring_map(r->fd, prm.sq_entries * sizeof(struct io_uring_sqe), IORING_OFF_SQES);
	r->sq_tail = (unsigned *)(sq + prm.sq_off.tail);
	r->sq_mask = (unsigned *)(sq + prm.sq_off.ring_mask);
	r->sq_array = (unsigned *)(sq + prm.sq_off.array);
	r->cq_head = (unsigned *)(cq + prm.cq_off.head);
	r->cq_tail = (unsigned *)(cq + prm.cq_off.tail);
	r->cq_mask = (unsigned *)(cq + prm.cq_off.ring_mask);
	r->cqes = (struct io_uring_cqe *)(cq + prm.cq_off.cqes);
}

/* Submit one SQE and wait for its completion: its result as an errno. */
static int uring_run(struct uring *r, const struct io_uring_sqe *sqe)
{
	unsigned tail = *r->sq_tail, head;
	int res;

	r->sqes[0] = *sqe;
	r->sq_array[tail & *r->sq_mask] = 0;
	__atomic_store_n(r->sq_tail, tail + 1, __ATOMIC_RELEASE);
	if (syscall(__NR_io_uring_enter, r->fd, 1, 1, IORING_ENTER_GETEVENTS, NULL, 0) < 0)
		setup_fail("io_uring_enter", errno);
	head = *r->cq_head;
	if (head == __atomic_load_n(r->cq_tail, __ATOMIC_ACQUIRE))
		setup_fail("io_uring: no completion", EIO);
	res = r->cqes[head & *r->cq_mask].res;
	__atomic_store_n(r->cq_head, head + 1, __ATOMIC_RELEASE);
	return res < 0 ? -res : 0;
}

static int op_uring(struct probe *p, int opcode)
{
	struct iovec iov = { .iov_base = "x", .iov_len = 1 };
	struct msghdr msg = { .msg_name = &p->dst.ss, .msg_namelen = p->dst.len,
			      .msg_iov = &iov, .msg_iovlen = 1 };
	struct io_uring_sqe sqe = { .opcode = (uint8_t)opcode };
	struct uring r;
	int fd = client_socket(p, p->type), rc;

	uring_setup(&r);
	sqe.fd = fd;
	if (opcode == IORING_OP_CONNECT) {
		sqe.addr = (uint64_t)(uintptr_t)&p->dst.ss;
		sqe.off = p->dst.len;
	} else {
		sqe.addr = (uint64_t)(uintptr_t)&msg;
		sqe.len = 1;
	}
	sync_point(p);
	rc = uring_run(&r, &sqe);
	close_rst(fd);
	close(r.fd);
	if (!rc && p->type == SOCK_STREAM)
		drain(p);
	return opcode == IORING_OP_SENDMSG ? received(p, rc) : rc;
}

static int op_uring_connect(struct probe *p) { return op_uring(p, IORING_OP_CONNECT); }
static int op_uring_sendmsg(struct probe *p) { return op_uring(p, IORING_OP_SENDMSG); }

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

/* ---- ping and raw sockets: an ICMP(v6) echo request ---- */

/* The socket, or -errno: its creation is what sock_create checks, so a
 * refusal is the result, not a setup failure. */
static int icmp_socket(const struct probe *p)
{
	int proto = p->raw_tcp ? IPPROTO_TCP : p->dst.family == AF_INET6 ? IPPROTO_ICMPV6 : IPPROTO_ICMP;
	int fd = socket(p->dst.family, p->type, proto);

	return fd < 0 ? -errno : fd;
}

static int icmp_send(const struct probe *p, int fd, int named)
{
	/* type, code, checksum (the kernel's for ping and ICMPv6), id, seq */
	unsigned char echo[8] = { p->dst.family == AF_INET6 ? 128 : 8, 0, 0, 0, 0, 1, 0, 1 };

	if (p->dst.family == AF_INET && p->type == SOCK_RAW) {
		unsigned sum = 0;

		for (int i = 0; i < 8; i += 2)
			sum += (unsigned)echo[i] << 8 | echo[i + 1];
		sum = (sum & 0xffff) + (sum >> 16);
		echo[2] = (unsigned char)(~sum >> 8);
		echo[3] = (unsigned char)~sum;
	}
	return ret_errno(named ? sendto(fd, echo, sizeof(echo), 0, (const struct sockaddr *)&p->dst.ss, p->dst.len)
			       : send(fd, echo, sizeof(echo), 0));
}

enum icmp_step { ICMP_CONNECT, ICMP_SENDTO, ICMP_BIND, ICMP_SEND_NAMED };

/* One ping or raw operation: connect then send, sendto, or bind. */
static int icmp_op(struct probe *p, enum icmp_step step)
{
	const struct sockaddr *dst = (const struct sockaddr *)&p->dst.ss;
	int fd = icmp_socket(p), rc;

	if (fd < 0)
		return -fd;
	sync_point(p);
	if (step == ICMP_SEND_NAMED && connect(fd, (const struct sockaddr *)&p->src.ss, p->src.len))
		setup_fail("connect to SRCADDR", errno);
	if (step == ICMP_SENDTO || step == ICMP_SEND_NAMED)
		rc = icmp_send(p, fd, 1);
	else if (step == ICMP_BIND)
		rc = ret_errno(bind(fd, dst, p->dst.len));
	else if (!(rc = ret_errno(connect(fd, dst, p->dst.len))))
		rc = icmp_send(p, fd, 0);
	close(fd);
	return rc;
}

static int op_icmp_connect(struct probe *p) { return icmp_op(p, ICMP_CONNECT); }
static int op_icmp_sendto(struct probe *p) { return icmp_op(p, ICMP_SENDTO); }
static int op_icmp_bind(struct probe *p) { return icmp_op(p, ICMP_BIND); }
/* A connected raw socket that names another destination: raw sockets send
 * there, so the named one is what a hook must check. */
static int op_icmp_send_named(struct probe *p) { return icmp_op(p, ICMP_SEND_NAMED); }

/* socket(2) alone: what the cgroup layer's sock_create hook sees. */
static int op_socket(struct probe *p)
{
	int v6 = p->dst.family == AF_INET6, fd;
	int proto = p->type == SOCK_STREAM || p->proto == IPPROTO_UDP ? p->proto
		    : v6			      ? IPPROTO_ICMPV6
							      : IPPROTO_ICMP;

	sync_point(p);
	fd = socket(p->dst.family, p->type, proto);
	if (fd < 0)
		return errno;
	close(fd);
	return 0;
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
	{ "fastopen", op_fastopen, 1, 0 },	 { "sendmmsg", op_sendmmsg, 0, 1 },
	{ "uring-connect", op_uring_connect, 1, 1 }, { "uring-sendmsg", op_uring_sendmsg, 0, 1 },
	{ "sendmsg-pktinfo", op_sendmsg_pktinfo, 0, 1 }, { "send-named", op_send_named, 1, 0 },
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
		} else if (!strcmp(argv[i], "--newnet")) {
			p->newnet = 1;
		} else if (i + 1 >= argc) {
			usage("option needs an argument");
		} else if (!strcmp(argv[i], "--cgroup")) {
			p->cgroup = argv[++i];
		} else if (!strcmp(argv[i], "--sync")) {
			p->sync = argv[++i];
		} else if (!strcmp(argv[i], "--serve-at")) {
			p->serve = 1;
			p->serve_at = argv[++i];
		} else if (!strcmp(argv[i], "--user")) {
			p->user = strtol(argv[++i], &end, 10);
			if (*end || p->user < 0)
				usage("--user needs a numeric uid");
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
	else if (!strcmp(argv[i + 1], "mptcp"))
		p->proto = IPPROTO_MPTCP, p->type = SOCK_STREAM;
	else if (!strcmp(argv[i + 1], "icmp"))
		p->proto = IPPROTO_ICMP, p->type = SOCK_DGRAM;
	else if (!strcmp(argv[i + 1], "raw"))
		p->proto = IPPROTO_ICMP, p->type = SOCK_RAW;
	else if (!strcmp(argv[i + 1], "rawtcp"))
		p->proto = IPPROTO_ICMP, p->type = SOCK_RAW, p->raw_tcp = 1;
	else
		usage("PROTO must be tcp, udp, mptcp, icmp, raw or rawtcp");
	if (parse_addr(argv[i + 2], argv[i + 3], &p->dst))
		usage("bad ADDR or PORT");
	if (parse_addr(p->serve_at ? p->serve_at : argv[i + 2], argv[i + 3], &p->srv))
		usage("bad --serve-at ADDR");
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
	struct probe p = { .count = 1, .listener = -1, .user = -1 };
	struct timespec t0, t1;
	const struct op *op;
	int first = 0;
	long failures = 0;

	parse_args(argc, argv, &p);
	op = find_op(p.op);
	if (p.proto == IPPROTO_ICMP) { /* ping and raw: their own ops */
		static const struct op icmp_ops[] = {
			{ "connect", op_icmp_connect, 1, 1 }, { "sendto", op_icmp_sendto, 1, 1 },
			{ "bind", op_icmp_bind, 1, 1 },	      { "socket", op_socket, 1, 1 },
			{ "send-named", op_icmp_send_named, 1, 1 },
		};
		const struct op *found = NULL;

		for (size_t k = 0; k < sizeof(icmp_ops) / sizeof(icmp_ops[0]); k++)
			if (!strcmp(icmp_ops[k].name, p.op))
				found = &icmp_ops[k];
		if (!found || p.serve)
			usage("icmp and raw take connect, sendto, bind, socket or send-named, without --serve");
		if (found->fn == op_icmp_send_named && !p.has_src)
			usage("send-named needs `from SRCADDR`, the address it connects to");
		op = found;
		p.type = p.type == SOCK_RAW ? SOCK_RAW : SOCK_DGRAM;
	} else if (!strcmp(p.op, "socket")) {
		static const struct op socket_op = { "socket", op_socket, 1, 1 };

		op = &socket_op;
	}
	if (!op)
		usage("unknown OP");
	if ((p.type == SOCK_STREAM && !op->tcp) || (p.type == SOCK_DGRAM && !op->udp))
		usage("OP does not take that PROTO");
	if (p.proto == IPPROTO_MPTCP && op->fn != op_connect)
		usage("mptcp is for `connect` only");
	if (op->fn == op_sendmsg_pktinfo && !p.has_src)
		usage("sendmsg-pktinfo needs `from SRCADDR`");
	if (p.serve && (op->fn == op_accept || op->fn == op_recv || op->fn == op_bind ||
			op->fn == op_listen))
		usage("--serve is for connects and sends");

	/* The cgroup first: a --newnet listener must live in the new netns. */
	if (p.cgroup)
		join_cgroup(p.cgroup);
	if (p.user >= 0)
		drop_user(p.user);
	if (p.newnet)
		new_netns();
	if (op->fn == op_accept || op->fn == op_recv) {
		if (!p.has_src)
			default_src(&p);
		p.listener = make_listener(&p);
	} else if (p.serve) {
		p.listener = make_listener(&p);
		if (p.type == SOCK_STREAM)
			fcntl(p.listener, F_SETFL, O_NONBLOCK);
	}

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
