// SPDX-License-Identifier: GPL-2.0
/*
 * Rules: text <-> struct nm_rule (src/rule.c), rules files (src/rulefile.c),
 * keywords and numbers (src/util.c), and the bucket arithmetic of the
 * layout header (bpf/netmonctl.h) that the kernel side runs.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/mman.h>
#include "nm.h"
#include "store_internal.h"
#include "unit.h"

/* ---- helpers ---- */

/* Split s (modified) at single spaces into argv; "" gives no words. */
static int words(char *s, char **argv, int max)
{
	int n = 0;
	char *save = NULL, *t;

	for (t = strtok_r(s, " ", &save); t && n < max; t = strtok_r(NULL, " ", &save))
		argv[n++] = t;
	return n;
}

/* The rules text stands for (at most max): how many, or -EINVAL. */
static int parse_all(const char *text, struct nm_rule *out, int max, char *err, size_t errlen)
{
	char buf[1024], *argv[32];

	snprintf(buf, sizeof(buf), "%s", text);
	return nm_rule_parse(words(buf, argv, 32), argv, out, max, err, errlen);
}

/* Text that stands for exactly one rule: 0, else what parse_all said. */
static int parse(const char *text, struct nm_rule *r, char *err, size_t errlen)
{
	struct nm_rule v[NM_RULE_SPLIT_MAX];
	int n = parse_all(text, v, NM_RULE_SPLIT_MAX, err, errlen);

	if (n == 1)
		*r = v[0];
	return n == 1 ? 0 : n;
}

static void format(const struct nm_rule *r, char *buf, size_t len)
{
	nm_rule_format(r, buf, len);
}

/* ---- parse / format ---- */

static const struct {
	const char *in, *canon;
} round_trips[] = {
	{ "10.0.0.0/8 port 22 proto tcp", "10.0.0.0/8 port 22 proto tcp" },
	{ "10.1.0.0/16 port 80", "10.1.0.0/16 port 80" },
	{ "192.0.2.7 port 1000-2000 proto udp dir bind", "192.0.2.7 port 1000-2000 proto udp dir bind" },
	{ "192.0.2.7/32", "192.0.2.7" },
	{ "0.0.0.0/0", "0.0.0.0/0" },
	{ "0.0.0.0/0 port 6000-6999 dir bind", "0.0.0.0/0 port 6000-6999 dir bind" },
	{ "255.255.255.255", "255.255.255.255" },
	{ "2001:db8::/32 dir ingress", "2001:db8::/32 dir ingress" },
	{ "2001:DB8:0:0::1", "2001:db8::1" },
	{ "2001:db8::1/128 proto udp", "2001:db8::1 proto udp" },
	{ "::/0", "::/0" },
	{ "::1", "::1" },
	{ "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff" },
	{ "any", "any" },
	{ "any port 25", "any port 25" },
	{ "any proto udp dir ingress", "any proto udp dir ingress" },
	{ "::ffff:198.51.100.0/120", "198.51.100.0/24" }, /* v4-mapped: stored as IPv4 */
	{ "::ffff:1.2.3.4", "1.2.3.4" },
	{ "::ffff:0.0.0.0/96", "0.0.0.0/0" },
	{ "::ffff:c633:6401 dir bind", "198.51.100.1 dir bind" },
	{ "10.0.0.1 port 0", "10.0.0.1 port 0" },
	{ "10.0.0.1 port 65535", "10.0.0.1 port 65535" },
	{ "10.0.0.1 port 0-65535", "10.0.0.1" },
	{ "10.0.0.1 port 80-80", "10.0.0.1 port 80" },
	{ "10.0.0.1 port 0-80", "10.0.0.1 port 0-80" },
	{ "10.0.0.1 port 00080", "10.0.0.1 port 80" },
	{ "10.0.0.0/08", "10.0.0.0/8" },
	{ "10.0.0.1 proto any dir egress", "10.0.0.1" },
	{ "10.0.0.1 dir ingress proto tcp port 5", "10.0.0.1 port 5 proto tcp dir ingress" },
	{ "10.0.0.1 po 80 pr t d i", "10.0.0.1 port 80 proto tcp dir ingress" }, /* abbreviations */
	{ "10.0.0.1 por 80 proto u di b", "10.0.0.1 port 80 proto udp dir bind" },
	/* protocol classes (layout 6): icmp and icmpv6 are one class, by family */
	{ "10.0.0.1 proto icmp", "10.0.0.1 proto icmp" },
	{ "10.0.0.1 proto icmpv6", "10.0.0.1 proto icmp" },
	{ "2001:db8::1 proto icmp", "2001:db8::1 proto icmpv6" },
	{ "any proto icmpv6", "any proto icmp" },
	{ "10.0.0.1 proto 1", "10.0.0.1 proto icmp" },
	{ "10.0.0.1 proto 58", "10.0.0.1 proto icmp" },
	{ "10.0.0.1 proto 6 port 22", "10.0.0.1 port 22 proto tcp" },
	{ "10.0.0.1 proto 17", "10.0.0.1 proto udp" },
	{ "10.0.0.0/8 proto 132", "10.0.0.0/8 proto sctp" },
	{ "any proto raw", "any proto raw" },
	{ "::/0 proto r dir bind", "::/0 proto raw dir bind" },
	{ "10.0.0.1 proto sc", "10.0.0.1 proto sctp" },
};

static void test_round_trip_table(void)
{
	char err[300], text[160], again[160];
	struct nm_rule r, r2;
	size_t i;

	for (i = 0; i < sizeof(round_trips) / sizeof(round_trips[0]); i++) {
		int rc = parse(round_trips[i].in, &r, err, sizeof(err));

		CHECK_MSG(rc == 0, "parse(%s): %s", round_trips[i].in, err);
		if (rc)
			continue;
		format(&r, text, sizeof(text));
		CHECK_STR(text, round_trips[i].canon);
		/* parse(format(r)) == r, and the canonical text is a fixed point */
		CHECK_MSG(parse(text, &r2, err, sizeof(err)) == 0, "reparse(%s): %s", text, err);
		CHECK_MSG(!memcmp(&r, &r2, sizeof(r)), "parse(format(%s)) differs", round_trips[i].in);
		format(&r2, again, sizeof(again));
		CHECK_STR(again, text);
	}
}

static void test_fields(void)
{
	char err[300];
	struct nm_rule r;

	CHECK_INT(parse("192.0.2.0/24 port 10-20 proto udp dir bind", &r, err, sizeof(err)), 0);
	CHECK_INT(r.family, NM_FAM_V4);
	CHECK_INT(r.plen, 24);
	CHECK_INT(r.addr[0], 192);
	CHECK_INT(r.addr[2], 2);
	CHECK_INT(r.addr[3], 0);
	CHECK_INT(r.port.lo, 10);
	CHECK_INT(r.port.hi, 20);
	CHECK_INT(r.port.protos, NM_PROTO_UDP);
	CHECK_INT(r.dir, NM_DIR_BIND);

	CHECK_INT(parse("2001:db8::/32", &r, err, sizeof(err)), 0);
	CHECK_INT(r.family, NM_FAM_V6);
	CHECK_INT(r.plen, 32);
	CHECK_INT(r.port.lo, 0);
	CHECK_INT(r.port.hi, 65535);
	CHECK_INT(r.port.protos, NM_PROTO_ANY);
	CHECK_INT(r.dir, NM_DIR_EGRESS);

	CHECK_INT(parse("::ffff:10.0.0.0/104", &r, err, sizeof(err)), 0);
	CHECK_INT(r.family, NM_FAM_V4);
	CHECK_INT(r.plen, 8);
	CHECK_INT(r.addr[0], 10);
	CHECK(!memcmp(r.addr + 4, (uint8_t[12]){ 0 }, 12));

	CHECK_INT(parse("any proto tcp", &r, err, sizeof(err)), 0);
	CHECK_INT(r.family, NM_FAM_ANY);
	CHECK_INT(r.plen, 0);
	CHECK_INT(r.port.protos, NM_PROTO_TCP);
}

/* Random valid rules: format then parse gives the same rule back. */
static void test_round_trip_random(void)
{
	char err[300], text[160];
	struct nm_rule r, r2;
	unsigned int seed = 12345;
	int i, b, fails = 0;

	for (i = 0; i < 20000; i++) {
		int fam = rand_r(&seed) % 3, bytes;

		memset(&r, 0, sizeof(r));
		r.family = fam == 0 ? NM_FAM_ANY : fam == 1 ? NM_FAM_V4 : NM_FAM_V6;
		bytes = r.family == NM_FAM_V4 ? 4 : r.family == NM_FAM_V6 ? 16 : 0;
		r.plen = bytes ? rand_r(&seed) % (bytes * 8 + 1) : 0;
		for (b = 0; b < bytes; b++) {
			int keep = r.plen - b * 8;

			r.addr[b] = rand_r(&seed) & (keep >= 8 ? 0xff : keep <= 0 ? 0 : 0xff << (8 - keep));
		}
		/* IPv6 rules inside ::ffff:0:0/96 come back as IPv4: not here. */
		if (r.family == NM_FAM_V6 && r.plen >= 96)
			r.addr[10] = 0x12;
		r.port.lo = rand_r(&seed) % 65536;
		r.port.hi = rand_r(&seed) % 2 ? r.port.lo : r.port.lo + rand_r(&seed) % (65536 - r.port.lo);
		r.port.protos = 1 + rand_r(&seed) % 3;
		r.dir = rand_r(&seed) % NM_DIR_MAX;
		format(&r, text, sizeof(text));
		if (parse(text, &r2, err, sizeof(err)) || memcmp(&r, &r2, sizeof(r))) {
			if (fails++ < 5)
				CHECK_MSG(0, "random rule %d: \"%s\" does not parse back (%s)", i, text, err);
		}
	}
	CHECK_INT(fails, 0);
}

static const char *const rejects[] = {
	"", "10.0.0.256", "10.0.0", "1.2.3.4.5", "2001:db8:::1", "host.example", "10.0.0.0/33",
	"10.0.0.0/-1", "10.0.0.0/", "10.0.0.0/8x", "10.0.0.0/+8", "10.0.0.0/-0", "2001:db8::/129",
	"10.1.2.3/8", "2001:db8::1/32", "10.0.0.0/18446744073709551624", "fe80::1%lo",
	"10.0.0.1 port 65536", "10.0.0.1 port -1", "10.0.0.1 port +80", "10.0.0.1 port 80-",
	"10.0.0.1 port -80", "10.0.0.1 port 90-80", "10.0.0.1 port nosuchservice", "10.0.0.1 port",
	"10.0.0.1 port 0x50", "10.0.0.1 port 80-+90", "10.0.0.1 port 1 port 2",
	"10.0.0.1 port 18446744073709551696", "10.0.0.1 port 80-90-100",
	"10.0.0.1 port 0000000000000000080", "10.0.0.1 proto gre", "10.0.0.1 proto",
	"10.0.0.1 dir sideways", "10.0.0.1 dir", "10.0.0.1 colour red", "10.0.0.1 p 80",
	"10.0.0.1 proto tcp proto udp", "10.0.0.1 dir bind dir bind", "10.0.0.1 80",
	"any/0", "10.0.0.1 port 80 extra", "port 80",
};

static void test_rejects(void)
{
	char err[300];
	struct nm_rule r;
	size_t i;

	for (i = 0; i < sizeof(rejects) / sizeof(rejects[0]); i++) {
		err[0] = 0;
		CHECK_MSG(parse(rejects[i], &r, err, sizeof(err)) == -EINVAL, "accepted: \"%s\"", rejects[i]);
		CHECK_MSG(err[0] && !strchr(err, '\n'), "no one-line message for \"%s\"", rejects[i]);
	}
}

/* Words with blanks inside come from the command line (quoted), not from files. */
static void test_rejects_blanks(void)
{
	static const char *const bad[][3] = {
		{ "10.0.0.0/ 8", NULL }, { "10.0.0.0/8 ", NULL }, { " 10.0.0.1", NULL },
		{ "10.0.0.1", "port", " 80" }, { "10.0.0.1", "port", "80 " },
		{ "10.0.0.1", "port", "80- 90" }, { "10.0.0.1", "port", "\t80" },
		{ "10.0.0.1", "port", "" }, { "10.0.0.1", "proto", "" }, { "10.0.0.1", "", "80" },
		{ "10.0.0.1", "proto", "icm" },	   /* icmp or icmpv6: ambiguous */
		{ "10.0.0.1", "proto", "mptcp" },  /* checked as TCP: not a class */
		{ "10.0.0.1", "proto", "udplite" }, { "10.0.0.1", "proto", "47" },
		{ "10.0.0.1", "proto", "256" },	   { "10.0.0.1", "proto", "-1" },
	};
	char err[300];
	struct nm_rule r;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char *argv[3] = { (char *)bad[i][0], (char *)bad[i][1], (char *)bad[i][2] };
		int argc = bad[i][1] ? 3 : 1;

		CHECK_MSG(nm_rule_parse(argc, argv, &r, 1, err, sizeof(err)) == -EINVAL,
			  "accepted: \"%s\" \"%s\" \"%s\"", argv[0], argv[1] ?: "", argv[2] ?: "");
	}
}

static void test_parse_line(void)
{
	char line[256], err[300];
	struct nm_rule r, r2;

	struct nm_rule v[4];

	snprintf(line, sizeof(line), "  # only a comment");
	CHECK_INT(nm_rule_parse_line(line, &r, 1, err, sizeof(err)), 0);
	snprintf(line, sizeof(line), " \t ");
	CHECK_INT(nm_rule_parse_line(line, &r, 1, err, sizeof(err)), 0);
	snprintf(line, sizeof(line), "\t10.0.0.0/8\tport 22  # ssh");
	CHECK_INT(nm_rule_parse_line(line, &r, 1, err, sizeof(err)), 1);
	CHECK_INT(parse("10.0.0.0/8 port 22", &r2, err, sizeof(err)), 0);
	CHECK(!memcmp(&r, &r2, sizeof(r)));
	snprintf(line, sizeof(line), "10.0.0.1#no blank before the comment");
	CHECK_INT(nm_rule_parse_line(line, &r, 1, err, sizeof(err)), 1);
	snprintf(line, sizeof(line), "a b c d e f g h i j k l m n o p q");
	CHECK_INT(nm_rule_parse_line(line, &r, 1, err, sizeof(err)), -EINVAL);
	/* A CR is no blank: src/rulefile.c strips the one of a CRLF. */
	snprintf(line, sizeof(line), "10.0.0.1\r");
	CHECK_INT(nm_rule_parse_line(line, &r, 1, err, sizeof(err)), -EINVAL);
	/* A port list: one rule per element. */
	snprintf(line, sizeof(line), "10.0.0.1 port 22,80,ssh proto tcp # three, ssh folds");
	CHECK_INT(nm_rule_parse_line(line, v, 4, err, sizeof(err)), 2);
	CHECK_INT(v[0].port.lo, 22);
	CHECK_INT(v[1].port.lo, 80);
	snprintf(line, sizeof(line), "10.0.0.1 port 1,2,3");
	CHECK_INT(nm_rule_parse_line(line, v, 2, err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "port 1,2,3: stands for 3 rules, more than 2");
}

/* `comment TEXT`: quoted in a line, one word on a command line, printed
 * back quoted, not part of the rule's identity. */
static void test_comments(void)
{
	char line[256], err[300], text[NM_RULE_TEXT_MAX], *w[8];
	struct nm_rule r, v[4];

	snprintf(line, sizeof(line), "10.0.0.1 port 22 comment \"jump host #2\" dir bind # why");
	CHECK_INT(nm_rule_parse_line(line, &r, 1, err, sizeof(err)), 1);
	CHECK_STR(nm_note_text(r.note), "jump host #2");
	CHECK_INT(r.dir, NM_DIR_BIND);
	nm_rule_format(&r, text, sizeof(text));
	CHECK_STR(text, "10.0.0.1 port 22 dir bind comment \"jump host #2\"");
	/* the printed form reads back as the same rule and comment */
	snprintf(line, sizeof(line), "%s", text);
	CHECK_INT(nm_rule_parse_line(line, v, 1, err, sizeof(err)), 1);
	CHECK(!strcmp(nm_note_text(v[0].note), "jump host #2"));
	/* every rule of a port list carries it */
	snprintf(line, sizeof(line), "10.0.0.1 port 22,80 comment web");
	CHECK_INT(nm_rule_parse_line(line, v, 4, err, sizeof(err)), 2);
	CHECK_STR(nm_note_text(v[0].note), "web");
	CHECK_STR(nm_note_text(v[1].note), "web");
	CHECK_INT(parse_all("10.0.0.1 comment", v, 1, err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "comment needs a value");
	CHECK_INT(parse_all("10.0.0.1 comment a comment b", v, 1, err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "comment given twice");
	static const char *const bad[] = { "a\"b", "a\\b", "tab\there", "caf\xc3\xa9", "" };
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_MSG(nm_note_check(bad[i], err, sizeof(err)) == -EINVAL && !strchr(err, '\n'), "%s", bad[i]);
	memset(text, 'x', NM_NOTE_MAX - 1);
	text[NM_NOTE_MAX - 1] = 0;
	CHECK_INT(nm_note_check(text, err, sizeof(err)), 0);
	text[NM_NOTE_MAX - 1] = 'x';
	text[NM_NOTE_MAX] = 0;
	CHECK_INT(nm_note_check(text, err, sizeof(err)), -EINVAL);
	/* line words: quotes hold blanks and #, an unquoted # ends the line */
	snprintf(line, sizeof(line), "a \"b c#d\" e#f g");
	CHECK_INT(nm_line_words(line, w, 8, err, sizeof(err)), 3);
	CHECK_STR(w[1], "b c#d");
	CHECK_STR(w[2], "e");
	snprintf(line, sizeof(line), "a \"b c");
	CHECK_INT(nm_line_words(line, w, 8, err, sizeof(err)), -EINVAL);
	CHECK_STR(err, "unterminated quote");
	snprintf(line, sizeof(line), "a \"b\"c");
	CHECK_INT(nm_line_words(line, w, 8, err, sizeof(err)), -EINVAL);
	snprintf(line, sizeof(line), "\"\" x");
	CHECK_INT(nm_line_words(line, w, 8, err, sizeof(err)), 2);
	CHECK_STR(w[0], "");
}

/* ---- port lists and service names ---- */

/* RULE text -> the canonical rules it stands for, one per line. */
static const struct {
	const char *in, *canon;
} port_lists[] = {
	{ "10.1.2.3 port 81,83-84,ssh proto tcp",
	  "10.1.2.3 port 81 proto tcp\n10.1.2.3 port 83-84 proto tcp\n10.1.2.3 port 22 proto tcp" },
	{ "10.0.0.0/8 port 22,80,443,8000-8999",
	  "10.0.0.0/8 port 22\n10.0.0.0/8 port 80\n10.0.0.0/8 port 443\n10.0.0.0/8 port 8000-8999" },
	/* a name applies to the protocols it has an entry for */
	{ "10.0.0.1 port ssh", "10.0.0.1 port 22 proto tcp" },
	{ "10.0.0.1 port ntp", "10.0.0.1 port 123 proto udp" },
	{ "10.0.0.1 port domain", "10.0.0.1 port 53" },
	{ "10.0.0.1 port domain proto any", "10.0.0.1 port 53" },
	{ "10.0.0.1 port domain proto udp", "10.0.0.1 port 53 proto udp" },
	{ "10.0.0.1 port https proto tcp dir bind", "10.0.0.1 port 443 proto tcp dir bind" },
	{ "any port ssh,domain,ntp dir ingress",
	  "any port 22 proto tcp dir ingress\nany port 53 dir ingress\nany port 123 proto udp dir ingress" },
	{ "10.0.0.1 port www", "10.0.0.1 port 80 proto tcp" }, /* an alias */
	{ "10.0.0.1 port kerberos-adm,x11-1", /* names may hold dashes */
	  "10.0.0.1 port 749 proto tcp\n10.0.0.1 port 6001 proto tcp" },
	/* duplicates fold; different rules do not, even when one covers the other */
	{ "10.0.0.1 port 80,80,0080,80-80", "10.0.0.1 port 80" },
	{ "10.0.0.1 port 22,ssh proto tcp", "10.0.0.1 port 22 proto tcp" },
	{ "10.0.0.1 port 22,ssh", "10.0.0.1 port 22\n10.0.0.1 port 22 proto tcp" },
	{ "10.0.0.1 port 80-90,85", "10.0.0.1 port 80-90\n10.0.0.1 port 85" },
	{ "10.0.0.1 port 0-65535,1", "10.0.0.1\n10.0.0.1 port 1" },
	{ "::ffff:10.0.0.0/104 port 1,2", "10.0.0.0/8 port 1\n10.0.0.0/8 port 2" },
};

static void test_port_lists(void)
{
	struct nm_rule v[NM_RULE_SPLIT_MAX], one;
	char err[300], text[160], all[2048];
	size_t i;
	int n, j, len;

	for (i = 0; i < sizeof(port_lists) / sizeof(port_lists[0]); i++) {
		n = parse_all(port_lists[i].in, v, NM_RULE_SPLIT_MAX, err, sizeof(err));
		CHECK_MSG(n > 0, "parse(%s): %s", port_lists[i].in, err);
		for (j = 0, len = 0, all[0] = 0; j < n; j++) {
			format(&v[j], text, sizeof(text));
			len += snprintf(all + len, sizeof(all) - len, "%s%s", j ? "\n" : "", text);
			/* each listed rule reads back as itself, alone */
			CHECK_MSG(parse(text, &one, err, sizeof(err)) == 0, "reparse(%s): %s", text, err);
			CHECK_MSG(!memcmp(&one, &v[j], sizeof(one)), "parse(%s) differs", text);
		}
		CHECK_STR(all, port_lists[i].canon);
	}
}

static void test_port_list_cap(void)
{
	struct nm_rule v[NM_RULE_SPLIT_MAX];
	char text[1024], err[300];
	int i, len = snprintf(text, sizeof(text), "10.0.0.1 port ");

	for (i = 1; i <= NM_PORT_LIST_MAX; i++)
		len += snprintf(text + len, sizeof(text) - len, "%s%d", i > 1 ? "," : "", i);
	CHECK_INT(parse_all(text, v, NM_RULE_SPLIT_MAX, err, sizeof(err)), NM_PORT_LIST_MAX);
	CHECK_INT(v[NM_PORT_LIST_MAX - 1].port.lo, NM_PORT_LIST_MAX);
	/* the same element 64 times folds to one rule */
	len = snprintf(text, sizeof(text), "10.0.0.1 port ssh");
	for (i = 1; i < NM_PORT_LIST_MAX; i++)
		len += snprintf(text + len, sizeof(text) - len, ",ssh");
	CHECK_INT(parse_all(text, v, NM_RULE_SPLIT_MAX, err, sizeof(err)), 1);
	/* one more element is an error, whatever the elements */
	snprintf(text + len, sizeof(text) - len, ",22");
	CHECK_INT(parse_all(text, v, NM_RULE_SPLIT_MAX, err, sizeof(err)), -EINVAL);
	CHECK_MSG(strstr(err, ": a list holds at most 64 ports, ranges or names"), "%s", err);
	CHECK_MSG(strlen(err) < 160, "message not shortened: %s", err);
}

static const struct {
	const char *in, *msg;
} port_rejects[] = {
	{ "10.0.0.1 port 80,,81", "port 80,,81: empty list element" },
	{ "10.0.0.1 port ,80", "port ,80: empty list element" },
	{ "10.0.0.1 port 80,", "port 80,: empty list element" },
	{ "10.0.0.1 port ,", "port ,: empty list element" },
	{ "10.0.0.1 port nosuchservice", "port nosuchservice: unknown service name" },
	{ "10.0.0.1 port 80,nosuch,81", "port 80,nosuch,81: nosuch: unknown service name" },
	{ "10.0.0.1 port ssh proto udp", "port ssh: service is tcp only, not udp" },
	{ "10.0.0.1 port ntp proto tcp", "port ntp: service is udp only, not tcp" },
	{ "10.0.0.1 port 53,ntp proto tcp", "port 53,ntp: ntp: service is udp only, not tcp" },
	{ "10.0.0.1 port ssh-http", "port ssh-http: unknown service name (ranges take numbers only)" },
	{ "10.0.0.1 port 22-ssh", "port 22-ssh: ports are 0-65535, ranges N-M" },
	{ "10.0.0.1 port 80,90-80", "port 80,90-80: 90-80: range start is above its end" },
	{ "10.0.0.1 port 1,65536", "port 1,65536: 65536: ports are 0-65535" },
	{ "10.0.0.1 port 1,-2", "port 1,-2: -2: ports are 0-65535" },
	{ "10.0.0.1 port 1,+2", "port 1,+2: +2: ports are 0-65535" },
	{ "10.0.0.1 port 1;2", "port 1;2: ports are 0-65535" },
	{ "10.0.0.1 port SSH", "port SSH: unknown service name" }, /* names are case-sensitive */
	{ "10.0.0.1 port 80,ssh proto icmp", "port 80,ssh: proto icmp has no ports" },
};

static void test_port_rejects(void)
{
	struct nm_rule v[NM_RULE_SPLIT_MAX];
	char err[300];
	size_t i;

	for (i = 0; i < sizeof(port_rejects) / sizeof(port_rejects[0]); i++) {
		err[0] = 0;
		CHECK_MSG(parse_all(port_rejects[i].in, v, NM_RULE_SPLIT_MAX, err, sizeof(err)) == -EINVAL,
			  "accepted: \"%s\"", port_rejects[i].in);
		CHECK_MSG(!strncmp(err, port_rejects[i].msg, strlen(port_rejects[i].msg)),
			  "\"%s\": \"%s\" does not start with \"%s\"", port_rejects[i].in, err,
			  port_rejects[i].msg);
		CHECK_MSG(!strchr(err, '\n'), "message of \"%s\" not one line", port_rejects[i].in);
	}
}

/* ---- keywords ---- */

static void test_keywords(void)
{
	static const char *const rule_kw[] = { "port", "proto", "dir", NULL };
	static const char *const ops[] = { "connect", "connect4", "bind", NULL };

	CHECK(nm_is_prefix("po", "port"));
	CHECK(nm_is_prefix("port", "port"));
	CHECK(!nm_is_prefix("ports", "port"));
	CHECK(!nm_is_prefix("", "port"));
	CHECK(!nm_is_prefix("x", "port"));
	CHECK_INT(nm_keyword("port", rule_kw), 0);
	CHECK_INT(nm_keyword("por", rule_kw), 0);
	CHECK_INT(nm_keyword("pr", rule_kw), 1);
	CHECK_INT(nm_keyword("d", rule_kw), 2);
	CHECK_INT(nm_keyword("p", rule_kw), -2); /* ambiguous */
	CHECK_INT(nm_keyword("x", rule_kw), -1);
	CHECK_INT(nm_keyword("", rule_kw), -1);
	CHECK_INT(nm_keyword("portx", rule_kw), -1);
	CHECK_INT(nm_keyword("PORT", rule_kw), -1); /* case matters */
	CHECK_INT(nm_keyword("connect", ops), 0); /* exact beats a longer keyword */
	CHECK_INT(nm_keyword("conn", ops), -2);
	CHECK_INT(nm_keyword("connect4", ops), 1);
	CHECK_INT(nm_keyword("b", ops), 2);
}

/* ---- numbers ---- */

static void test_parse_u64(void)
{
	static const char *const bad[] = { "", " 1", "1 ", "+1", "-1", "-0", "0x1", "1e3", "1.0",
					   "\t1", "1\n", "\xd9\xa3", "18446744073709551616",
					   "99999999999999999999999" };
	uint64_t v = 7;
	size_t i;

	CHECK_INT(nm_parse_u64("0", 65535, &v), 0);
	CHECK_INT(v, 0);
	CHECK_INT(nm_parse_u64("65535", 65535, &v), 0);
	CHECK_INT(v, 65535);
	CHECK_INT(nm_parse_u64("65536", 65535, &v), -EINVAL);
	CHECK_INT(nm_parse_u64("007", 65535, &v), 0);
	CHECK_INT(v, 7);
	CHECK_INT(nm_parse_u64("18446744073709551615", UINT64_MAX, &v), 0);
	CHECK(v == UINT64_MAX);
	CHECK_INT(nm_parse_u64("18446744073709551616", UINT64_MAX, &v), -EINVAL);
	CHECK_INT(nm_parse_u64("4294967295", UINT32_MAX, &v), 0);
	CHECK_INT(nm_parse_u64("4294967296", UINT32_MAX, &v), -EINVAL);
	CHECK_INT(nm_parse_u64("0", 0, &v), 0);
	CHECK_INT(nm_parse_u64("1", 0, &v), -EINVAL);
	CHECK_INT(nm_parse_u64("5", 5, &v), 0);
	CHECK_INT(nm_parse_u64("6", 5, &v), -EINVAL);
	CHECK_INT(nm_parse_u64("32", 32, &v), 0);
	CHECK_INT(nm_parse_u64("33", 32, &v), -EINVAL);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = 7;
		CHECK_MSG(nm_parse_u64(bad[i], UINT64_MAX, &v) == -EINVAL, "accepted \"%s\"", bad[i]);
		CHECK_INT(v, 7); /* untouched on error */
	}
}

static void test_parse_size(void)
{
	static const char *const bad[] = { "", "M", " 4M", "4M ", "+4M", "-4M", "4MB", "4 M", "4T",
					   "4294967296", "0x10" };
	uint64_t v;
	size_t i;

	CHECK_INT(nm_parse_size("4096", &v), 0);
	CHECK_INT(v, 4096);
	CHECK_INT(nm_parse_size("4M", &v), 0);
	CHECK_INT(v, 4 << 20);
	CHECK_INT(nm_parse_size("16k", &v), 0);
	CHECK_INT(v, 16 << 10);
	CHECK_INT(nm_parse_size("1G", &v), 0);
	CHECK_INT(v, 1 << 30);
	CHECK_INT(nm_parse_size("4294967295", &v), 0);
	CHECK(v == UINT32_MAX);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_MSG(nm_parse_size(bad[i], &v) == -EINVAL, "accepted \"%s\"", bad[i]);
}

static void test_parse_seconds(void)
{
	static const char *const bad[] = { "", ".5", "5.", " 1", "1 ", "+1", "-1", "1e3", "0x10",
					   "inf", "nan", "1.0000000001", "1..5", "1.5.", "1,5",
					   "1000000001", "1000000000.1" };
	uint64_t ns = 7;
	size_t i;

	CHECK_INT(nm_parse_seconds("0", 1000000000, &ns), 0);
	CHECK_INT(ns, 0);
	CHECK_INT(nm_parse_seconds("1", 1000000000, &ns), 0);
	CHECK_INT(ns, 1000000000);
	CHECK_INT(nm_parse_seconds("0.3", 1000000000, &ns), 0);
	CHECK_INT(ns, 300000000);
	CHECK_INT(nm_parse_seconds("2.000000001", 1000000000, &ns), 0);
	CHECK_INT(ns, 2000000001);
	CHECK_INT(nm_parse_seconds("1000000000", 1000000000, &ns), 0);
	CHECK(ns == 1000000000ull * 1000000000ull);
	CHECK_INT(nm_parse_seconds("1000000000.0", 1000000000, &ns), 0);
	/* max is clamped so the nanoseconds fit */
	CHECK_INT(nm_parse_seconds("18446744073709551615", UINT64_MAX, &ns), -EINVAL);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ns = 7;
		CHECK_MSG(nm_parse_seconds(bad[i], 1000000000, &ns) == -EINVAL, "accepted \"%s\"", bad[i]);
		CHECK_INT(ns, 7);
	}
}

/* ---- rules files ---- */

/* Read `len` bytes of data as a rules file (a memfd), `chunk` bytes per read. */
static int read_mem(const void *data, size_t len, size_t chunk, struct nm_rules *rs, char *err,
		    size_t errlen)
{
	int fd = memfd_create("rules", MFD_CLOEXEC), rc;

	if (fd < 0 || write(fd, data, len) != (ssize_t)len || lseek(fd, 0, SEEK_SET)) {
		UNIT_FAIL("memfd: %s", strerror(errno));
		return -EIO;
	}
	nm_rulefile_chunk = chunk;
	rc = nm_rulefile_read(fd, "f", rs, err, errlen);
	nm_rulefile_chunk = 64 << 10;
	close(fd);
	return rc;
}

#define READ_STR(s, rs, err) read_mem(s, sizeof(s) - 1, 1 << 16, rs, err, sizeof(err))

static void test_rulefile_good(void)
{
	static const char text[] = "# comment\n\n10.0.0.0/8 port 22 proto tcp\r\n"
				   "  2001:db8::/32 dir ingress # note\n\tany port 25\n"
				   "# Z\xc3\xbcrich: UTF-8 in comments\n192.0.2.1";
	struct nm_rules rs = {}, ref = {};
	char err[600] = "", a[160], b[160];
	size_t chunk;

	CHECK_INT(READ_STR(text, &ref, err), 0);
	CHECK_INT(ref.n, 4);
	if (ref.n == 4) {
		format(&ref.v[0], a, sizeof(a));
		CHECK_STR(a, "10.0.0.0/8 port 22 proto tcp");
		format(&ref.v[3], a, sizeof(a));
		CHECK_STR(a, "192.0.2.1"); /* unterminated last line */
	}
	/* The same rules whatever the read sizes (lines cut across reads). */
	for (chunk = 1; chunk < sizeof(text) + 2; chunk++) {
		nm_rules_free(&rs);
		CHECK_MSG(read_mem(text, sizeof(text) - 1, chunk, &rs, err, sizeof(err)) == 0,
			  "chunk %zu: %s", chunk, err);
		CHECK_MSG(rs.n == ref.n && !memcmp(rs.v, ref.v, ref.n * sizeof(*rs.v)), "chunk %zu", chunk);
	}
	nm_rules_free(&rs);
	CHECK_INT(READ_STR("", &rs, err), 0);
	CHECK_INT(rs.n, 0);
	CHECK_INT(READ_STR("\n\r\n# x\r\n", &rs, err), 0);
	CHECK_INT(rs.n, 0);
	/* A port list: one rule per element, each listed alone. */
	CHECK_INT(READ_STR("10.0.0.1\n10.1.2.3 port 81,83-84,ssh proto tcp\n10.0.0.2\n", &rs, err), 0);
	CHECK_INT(rs.n, 5);
	if (rs.n == 5) {
		format(&rs.v[3], a, sizeof(a));
		CHECK_STR(a, "10.1.2.3 port 22 proto tcp");
		format(&rs.v[4], a, sizeof(a));
		CHECK_STR(a, "10.0.0.2");
	}
	rs.n = 0;
	/* Appends: what rs held stays. */
	CHECK_INT(READ_STR("10.0.0.1\n10.0.0.2\n", &rs, err), 0);
	CHECK_INT(READ_STR("10.0.0.3\n", &rs, err), 0);
	CHECK_INT(rs.n, 3);
	format(&rs.v[2], b, sizeof(b));
	CHECK_STR(b, "10.0.0.3");
	nm_rules_free(&rs);
	nm_rules_free(&ref);
}

static void test_rulefile_bad(void)
{
	static const struct {
		const char *data;
		size_t len;
		const char *msg;
	} cases[] = {
#define C(s, m) { s, sizeof(s) - 1, m }
		C("10.0.0.1\r10.0.0.2\r", "f:1: column 9: byte 0x0d: carriage return"),
		C("10.0.0.1\n10.0.0.2\r", "f:2: column 9: byte 0x0d"), /* CR at EOF without LF */
		C("10.0.0.1\n# a\rb\n", "f:2: column 4: byte 0x0d"),
		C("192.0.2.20\0 port 80\n", "f:1: column 11: byte 0x00: NUL byte"),
		C("10.0.0.1\n\0", "f:2: column 1: byte 0x00"),
		C("10.0.0.1\x1b[0m\n", "f:1: column 9: byte 0x1b: control character"),
		C("10.0.0.1\x7f\n", "byte 0x7f: control character"),
		C("10.0.0.1 # \x01\n", "f:1: column 12: byte 0x01"),
		C("10.0.0.1 port 8\xc3\xa9\n", "f:1: column 16: byte 0xc3: non-ASCII byte"),
		C("10.0.0.1\n10.0.0.2 port 99999\n10.0.0.3\n", "f:2: port 99999"),
		C("10.0.0.1\nnonsense\n", "f:2: nonsense: not an IPv4 or IPv6 address"),
		C("10.0.0.1 port +80\n", "f:1: port +80"),
		C("10.0.0.0/+8\n", "f:1: 10.0.0.0/+8: prefix length"),
		C("10.0.0.1\n10.0.0.2 port 80,\n", "f:2: port 80,: empty list element"),
		C("10.0.0.1 port 22,nosuch\n", "f:1: port 22,nosuch: nosuch: unknown service name"),
#undef C
	};
	struct nm_rules rs = {};
	char err[600];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		err[0] = 0;
		rs.n = 0;
		CHECK_MSG(read_mem(cases[i].data, cases[i].len, 1 << 16, &rs, err, sizeof(err)) == -EINVAL,
			  "case %zu accepted", i);
		CHECK_MSG(strstr(err, cases[i].msg) != NULL, "case %zu: \"%s\" lacks \"%s\"", i, err,
			  cases[i].msg);
		CHECK_MSG(!strchr(err, '\x1b') && !strchr(err, '\n'), "case %zu: message not one clean line", i);
		CHECK_INT(rs.n, 0); /* all or nothing */
	}
	nm_rules_free(&rs);
}

static void test_rulefile_long_lines(void)
{
	size_t n = NM_RULEFILE_LINE_MAX + 100, chunk;
	char *buf = malloc(200000), err[600];
	struct nm_rules rs = {};

	/* exactly the cap: fine (a comment padded to 4096 bytes, then LF) */
	memset(buf, ' ', NM_RULEFILE_LINE_MAX);
	memcpy(buf, "10.0.0.1 #", 10);
	buf[NM_RULEFILE_LINE_MAX] = '\n';
	for (chunk = 1000; chunk <= 5000; chunk += 1000) {
		CHECK_MSG(read_mem(buf, NM_RULEFILE_LINE_MAX + 1, chunk, &rs, err, sizeof(err)) == 0,
			  "chunk %zu: %s", chunk, err);
		rs.n = 0;
	}
	/* with the CR of a CRLF it may be one more */
	buf[NM_RULEFILE_LINE_MAX] = '\r';
	buf[NM_RULEFILE_LINE_MAX + 1] = '\n';
	CHECK_INT(read_mem(buf, NM_RULEFILE_LINE_MAX + 2, 1 << 16, &rs, err, sizeof(err)), -EINVAL);
	rs.n = 0;
	/* one byte over, on line 2 */
	memcpy(buf, "10.0.0.1\n", 9);
	memset(buf + 9, '#', n);
	buf[9 + n] = '\n';
	CHECK_INT(read_mem(buf, n + 10, 1 << 16, &rs, err, sizeof(err)), -EINVAL);
	CHECK_MSG(strstr(err, "f:2: line longer than 4096 bytes"), "%s", err);
	CHECK_INT(rs.n, 0);
	/* no newline at all, far longer than the read buffer */
	memset(buf, ' ', 200000);
	CHECK_INT(read_mem(buf, 200000, 1 << 16, &rs, err, sizeof(err)), -EINVAL);
	CHECK_MSG(strstr(err, "f:1: line longer than 4096 bytes"), "%s", err);
	free(buf);
	nm_rules_free(&rs);
}

static void test_rulefile_read_errors(void)
{
	struct nm_rules rs = {};
	char err[600];
	int fd = open("/", O_RDONLY | O_CLOEXEC);

	CHECK_INT(nm_rulefile_read(fd, "/", &rs, err, sizeof(err)), -EISDIR);
	CHECK_STR(err, "/: Is a directory (EISDIR)");
	close(fd);
	CHECK_INT(nm_rulefile_read(-1, "bad", &rs, err, sizeof(err)), -EBADF);
	CHECK_INT(rs.n, 0);
}

struct writer {
	int fd;
	const char *first, *later;
};

static void *writer_run(void *arg)
{
	struct writer *w = arg;

	if (write(w->fd, w->first, strlen(w->first)) < 0)
		return NULL;
	usleep(100 * 1000); /* the reader finds the pipe empty: EAGAIN */
	if (write(w->fd, w->later, strlen(w->later)) < 0)
		return NULL;
	close(w->fd);
	return NULL;
}

/* A non-blocking pipe is read to its end, not to the first EAGAIN. */
static int read_nonblocking(const char *first, const char *later, struct nm_rules *rs, char *err,
			    size_t errlen)
{
	struct writer w = { .first = first, .later = later };
	pthread_t t;
	int p[2], rc;

	if (pipe2(p, O_CLOEXEC) || fcntl(p[0], F_SETFL, O_NONBLOCK)) {
		UNIT_FAIL("pipe: %s", strerror(errno));
		return -EIO;
	}
	w.fd = p[1];
	pthread_create(&t, NULL, writer_run, &w);
	rc = nm_rulefile_read(p[0], "<stdin>", rs, err, errlen);
	pthread_join(t, NULL);
	close(p[0]);
	return rc;
}

static void test_rulefile_nonblocking(void)
{
	struct nm_rules rs = {};
	char err[600] = "";

	CHECK_INT(read_nonblocking("10.0.0.1\n10.0.0.2 po", "rt 80\n10.0.0.3\n", &rs, err, sizeof(err)), 0);
	CHECK_INT(rs.n, 3);
	rs.n = 0;
	CHECK_INT(read_nonblocking("10.0.0.1\n", "10.0.0.2 port 99999\n", &rs, err, sizeof(err)), -EINVAL);
	CHECK_MSG(strstr(err, "<stdin>:2: port 99999"), "%s", err);
	CHECK_INT(rs.n, 0);
	nm_rules_free(&rs);
}

/* ---- map keys and buckets (bpf/netmonctl.h, run by the kernel side) ---- */

/* Scopes' lists (layout 7): the list rides in the key, and a rule's
 * counts go where its list says (src/store_internal.h nm_meta_add). */
static void test_rule_lists(void)
{
	struct nm_rule r, m;
	struct nm_rule_key k, g;
	struct nm_meta meta = {};
	char err[300];

	CHECK_INT(nm_list_id(0, 0), 0);
	CHECK_INT(nm_list_id(0, 1), 1);
	CHECK_INT(nm_list_id(7, 0), 14);
	CHECK_INT(nm_list_id(NM_MAX_SCOPES, 1), NM_LISTS - 1);
	CHECK_INT(nm_list_scope(15), 7);
	CHECK(nm_list_allows(15) && !nm_list_allows(14));
	CHECK(nm_list_sees_any(0) && !nm_list_sees_any(1) && !nm_list_sees_any(14));
	/* the list survives key -> rule -> key, and only it tells two keys apart */
	CHECK_INT(parse("10.0.0.0/8", &r, err, sizeof(err)), 0);
	nm_rule_key(&r, &g);
	r.list = nm_list_id(7, 1);
	nm_rule_key(&r, &k);
	CHECK_INT(k.list, 15);
	CHECK(memcmp(&k, &g, sizeof(k)) != 0);
	nm_rule_from_key(&k, &r.port, &m);
	CHECK_INT(m.list, 15);
	/* global deny: dir counts; a scope's deny: scoped counts; allow: the list only */
	nm_meta_add(&meta, &g, 2, 1);
	nm_meta_add(&meta, &k, 3, 3);
	k.list = 14;
	nm_meta_add(&meta, &k, 1, 1);
	CHECK_INT(meta.rules, 6);
	CHECK_INT(meta.list_rules[0], 2);
	CHECK_INT(meta.list_rules[15], 3);
	CHECK_INT(meta.list_rules[14], 1);
	CHECK_INT(meta.dir_rules[NM_DIR_EGRESS], 2);
	CHECK_INT(meta.lsm_only_rules[NM_DIR_EGRESS], 1);
	CHECK_INT(meta.scoped_rules[NM_DIR_EGRESS], 1);
	CHECK_INT(meta.scoped_lsm_only[NM_DIR_EGRESS], 1);
}

/* restore's grouping (src/statefile.c nm_state_group): every list one
 * slice, lists in id order, each keeping its rules' order in the file. */
static void test_state_group(void)
{
	static const uint16_t lists[] = { 3, 0, NM_LISTS - 1, 3, 1, 0, 3, NM_LISTS - 1 };
	struct nm_state st = { .mode = -1 };
	struct nm_rule r = {};
	size_t at[NM_LISTS + 1], i;
	uint16_t last_lo = 0;

	for (i = 0; i < sizeof(lists) / sizeof(lists[0]); i++) {
		r.list = lists[i];
		r.port.lo = (uint16_t)i; /* its place in the file */
		CHECK_INT(nm_rules_push(&st.rules, &r), 0);
	}
	CHECK_INT(nm_state_group(&st, at), 0);
	CHECK_INT(at[0], 0);
	CHECK_INT(at[1] - at[0], 2);
	CHECK_INT(at[2] - at[1], 1);
	CHECK_INT(at[4] - at[3], 3);
	CHECK_INT(at[NM_LISTS] - at[NM_LISTS - 1], 2);
	CHECK_INT(at[NM_LISTS], st.rules.n);
	for (i = 0; i < st.rules.n; i++) {
		CHECK(i == 0 || st.rules.v[i - 1].list <= st.rules.v[i].list);
		if (i && st.rules.v[i - 1].list == st.rules.v[i].list)
			CHECK(last_lo < st.rules.v[i].port.lo);
		last_lo = st.rules.v[i].port.lo;
	}
	CHECK_INT(st.rules.v[at[3]].port.lo, 0);
	CHECK_INT(st.rules.v[at[3] + 2].port.lo, 6);
	st.rules.v[0].list = NM_LISTS; /* not a list: refused, nothing moved */
	CHECK_INT(nm_state_group(&st, at), -EINVAL);
	CHECK_INT(st.rules.v[0].list, NM_LISTS);
	nm_state_free(&st);
	CHECK_INT(nm_state_group(&st, at), 0);
	CHECK_INT(at[NM_LISTS], 0);
}

static void test_rule_key(void)
{
	struct nm_rule r, m;
	struct nm_rule_key k, km;
	char err[300];

	CHECK_INT(parse("198.51.100.0/24 dir bind", &r, err, sizeof(err)), 0);
	nm_rule_key(&r, &k);
	CHECK_INT(k.prefixlen, NM_KEY_HDR_BITS + 24);
	CHECK_INT(k.dir, NM_DIR_BIND);
	CHECK_INT(k.family, NM_FAM_V4);
	CHECK_INT(k.list, 0);
	CHECK_INT(k.addr[0], 198);
	CHECK(!memcmp(k.addr + 4, (uint8_t[12]){ 0 }, 12));
	/* v4-mapped text builds the very same key (and bucket) as the IPv4 rule */
	CHECK_INT(parse("::ffff:198.51.100.0/120 dir bind", &m, err, sizeof(err)), 0);
	nm_rule_key(&m, &km);
	CHECK(!memcmp(&k, &km, sizeof(k)));
	CHECK_INT(nm_bucket_slot(km.dir, km.family, km.addr), nm_bucket_slot(k.dir, k.family, k.addr));

	CHECK_INT(parse("2001:db8::/32 dir ingress", &r, err, sizeof(err)), 0);
	nm_rule_key(&r, &k);
	CHECK_INT(k.prefixlen, NM_KEY_HDR_BITS + 32);
	CHECK_INT(k.family, NM_FAM_V6);
	CHECK_INT(k.dir, NM_DIR_INGRESS);
	CHECK_INT(k.addr[1], 0x01);

	CHECK_INT(parse("any dir bind", &r, err, sizeof(err)), 0);
	nm_rule_key(&r, &k);
	CHECK_INT(k.prefixlen, NM_KEY_ANY_BITS);
	CHECK_INT(k.dir, NM_DIR_BIND);

	/* key -> rule -> key */
	CHECK_INT(parse("2001:db8:1::/48 port 5-6 proto tcp dir ingress", &r, err, sizeof(err)), 0);
	nm_rule_key(&r, &k);
	nm_rule_from_key(&k, &r.port, &m);
	CHECK(!memcmp(&r, &m, sizeof(r)));
	CHECK_INT(parse("any port 7 dir bind", &r, err, sizeof(err)), 0);
	nm_rule_key(&r, &k);
	nm_rule_from_key(&k, &r.port, &m);
	CHECK(!memcmp(&r, &m, sizeof(r)));
}

static void test_bucket_ranges(void)
{
	static const uint8_t fams[2] = { NM_FAM_V4, NM_FAM_V6 };
	uint32_t lo[NM_DIR_MAX * 2], hi[NM_DIR_MAX * 2], total = 0;
	int d, f, i, j, n = 0;

	for (d = 0; d < NM_DIR_MAX; d++) {
		for (f = 0; f < 2; f++) {
			uint32_t base = nm_bucket_base(d, fams[f]);
			uint32_t slots = fams[f] == NM_FAM_V4 ? NM_V4_SLOTS : NM_V6_SLOTS;

			lo[n] = base;
			hi[n] = base + slots; /* exclusive */
			CHECK(hi[n] <= NM_BUCKET_SLOTS_ALL);
			/* the WIDE slot is the last of the range */
			CHECK_INT(nm_wide_slot(d, fams[f]), hi[n] - 1);
			total += slots;
			n++;
		}
	}
	CHECK_INT(total, NM_BUCKET_SLOTS_ALL); /* the ranges tile the array... */
	for (i = 0; i < n; i++)                /* ...without overlapping */
		for (j = i + 1; j < n; j++)
			CHECK_MSG(hi[i] <= lo[j] || hi[j] <= lo[i], "ranges %d and %d overlap", i, j);
}

static void test_bucket_slots(void)
{
	static const uint8_t fams[2] = { NM_FAM_V4, NM_FAM_V6 };
	unsigned int seed = 99;
	uint8_t a[16], b[16];
	int d, f, i, k;

	for (d = 0; d < NM_DIR_MAX; d++) {
		for (f = 0; f < 2; f++) {
			uint32_t base = nm_bucket_base(d, fams[f]), wide = nm_wide_slot(d, fams[f]);
			int key_bytes = fams[f] == NM_FAM_V4 ? 2 : 4;

			memset(a, 0, 16);
			CHECK_INT(nm_bucket_slot(d, fams[f], a), base);
			memset(a, 0xff, 16);
			CHECK(nm_bucket_slot(d, fams[f], a) < wide);
			for (i = 0; i < 5000; i++) {
				uint32_t s;

				for (k = 0; k < 16; k++)
					a[k] = b[k] = rand_r(&seed);
				s = nm_bucket_slot(d, fams[f], a);
				if (s < base || s >= wide) {
					CHECK_MSG(0, "slot %u outside [%u, %u)", s, base, wide);
					break;
				}
				/* only the bucket bytes count: the rest of the address may change */
				for (k = key_bytes; k < 16; k++)
					b[k] = rand_r(&seed);
				CHECK_INT(nm_bucket_slot(d, fams[f], b), s);
			}
		}
	}
	/* IPv4: the top 16 bits, one slot each */
	memset(a, 0, 16);
	a[0] = 10;
	a[1] = 1;
	CHECK_INT(nm_bucket_slot(NM_DIR_EGRESS, NM_FAM_V4, a), nm_bucket_base(NM_DIR_EGRESS, NM_FAM_V4) + 0x0a01);
	/* IPv6: the top 32 bits folded to 20 */
	memset(a, 0, 16);
	a[0] = 0x20;
	a[1] = 0x01;
	a[2] = 0x0d;
	a[3] = 0xb8;
	CHECK_INT(nm_bucket_slot(NM_DIR_INGRESS, NM_FAM_V6, a),
		  nm_bucket_base(NM_DIR_INGRESS, NM_FAM_V6) +
			  ((0x20010db8u ^ (0x20010db8u >> 12)) & (NM_V6_BUCKETS - 1)));
}

int main(void)
{
	RUN(test_round_trip_table);
	RUN(test_fields);
	RUN(test_round_trip_random);
	RUN(test_rejects);
	RUN(test_rejects_blanks);
	RUN(test_parse_line);
	RUN(test_port_lists);
	RUN(test_port_list_cap);
	RUN(test_port_rejects);
	RUN(test_keywords);
	RUN(test_parse_u64);
	RUN(test_parse_size);
	RUN(test_parse_seconds);
	RUN(test_rulefile_good);
	RUN(test_rulefile_bad);
	RUN(test_rulefile_long_lines);
	RUN(test_rulefile_read_errors);
	RUN(test_rulefile_nonblocking);
	RUN(test_rule_key);
	RUN(test_comments);
	RUN(test_rule_lists);
	RUN(test_state_group);
	RUN(test_bucket_ranges);
	RUN(test_bucket_slots);
	return unit_done("rule");
}
