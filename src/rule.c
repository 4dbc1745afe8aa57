// SPDX-License-Identifier: GPL-2.0
/*
 * Rule text <-> struct nm_rule <-> map key. The text form nm_rule_format()
 * writes is exactly what nm_rule_parse() reads, so `deny list` output can
 * be fed back to `deny add file`. One RULE can stand for several rules:
 * `port 22,80,8000-8999` gives one rule per list element, `port domain`
 * one per protocol the service name has; the text form is always one
 * rule, numbers only.
 *   RULE := { ADDR[/LEN] | any } [port PORTS] [proto PROTO]
 *           [dir { egress | ingress | bind }] [comment TEXT]
 *   PROTO := { tcp | udp | sctp | icmp | icmpv6 | raw | any | NUMBER }
 *   PORTS := { N | N-M | NAME }[,...]
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "nm.h"

const char *const nm_dir_names[NM_DIR_MAX] = { "egress", "ingress", "bind" };
const char *const nm_dir_keywords[NM_DIR_MAX + 1] = { "egress", "ingress", "bind", NULL };
/* The names of the protocol classes (bpf/netmonctl.h); icmp and icmpv6 are
 * one class, printed by the rule's family. */
static const char *const proto_kw[] = { "tcp", "udp", "sctp", "icmp", "icmpv6", "raw", "any", NULL };
static const uint8_t proto_bits[] = { NM_PROTO_TCP,  NM_PROTO_UDP, NM_PROTO_SCTP, NM_PROTO_ICMP,
				      NM_PROTO_ICMP, NM_PROTO_RAW, NM_PROTO_ANY };
static const char *const rule_kw[] = { "port", "proto", "dir", "comment", NULL };
enum { KW_PORT, KW_PROTO, KW_DIR, KW_COMMENT };

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

/* The port word, shortened for messages: a list may be long. */
static const char *port_word(const char *word, char *buf, size_t len)
{
	if (strlen(word) < len)
		return word;
	snprintf(buf, len, "%.*s...", (int)len - 4, word);
	return buf;
}

/* Element e (len bytes) of the port word, for messages: "port W: E: why",
 * or "port W: why" when the word is that one element. */
#define PORT_ERR(pl, why, ...)                                                               \
	(!strchr(pl->word, ',')                                                              \
		 ? RULE_ERR("port %s: " why, port_word(pl->word, wb, sizeof(wb)), ##__VA_ARGS__) \
		 : RULE_ERR("port %s: %.*s: " why, port_word(pl->word, wb, sizeof(wb)),         \
			    (int)pl->elen, pl->elem, ##__VA_ARGS__))

/* A port list being expanded: the port rules it stands for, in order. */
struct port_list {
	const char *word;
	const char *elem; /* the element being read, elen bytes */
	size_t elen;
	int n_elem;
	uint8_t protos; /* of the rule: NM_PROTO_ANY unless proto was given */
	struct nm_port_rule v[NM_RULE_SPLIT_MAX];
	int n;
};

/* Identical port rules fold: `port 80,80` and `port 22,ssh proto tcp` are one rule. */
static void port_list_add(struct port_list *pl, uint16_t lo, uint16_t hi, uint8_t protos)
{
	int i;

	for (i = 0; i < pl->n; i++)
		if (pl->v[i].lo == lo && pl->v[i].hi == hi && pl->v[i].protos == protos)
			return;
	pl->v[pl->n].lo = lo;
	pl->v[pl->n].hi = hi;
	pl->v[pl->n].protos = protos;
	pl->v[pl->n].flags = 0;
	pl->n++;
}

/* N or N-M: digits only (nm_parse_port_range). */
static int port_number(struct port_list *pl, char *err, size_t errlen)
{
	char wb[72];
	uint16_t lo, hi;
	int ret = nm_parse_port_range(pl->elem, pl->elen, &lo, &hi);

	if (ret == -E2BIG)
		return PORT_ERR(pl, "not a port or range");
	if (ret == -ERANGE)
		return PORT_ERR(pl, "range start is above its end");
	if (ret)
		return PORT_ERR(pl, "ports are 0-65535, ranges N-M");
	port_list_add(pl, lo, hi, pl->protos);
	return 0;
}

/* The port of service name for proto ("tcp"/"udp") in the services
 * database (getservbyname: /etc/services, or what nsswitch.conf names);
 * -1 when it has none. */
static int service_port(const char *name, const char *proto)
{
	struct servent se, *res = NULL;
	char buf[4096];

	if (getservbyname_r(name, proto, &se, buf, sizeof(buf), &res) || !res)
		return -1;
	return ntohs((uint16_t)res->s_port);
}

/*
 * A service name: the protocols of the rule it has an entry for. Without
 * `proto` (or with `proto any`) that is each protocol the name has: `ssh`
 * is 22/tcp only, `domain` 53 for both (one rule, proto any); with `proto
 * tcp|udp` the name must have an entry for that protocol (iptables does
 * the same), else the rule would silently cover nothing the name means.
 */
static int port_service(struct port_list *pl, char *err, size_t errlen)
{
	char name[128], wb[72];
	int tcp, udp;

	if (pl->elen >= sizeof(name))
		return PORT_ERR(pl, "unknown service name");
	memcpy(name, pl->elem, pl->elen);
	name[pl->elen] = 0;
	tcp = service_port(name, "tcp");
	udp = service_port(name, "udp");
	if (tcp < 0 && udp < 0)
		return memchr(pl->elem, '-', pl->elen)
			       ? PORT_ERR(pl, "unknown service name (ranges take numbers only)")
			       : PORT_ERR(pl, "unknown service name");
	if (pl->protos == NM_PROTO_TCP && tcp < 0)
		return PORT_ERR(pl, "service is udp only, not tcp");
	if (pl->protos == NM_PROTO_UDP && udp < 0)
		return PORT_ERR(pl, "service is tcp only, not udp");
	if (pl->protos == NM_PROTO_ANY && tcp == udp) {
		port_list_add(pl, tcp, tcp, NM_PROTO_ANY);
		return 0;
	}
	if (tcp >= 0 && pl->protos != NM_PROTO_UDP)
		port_list_add(pl, tcp, tcp, NM_PROTO_TCP);
	if (udp >= 0 && pl->protos != NM_PROTO_TCP)
		port_list_add(pl, udp, udp, NM_PROTO_UDP);
	return 0;
}

/*
 * port { N | N-M | NAME }[,...]: at most NM_PORT_LIST_MAX elements, none
 * empty. A number starts with a digit; a name with a letter (names may
 * hold dashes: kerberos-adm), so ranges take numbers only.
 */
static int port_list_parse(struct port_list *pl, char *err, size_t errlen)
{
	const char *p = pl->word, *comma;
	char wb[72];
	int ret;

	for (;; p = comma + 1) {
		comma = strchr(p, ',');
		pl->elem = p;
		pl->elen = comma ? (size_t)(comma - p) : strlen(p);
		if (++pl->n_elem > NM_PORT_LIST_MAX)
			return RULE_ERR("port %s: a list holds at most %d ports, ranges or names",
					port_word(pl->word, wb, sizeof(wb)), NM_PORT_LIST_MAX);
		if (!pl->elen)
			return RULE_ERR("port %s: empty list element",
					port_word(pl->word, wb, sizeof(wb)));
		if ((pl->elem[0] >= 'a' && pl->elem[0] <= 'z') ||
		    (pl->elem[0] >= 'A' && pl->elem[0] <= 'Z'))
			ret = port_service(pl, err, errlen);
		else
			ret = port_number(pl, err, errlen);
		if (ret)
			return ret;
		if (!comma)
			return 0;
	}
}

static int nm_parse_choice(const char *what, const char *arg, const char *const *kw, char *err,
			   size_t errlen)
{
	int i = nm_keyword(arg, kw);

	if (i < 0)
		return RULE_ERR("%s %s: expected %s | %s | %s", what, arg, kw[0], kw[1], kw[2]);
	return i;
}

/*
 * proto P: a class name, or an IP protocol number that names one. MPTCP
 * and UDP-Lite are checked as TCP and UDP (a rule on those holds for them
 * too), so naming them alone would promise a distinction no hook makes.
 */
static int nm_parse_proto(const char *arg, uint8_t *protos, char *err, size_t errlen)
{
	static const struct {
		uint64_t number;
		const char *name;
	} numbers[] = { { 1, "icmp" }, { 6, "tcp" }, { 17, "udp" }, { 58, "icmpv6" }, { 132, "sctp" } };
	int i = nm_keyword(arg, proto_kw);
	uint64_t n;
	size_t k;

	if (i >= 0) {
		*protos = proto_bits[i];
		return 0;
	}
	if (!strcmp(arg, "mptcp") || !strcmp(arg, "262"))
		return RULE_ERR("proto %s: MPTCP is checked as TCP; use proto tcp", arg);
	if (!strcmp(arg, "udplite") || !strcmp(arg, "136"))
		return RULE_ERR("proto %s: UDP-Lite is checked as UDP; use proto udp", arg);
	if (i == -1 && nm_parse_u64(arg, 255, &n) == 0) {
		for (k = 0; k < sizeof(numbers) / sizeof(numbers[0]); k++)
			if (numbers[k].number == n)
				return nm_parse_proto(numbers[k].name, protos, err, errlen);
		return RULE_ERR("proto %s: no hook tells this protocol apart; use proto raw (raw "
				"sockets) or proto any", arg);
	}
	return RULE_ERR("proto %s: %s; expected tcp | udp | sctp | icmp | icmpv6 | raw | any", arg,
			i == -2 ? "ambiguous" : "unknown");
}

/* The name of a rule's protocol class, as nm_parse_proto reads it back. */
const char *nm_proto_name(uint8_t protos, uint8_t family)
{
	switch (protos) {
	case NM_PROTO_TCP:
		return "tcp";
	case NM_PROTO_UDP:
		return "udp";
	case NM_PROTO_SCTP:
		return "sctp";
	case NM_PROTO_ICMP:
		return family == NM_FAM_V6 ? "icmpv6" : "icmp";
	case NM_PROTO_RAW:
		return "raw";
	default:
		return "any";
	}
}

/* One rule per port list element: out[0] is the template (port any). */
static int nm_rule_expand(const char *port, struct nm_rule *out, int max, char *err, size_t errlen)
{
	struct port_list pl = { .word = port, .protos = out[0].port.protos };
	int i;

	if (!port)
		return 1;
	if (port_list_parse(&pl, err, errlen))
		return -EINVAL;
	if (pl.n > max)
		return RULE_ERR("port %.64s: stands for %d rules, more than %d", port, pl.n, max);
	for (i = 0; i < pl.n; i++) {
		out[i] = out[0];
		out[i].port = pl.v[i];
	}
	return pl.n;
}

int nm_rule_parse(int argc, char **argv, struct nm_rule *out, int max, char *err, size_t errlen)
{
	bool seen[4] = { false, false, false, false };
	const char *port = NULL;
	struct nm_rule *r = out;
	int i, k, v;

	if (max < 1)
		return RULE_ERR("no room for a rule");
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
			return RULE_ERR("%s: %s keyword; expected port, proto, dir or comment", argv[i],
					k == -2 ? "ambiguous" : "unknown");
		if (seen[k])
			return RULE_ERR("%s given twice", rule_kw[k]);
		seen[k] = true;
		if (i + 1 >= argc)
			return RULE_ERR("%s needs a value", rule_kw[k]);
		if (k == KW_PORT) {
			port = argv[i + 1]; /* expanded once proto is known */
		} else if (k == KW_PROTO) {
			if (nm_parse_proto(argv[i + 1], &r->port.protos, err, errlen))
				return -EINVAL;
		} else if (k == KW_COMMENT) {
			if (nm_note_check(argv[i + 1], err, errlen))
				return -EINVAL;
			r->note = nm_note_intern(argv[i + 1]);
			if (!r->note)
				return RULE_ERR("comment: %s", strerror(ENOMEM));
		} else {
			v = nm_parse_choice("dir", argv[i + 1], nm_dir_keywords, err, errlen);
			if (v < 0)
				return v;
			r->dir = v;
		}
	}
	if (port && !(r->port.protos & NM_PROTO_PORTED))
		return RULE_ERR("port %.64s: proto %s has no ports; a rule on it has no port", port,
				nm_proto_name(r->port.protos, r->family));
	return nm_rule_expand(port, out, max, err, errlen);
}

/* A quoted word ends at its closing quote, which a blank or the end of
 * the line follows: `"a b"c` would be ambiguous. It holds printable ASCII
 * and spaces only: a `#` inside quotes lets a line's other bytes through
 * (src/rulefile.c), and an error message may quote the word. */
static char *nm_quoted_word(char *p, char *err, size_t errlen)
{
	char *end = strchr(p + 1, '"'), *c;

	if (!end)
		return snprintf(err, errlen, "unterminated quote"), NULL;
	for (c = p + 1; c < end; c++)
		if ((unsigned char)*c < 0x20 || (unsigned char)*c > 0x7e)
			return snprintf(err, errlen, "byte 0x%02x inside quotes: printable ASCII only",
					(unsigned char)*c), NULL;
	if (end[1] && end[1] != ' ' && end[1] != '\t')
		return snprintf(err, errlen, "a blank must follow a closing quote"), NULL;
	*end = 0;
	return end + 1;
}

int nm_line_words(char *line, char **w, int max, char *err, size_t errlen)
{
	char *p = line;
	int n = 0;

	for (;;) {
		p += strspn(p, " \t");
		if (!*p || *p == '#')
			return n;
		if (n == max)
			return RULE_ERR("more than %d words", max);
		if (*p == '"') {
			w[n++] = p + 1;
			p = nm_quoted_word(p, err, errlen);
			if (!p)
				return -EINVAL;
			continue;
		}
		w[n++] = p;
		p += strcspn(p, " \t#");
		if (*p == '#') { /* `10.0.0.1#note`: the comment ends the word too */
			*p = 0;
			return n;
		}
		if (*p)
			*p++ = 0;
	}
}

const char *nm_word_format(const char *w, char *buf, size_t len)
{
	if (!w[strcspn(w, " \t#")] && *w)
		return w;
	snprintf(buf, len, "\"%s\"", w);
	return buf;
}

/* One line of a rules file, without its line ending (src/rulefile.c has
 * checked its bytes): nm_line_words(). Returns the number of rules the
 * line stands for (0 for a blank or comment line), <0 on error. */
int nm_rule_parse_line(char *line, struct nm_rule *out, int max, char *err, size_t errlen)
{
	char *words[16];
	int n = nm_line_words(line, words, 16, err, errlen);

	if (n <= 0)
		return n;
	return nm_rule_parse(n, words, out, max, err, errlen);
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
		n += snprintf(buf + n, len - n, " proto %s", nm_proto_name(bit, r->family));
	if (r->dir != NM_DIR_EGRESS)
		n += snprintf(buf + n, len - n, " dir %s", nm_dir_names[r->dir]);
	if (r->note)
		nm_note_format(nm_note_text(r->note), buf + n, len - n);
}

const char *nm_note_format(const char *note, char *buf, size_t len)
{
	snprintf(buf, len, note ? " comment \"%s\"" : "", note);
	return buf;
}

/* The port-less classes of a rule as a JSON array of names. */
static void nm_classes_json(uint8_t classes, char *buf, size_t size)
{
	static const struct {
		uint8_t bit;
		const char *name;
	} names[] = { { NM_PROTO_SCTP, "sctp" }, { NM_PROTO_ICMP, "icmp" }, { NM_PROTO_RAW, "raw" },
		      { NM_PROTO_OTHER, "other" } };
	size_t i, n = 0;

	n += snprintf(buf, size, "[");
	for (i = 0; i < sizeof(names) / sizeof(names[0]) && n < size; i++)
		if (classes & names[i].bit)
			n += snprintf(buf + n, size - n, "%s\"%s\"", n > 1 ? "," : "", names[i].name);
	if (n < size)
		snprintf(buf + n, size - n, "]");
}

/*
 * The one definition of a rule as JSON: a compact object on one line
 * (what `deny list -j` streams, a million at a time, and `deny add file`
 * reads back). Every value is our own ASCII, so nothing needs escaping.
 * enforced (enum nm_enforced) < 0 leaves that key out; NM_ENF_PARTLY is
 * false with the classes no attached layer checks. Returns the length
 * (< size).
 */
size_t nm_rule_json_line(const struct nm_rule *r, int enforced, char *buf, size_t size)
{
	char text[NM_RULE_TEXT_MAX], addr[INET6_ADDRSTRLEN], partly[80] = "", note[NM_NOTE_MAX + 16] = "";
	struct nm_rule bare = *r;
	int bit = r->port.protos, n;

	if (enforced == NM_ENF_PARTLY) {
		size_t k = (size_t)snprintf(partly, sizeof(partly), ",\"unenforced_protocols\":");

		nm_classes_json(nm_port_rule_portless_classes(&r->port), partly + k, sizeof(partly) - k);
	}

	/* "rule" without the comment, which has its own key: no quote to escape */
	bare.note = 0;
	nm_rule_format(&bare, text, sizeof(text));
	if (r->note)
		snprintf(note, sizeof(note), ",\"comment\":\"%s\"", nm_note_text(r->note));
	nm_addr_format(r->family, r->addr, addr, sizeof(addr));
	n = snprintf(buf, size,
		     "{\"rule\":\"%s\",\"family\":\"%s\",\"addr\":\"%s\",\"prefixlen\":%u,"
		     "\"port_lo\":%u,\"port_hi\":%u,\"proto\":\"%s\",\"dir\":\"%s\"%s%s%s%s}",
		     text, r->family == NM_FAM_V4 ? "ipv4" : r->family == NM_FAM_V6 ? "ipv6" : "any",
		     addr, r->plen, r->port.lo, r->port.hi,
		     nm_proto_name(bit, r->family),
		     nm_dir_names[r->dir], enforced < 0 ? "" : ",\"enforced\":",
		     enforced < 0 ? "" : enforced == NM_ENF_YES ? "true" : "false", partly, note);
	return n < 0 ? 0 : (size_t)n < size ? (size_t)n : size - 1;
}

/* The same object as a jansson tree, for output that nests it. */
json_t *nm_rule_json(const struct nm_rule *r, int enforced)
{
	char line[NM_RULE_JSON_MAX];

	nm_rule_json_line(r, enforced, line, sizeof(line));
	return json_loads(line, JSON_DECODE_ANY, NULL);
}

void nm_rule_key(const struct nm_rule *r, struct nm_rule_key *k)
{
	memset(k, 0, sizeof(*k));
	k->dir = r->dir;
	k->family = r->family;
	k->list = r->list;
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
	r->list = k->list;
	r->port = *p;
	if (k->prefixlen <= NM_KEY_ANY_BITS) {
		r->family = NM_FAM_ANY;
		return;
	}
	r->family = k->family;
	r->plen = k->prefixlen - NM_KEY_HDR_BITS;
	memcpy(r->addr, k->addr, 16);
}
