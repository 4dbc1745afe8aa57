// SPDX-License-Identifier: GPL-2.0
/*
 * Rule text <-> struct nm_rule <-> map key. The text form nm_rule_format()
 * writes is exactly what nm_rule_parse() reads, so `deny list` output can
 * be fed back to `deny add file`.
 *   RULE := { ADDR[/LEN] | any } [port { N | N-M }] [proto { tcp | udp | any }]
 *           [dir { egress | ingress | bind }]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "nm.h"

const char *const nm_dir_names[NM_DIR_MAX] = { "egress", "ingress", "bind" };
static const char *const dir_kw[] = { "egress", "ingress", "bind", NULL };
static const char *const proto_kw[] = { "tcp", "udp", "any", NULL };
static const uint8_t proto_bits[] = { NM_PROTO_TCP, NM_PROTO_UDP, NM_PROTO_ANY };
static const char *const rule_kw[] = { "port", "proto", "dir", NULL };

#define RULE_ERR(...) (snprintf(err, errlen, __VA_ARGS__), -EINVAL)

static bool nm_host_bits_set(const uint8_t *addr, int bytes, int plen)
{
	int i;

	for (i = 0; i < bytes; i++) {
		int keep = plen - i * 8;
		uint8_t mask = keep >= 8 ? 0xff : keep <= 0 ? 0 : (uint8_t)(0xff << (8 - keep));

		if (addr[i] & ~mask)
			return true;
	}
	return false;
}

static const uint8_t v4_mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

/* ::ffff:a.b.c.d/L (L >= 96) is the IPv4 rule a.b.c.d/(L-96): v6 sockets
 * talking to mapped addresses are checked against IPv4 rules. */
static void nm_unmap_v4(struct nm_rule *r)
{
	if (r->family != NM_FAM_V6 || r->plen < 96 || memcmp(r->addr, v4_mapped_prefix, 12))
		return;
	r->family = NM_FAM_V4;
	r->plen -= 96;
	memmove(r->addr, r->addr + 12, 4);
	memset(r->addr + 4, 0, 12);
}

static int nm_parse_addr(const char *arg, struct nm_rule *r, char *err, size_t errlen)
{
	char buf[INET6_ADDRSTRLEN + 8];
	char *slash;
	uint64_t plen;
	int max;

	if (!strcmp(arg, "any")) {
		r->family = NM_FAM_ANY;
		r->plen = 0;
		return 0;
	}
	if (strlen(arg) >= sizeof(buf))
		return RULE_ERR("%s: not an IPv4 or IPv6 address", arg);
	strcpy(buf, arg);
	slash = strchr(buf, '/');
	if (slash)
		*slash++ = 0;
	if (inet_pton(AF_INET, buf, r->addr) == 1) {
		r->family = NM_FAM_V4;
		max = 32;
	} else if (inet_pton(AF_INET6, buf, r->addr) == 1) {
		r->family = NM_FAM_V6;
		max = 128;
	} else {
		return RULE_ERR("%s: not an IPv4 or IPv6 address", buf);
	}
	plen = max;
	if (slash && nm_parse_u64(slash, max, &plen))
		return RULE_ERR("%s: prefix length must be 0-%d", arg, max);
	r->plen = plen;
	if (nm_host_bits_set(r->addr, max / 8, r->plen))
		return RULE_ERR("%s: address has bits set beyond /%u", arg, r->plen);
	nm_unmap_v4(r);
	return 0;
}

static int nm_parse_port(const char *arg, struct nm_port_rule *p, char *err, size_t errlen)
{
	char buf[16];
	char *dash;
	uint64_t lo, hi;

	if (strlen(arg) >= sizeof(buf))
		return RULE_ERR("port %s: not a port or range", arg);
	strcpy(buf, arg);
	dash = strchr(buf, '-');
	if (dash)
		*dash++ = 0;
	if (nm_parse_u64(buf, 65535, &lo) || (dash && nm_parse_u64(dash, 65535, &hi)))
		return RULE_ERR("port %s: ports are 0-65535, ranges N-M", arg);
	if (!dash)
		hi = lo;
	if (lo > hi)
		return RULE_ERR("port %s: range start is above its end", arg);
	p->lo = lo;
	p->hi = hi;
	return 0;
}

static int nm_parse_choice(const char *what, const char *arg, const char *const *kw, char *err,
			   size_t errlen)
{
	int i = nm_keyword(arg, kw);

	if (i < 0)
		return RULE_ERR("%s %s: expected %s | %s | %s", what, arg, kw[0], kw[1], kw[2]);
	return i;
}

int nm_rule_parse(int argc, char **argv, struct nm_rule *r, char *err, size_t errlen)
{
	bool seen[3] = { false, false, false };
	int i, k, v;

	memset(r, 0, sizeof(*r));
	r->port.hi = 65535;
	r->port.protos = NM_PROTO_ANY;
	if (argc < 1)
		return RULE_ERR("missing address (ADDR[/LEN] or any)");
	if (nm_parse_addr(argv[0], r, err, errlen))
		return -EINVAL;
	for (i = 1; i < argc; i += 2) {
		k = nm_keyword(argv[i], rule_kw);
		if (k < 0)
			return RULE_ERR("%s: %s keyword; expected port, proto or dir", argv[i],
					k == -2 ? "ambiguous" : "unknown");
		if (seen[k])
			return RULE_ERR("%s given twice", rule_kw[k]);
		seen[k] = true;
		if (i + 1 >= argc)
			return RULE_ERR("%s needs a value", rule_kw[k]);
		if (k == 0) {
			if (nm_parse_port(argv[i + 1], &r->port, err, errlen))
				return -EINVAL;
		} else if (k == 1) {
			v = nm_parse_choice("proto", argv[i + 1], proto_kw, err, errlen);
			if (v < 0)
				return v;
			r->port.protos = proto_bits[v];
		} else {
			v = nm_parse_choice("dir", argv[i + 1], dir_kw, err, errlen);
			if (v < 0)
				return v;
			r->dir = v;
		}
	}
	return 0;
}

/* One line of a rules file, without its line ending (src/rulefile.c has
 * checked its bytes): words separated by blanks, `#` starts a comment.
 * Returns 1 for a rule, 0 for a blank/comment line, <0 on error. */
int nm_rule_parse_line(char *line, struct nm_rule *r, char *err, size_t errlen)
{
	char *words[16];
	int n = 0;
	char *tok, *save = NULL;

	line[strcspn(line, "#\n")] = 0;
	for (tok = strtok_r(line, " \t", &save); tok; tok = strtok_r(NULL, " \t", &save)) {
		if (n == 16)
			return RULE_ERR("too many words");
		words[n++] = tok;
	}
	if (n == 0)
		return 0;
	return nm_rule_parse(n, words, r, err, errlen) ?: 1;
}

void nm_addr_format(uint8_t family, const uint8_t *addr, char *buf, size_t len)
{
	if (family == NM_FAM_V4)
		inet_ntop(AF_INET, addr, buf, len);
	else if (family == NM_FAM_V6)
		inet_ntop(AF_INET6, addr, buf, len);
	else
		snprintf(buf, len, "any");
}

void nm_rule_format(const struct nm_rule *r, char *buf, size_t len)
{
	char addr[INET6_ADDRSTRLEN];
	int n, full = r->family == NM_FAM_V4 ? 32 : 128;
	int bit = r->port.protos;

	nm_addr_format(r->family, r->addr, addr, sizeof(addr));
	if (r->family == NM_FAM_ANY || r->plen == full)
		n = snprintf(buf, len, "%s", addr);
	else
		n = snprintf(buf, len, "%s/%u", addr, r->plen);
	if (r->port.lo == r->port.hi)
		n += snprintf(buf + n, len - n, " port %u", r->port.lo);
	else if (r->port.lo != 0 || r->port.hi != 65535)
		n += snprintf(buf + n, len - n, " port %u-%u", r->port.lo, r->port.hi);
	if (bit != NM_PROTO_ANY)
		n += snprintf(buf + n, len - n, " proto %s", bit == NM_PROTO_TCP ? "tcp" : "udp");
	if (r->dir != NM_DIR_EGRESS)
		snprintf(buf + n, len - n, " dir %s", nm_dir_names[r->dir]);
}

json_t *nm_rule_json(const struct nm_rule *r)
{
	char text[160], addr[INET6_ADDRSTRLEN];
	int bit = r->port.protos;

	nm_rule_format(r, text, sizeof(text));
	nm_addr_format(r->family, r->addr, addr, sizeof(addr));
	return json_pack("{s:s, s:s, s:s, s:i, s:i, s:i, s:s, s:s}", "rule", text, "family",
			 r->family == NM_FAM_V4 ? "ipv4" : r->family == NM_FAM_V6 ? "ipv6" : "any",
			 "addr", addr, "prefixlen", r->plen, "port_lo", r->port.lo, "port_hi", r->port.hi,
			 "proto", bit == NM_PROTO_TCP ? "tcp" : bit == NM_PROTO_UDP ? "udp" : "any", "dir",
			 nm_dir_names[r->dir]);
}

void nm_rule_key(const struct nm_rule *r, struct nm_rule_key *k)
{
	memset(k, 0, sizeof(*k));
	k->dir = r->dir;
	k->family = r->family;
	if (r->family == NM_FAM_ANY) {
		k->prefixlen = NM_KEY_ANY_BITS;
		return;
	}
	k->prefixlen = NM_KEY_HDR_BITS + r->plen;
	memcpy(k->addr, r->addr, r->family == NM_FAM_V4 ? 4 : 16);
}

void nm_rule_from_key(const struct nm_rule_key *k, const struct nm_port_rule *p, struct nm_rule *r)
{
	memset(r, 0, sizeof(*r));
	r->dir = k->dir;
	r->port = *p;
	if (k->prefixlen <= NM_KEY_ANY_BITS) {
		r->family = NM_FAM_ANY;
		return;
	}
	r->family = k->family;
	r->plen = k->prefixlen - NM_KEY_HDR_BITS;
	memcpy(r->addr, k->addr, 16);
}
