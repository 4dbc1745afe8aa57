// SPDX-License-Identifier: GPL-2.0
/* Errors, keyword matching and number parsing shared by every command. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "nm.h"

struct nm_opts nm_opts = { .pin_dir = NM_DEFAULT_PIN_DIR };

/*
 * One error per command (bpftool's p_err() convention, kept structural):
 * the functions below only record; cmd/main.c prints the record once, after
 * the command returned. The first error wins: it is the one raised nearest
 * to the cause (a map-layout check), and the callers that pass the failure
 * up (`cannot open the rule store`) would only say less.
 */
static struct nm_error {
	int code; /* 0: nothing recorded */
	char what[256];
	char why[512];
} nm_err;

static int nm_vfail(int code, const char *what, const char *fmt, va_list ap)
{
	if (nm_err.code || code == 0)
		return code;
	nm_err.code = code;
	snprintf(nm_err.what, sizeof(nm_err.what), "%s", what);
	vsnprintf(nm_err.why, sizeof(nm_err.why), fmt, ap);
	return code;
}

int nm_error_code(void)
{
	return nm_err.code;
}

void nm_error_clear(void)
{
	memset(&nm_err, 0, sizeof(nm_err));
}

/* The one place an error is printed: `netmonctl: <what>: <why>` on stderr,
 * or one {"error", "exit"} object on stdout under -j. */
void nm_error_print(void)
{
	if (!nm_err.code)
		return;
	if (nm_opts.json) {
		char msg[sizeof(nm_err.what) + sizeof(nm_err.why) + 2];

		snprintf(msg, sizeof(msg), "%s: %s", nm_err.what, nm_err.why);
		nm_json_print(json_pack("{s:s, s:i}", "error", msg, "exit", nm_err.code));
	} else {
		fflush(stdout); /* partial output first, then the reason it stopped */
		fprintf(stderr, "netmonctl: %s: %s\n", nm_err.what, nm_err.why);
	}
}

int nm_fail(int code, const char *what, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = nm_vfail(code, what, fmt, ap);
	va_end(ap);
	return r;
}

int nm_usage(const char *what, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = nm_vfail(NM_EXIT_USAGE, what, fmt, ap);
	va_end(ap);
	return r;
}

int nm_sys(const char *what, int err)
{
	if (err < 0)
		err = -err;
	if (err == EPERM || err == EACCES)
		return nm_fail(NM_EXIT_RUNTIME, what, "%s (%s): netmonctl needs root (CAP_BPF and CAP_NET_ADMIN)",
			       strerror(err), nm_errno_name(err));
	return nm_fail(NM_EXIT_RUNTIME, what, "%s (%s)", strerror(err), nm_errno_name(err));
}

/* Progress and notes for people: stderr so stdout stays clean for scripts. */
void nm_info(const char *fmt, ...)
{
	va_list ap;

	if (nm_opts.json || nm_opts.quiet)
		return;
	va_start(ap, fmt);
	vfprintf(stdout, fmt, ap);
	va_end(ap);
}

const char *nm_errno_name(int err)
{
	static const struct {
		int e;
		const char *n;
	} names[] = {
		{ EPERM, "EPERM" },   { ENOENT, "ENOENT" }, { EACCES, "EACCES" }, { EEXIST, "EEXIST" },
		{ EINVAL, "EINVAL" }, { ENOSPC, "ENOSPC" }, { E2BIG, "E2BIG" },   { ENOMEM, "ENOMEM" },
		{ EBUSY, "EBUSY" },   { ENOTSUP, "ENOTSUP" }, { EBADF, "EBADF" }, { ENOTDIR, "ENOTDIR" },
		{ ESRCH, "ESRCH" },   { EFAULT, "EFAULT" }, { ENOSYS, "ENOSYS" }, { ENOTEMPTY, "ENOTEMPTY" },
		{ EISDIR, "EISDIR" }, { EIO, "EIO" },       { EAGAIN, "EAGAIN" }, { EINTR, "EINTR" },
		{ NM_ENOTSUPP, "ENOTSUPP" },
	};
	size_t i;

	if (err < 0)
		err = -err;
	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].e == err)
			return names[i].n;
	return "errno";
}

bool nm_is_prefix(const char *arg, const char *keyword)
{
	size_t n = strlen(arg);

	return n > 0 && strncmp(arg, keyword, n) == 0;
}

int nm_keyword(const char *arg, const char *const *kw)
{
	int i, found = -1;

	for (i = 0; kw[i]; i++) {
		if (strcmp(arg, kw[i]) == 0)
			return i;
		if (nm_is_prefix(arg, kw[i])) {
			if (found >= 0)
				return -2;
			found = i;
		}
	}
	return found;
}

/* Not strtoull: it skips leading blanks and takes a sign (" 80", "-0", "+8"
 * would all be numbers). */
int nm_parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	unsigned int d;

	if (!*s)
		return -EINVAL;
	for (; *s; s++) {
		d = (unsigned char)*s - '0';
		if (d > 9 || d > max || v > (max - d) / 10) /* v * 10 + d > max */
			return -EINVAL;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/* N or N-M, len bytes of s: digits only, 0-65535. 0; -E2BIG too long to be
 * one; -EINVAL not that form; -ERANGE N above M. */
int nm_parse_port_range(const char *s, size_t len, uint16_t *lo, uint16_t *hi)
{
	char buf[16], *dash;
	uint64_t l, h;

	if (len >= sizeof(buf))
		return -E2BIG;
	memcpy(buf, s, len);
	buf[len] = 0;
	dash = strchr(buf, '-');
	if (dash)
		*dash++ = 0;
	if (nm_parse_u64(buf, 65535, &l) || (dash && nm_parse_u64(dash, 65535, &h)))
		return -EINVAL;
	if (!dash)
		h = l;
	if (l > h)
		return -ERANGE;
	*lo = l;
	*hi = h;
	return 0;
}

/* SEC[.FRACTION]: digits, then optionally '.' and 1-9 digits (no blank, sign,
 * exponent, hex, inf or nan, all of which strtod takes). */
int nm_parse_seconds(const char *s, uint64_t max, uint64_t *ns)
{
	const uint64_t ns_per_sec = 1000000000ull;
	const char *dot = strchr(s, '.');
	size_t n = dot ? (size_t)(dot - s) : strlen(s);
	uint64_t sec, frac = 0;
	char whole[24];
	int digits = 0;

	if (max > UINT64_MAX / ns_per_sec - 1)
		max = UINT64_MAX / ns_per_sec - 1;
	if (n == 0 || n >= sizeof(whole))
		return -EINVAL;
	memcpy(whole, s, n);
	whole[n] = 0;
	if (nm_parse_u64(whole, max, &sec))
		return -EINVAL;
	if (dot) {
		for (s = dot + 1; *s; s++, digits++) {
			if (*s < '0' || *s > '9' || digits == 9)
				return -EINVAL;
			frac = frac * 10 + (uint64_t)(*s - '0');
		}
		if (!digits)
			return -EINVAL;
		for (; digits < 9; digits++)
			frac *= 10;
	}
	if (sec == max && frac)
		return -EINVAL;
	*ns = sec * ns_per_sec + frac;
	return 0;
}

int nm_parse_size(const char *s, uint64_t *out)
{
	char num[32];
	size_t n = strlen(s);
	uint64_t mul = 1, v;

	if (n == 0 || n >= sizeof(num))
		return -EINVAL;
	memcpy(num, s, n + 1);
	switch (num[n - 1]) {
	case 'k': case 'K': mul = 1ull << 10; break;
	case 'm': case 'M': mul = 1ull << 20; break;
	case 'g': case 'G': mul = 1ull << 30; break;
	default: break;
	}
	if (mul != 1)
		num[n - 1] = 0;
	if (nm_parse_u64(num, UINT32_MAX, &v))
		return -EINVAL;
	*out = v * mul;
	return 0;
}

/* Edit distance (insert, delete, replace, swap two neighbours), capped at 3. */
static int nm_distance(const char *a, const char *b)
{
	int la = (int)strlen(a), lb = (int)strlen(b), d[24][24], i, j;

	if (la > 22 || lb > 22)
		return 3;
	for (i = 0; i <= la; i++)
		d[i][0] = i;
	for (j = 0; j <= lb; j++)
		d[0][j] = j;
	for (i = 1; i <= la; i++)
		for (j = 1; j <= lb; j++) {
			int c = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);

			if (d[i - 1][j] + 1 < c)
				c = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < c)
				c = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] && d[i - 2][j - 2] + 1 < c)
				c = d[i - 2][j - 2] + 1;
			d[i][j] = c;
		}
	return d[la][lb] < 3 ? d[la][lb] : 3;
}

/* The closest command to a mistyped word, if one is close (1-2 edits). */
static const char *nm_nearest(const char *arg, const struct nm_cmd *cmds)
{
	const char *best = NULL;
	int i, d, bd = 3;

	for (i = 0; cmds[i].name; i++) {
		d = nm_distance(arg, cmds[i].name);
		if (d < bd && d < (int)strlen(cmds[i].name)) {
			bd = d;
			best = cmds[i].name;
		}
	}
	return best;
}

/* The commands a prefix matches, for the "ambiguous" message. */
static void nm_matches(const char *arg, const struct nm_cmd *cmds, char *buf, size_t len)
{
	size_t off = 0;
	int i;

	buf[0] = 0;
	for (i = 0; cmds[i].name && off < len; i++)
		if (nm_is_prefix(arg, cmds[i].name))
			off += snprintf(buf + off, len - off, "%s%s", off ? ", " : "", cmds[i].name);
}

/*
 * Run the command argv[0] names in cmds: its full name or a unique prefix
 * (but a `whole` one only in full). what: "netmonctl" at the top, else the
 * command above ("deny"); messages name the word as typed, below it.
 */
int nm_dispatch(const char *what, const struct nm_cmd *cmds, int argc, char **argv,
		int (*help)(int argc, char **argv))
{
	bool top = !strcmp(what, "netmonctl");
	char name[160], helpcmd[64], list[200];
	const char *kw[32], *near;
	int i, n = 0;

	if (argc < 1)
		return help(argc, argv);
	if (!strcmp(argv[0], "-h") || !strcmp(argv[0], "--help"))
		return help(0, argv);
	for (i = 0; cmds[i].name && n < 31; i++)
		kw[n++] = cmds[i].name;
	kw[n] = NULL;
	i = nm_keyword(argv[0], kw);
	snprintf(name, sizeof(name), "%s%s%.100s", top ? "" : what, top ? "" : " ", argv[0]);
	snprintf(helpcmd, sizeof(helpcmd), top ? "netmonctl help" : "netmonctl %s help", what);
	if (i == -2) {
		nm_matches(argv[0], cmds, list, sizeof(list));
		return nm_usage(name, "ambiguous: %s", list);
	}
	if (i < 0) {
		near = nm_nearest(argv[0], cmds);
		if (near)
			return nm_usage(name, "unknown command; did you mean '%s'? (see '%s')", near, helpcmd);
		return nm_usage(name, "unknown command; see '%s'", helpcmd);
	}
	if (cmds[i].whole && strcmp(argv[0], cmds[i].name))
		return nm_usage(name, "'%s' is spelled out in full: it can remove everything", cmds[i].name);
	return cmds[i].fn(argc - 1, argv + 1);
}

/*
 * A bulk edit of a million rules fills a few hundred MiB of fresh arrays.
 * With 4 KiB pages that is ~40,000 page faults, measured at 0.5-0.6 s of a
 * 2.6 s load on a PVM guest; transparent huge pages cut it to a few hundred.
 * THP is usually in "madvise" mode (Debian's default), so ask for it before
 * the first touch. main() pins malloc's mmap threshold, so every block this
 * large is its own mapping that calloc has not touched yet.
 */
void nm_advise_huge(void *p, size_t bytes)
{
	uintptr_t page = (uintptr_t)sysconf(_SC_PAGESIZE);
	uintptr_t start = ((uintptr_t)p + page - 1) & ~(page - 1);
	uintptr_t end = ((uintptr_t)p + bytes) & ~(page - 1);

	if (bytes >= NM_HUGE_MIN && end > start)
		madvise((void *)start, end - start, MADV_HUGEPAGE); /* a hint: errors change nothing */
}

void *nm_calloc_big(size_t n, size_t size)
{
	void *p = calloc(n ? n : 1, size);

	if (p)
		nm_advise_huge(p, n * size);
	return p;
}

int nm_array_grow(void *pv, size_t *cap, size_t want, size_t size)
{
	void **v = pv, *grown;
	size_t n = *cap ? *cap : 16;

	if (want <= *cap)
		return 0;
	while (n < want)
		n *= 2;
	grown = realloc(*v, n * size);
	if (!grown)
		return -ENOMEM;
	*v = grown;
	*cap = n;
	return 0;
}
