/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The one definition of every layout shared by the BPF programs and the
 * netmonctl command: map keys and values, the event record, enums.
 * Included by bpf/netmonctl.bpf.c (kernel side) and by src/ (user side).
 * Any change to a struct here that alters its size or meaning must bump
 * NM_LAYOUT_VERSION: `load` refuses to upgrade pinned maps of another layout.
 */
#ifndef NETMONCTL_LAYOUT_H
#define NETMONCTL_LAYOUT_H

#ifndef __bpf__
#include <linux/types.h>
#endif

/* 2: IPv6 buckets folded to 20 bits; 3: two generations (config.active_gen,
 * meta per generation, hide flags in port rules); 4: port sets (a prefix
 * with any number of port rules), rules counted per dir; 5: host rules
 * counted in the buckets too, which gate every lookup; buckets stored 16
 * to an element; 6: protocol classes beyond TCP and UDP (a rule with no
 * port covers every protocol), a set's id carries the classes of its
 * port-less rules, the sock_create hook, rules counted by what only the
 * LSM layer sees; 7: rule lists (a scope's deny and allow lists, keyed
 * by the key's list field), rules counted per list, a default verdict per
 * scope, the scope's id in cgroup storage. `load` migrates 2-6 -> 7. */
#define NM_LAYOUT_VERSION 7

/* Rule directions: which address of the socket operation a rule is about. */
enum nm_dir {
	NM_DIR_EGRESS = 0,  /* destination of connect / sendmsg */
	NM_DIR_INGRESS = 1, /* remote peer of recvmsg (connected sockets) */
	NM_DIR_BIND = 2,    /* local address of bind / listen / accept */
	NM_DIR_MAX,
};

/* Address family as stored in keys (not AF_*: small and explicit). */
enum nm_family {
	NM_FAM_ANY = 0, /* only in the `any` rule, which stops before this byte */
	NM_FAM_V4 = 4,
	NM_FAM_V6 = 6,
};

/*
 * Protocol classes: a port rule's protos is a mask of them, and a hook
 * puts every socket in exactly one (nm_proto_class in the BPF file).
 * Ports mean something to TCP and UDP only: a rule with a port matches
 * those two, a rule without one (lo 0, hi 65535) matches its classes
 * whatever the socket's port field says. NM_PROTO_ANY keeps the value
 * layouts 2-5 gave `proto any` (TCP|UDP) and now means every class: no
 * stored value changes meaning for TCP or UDP, and the rule a user wrote
 * as "everything to this address" covers ping and raw sockets too, which
 * it silently did not before layout 6. A slot never holds TCP|UDP as two
 * separate protocols: the grammar names one class or any.
 */
enum nm_proto_bit {
	NM_PROTO_TCP = 1,      /* TCP, MPTCP */
	NM_PROTO_UDP = 2,      /* UDP, UDP-Lite */
	NM_PROTO_ANY = NM_PROTO_TCP | NM_PROTO_UDP,
	NM_PROTO_SCTP = 4,     /* no port rules: see above */
	NM_PROTO_ICMP = 8,     /* ping sockets (ICMP and ICMPv6 echo) */
	NM_PROTO_RAW = 0x10,   /* SOCK_RAW, whatever its protocol number */
	NM_PROTO_OTHER = 0x20, /* every other protocol; only `any` covers it */
	NM_PROTO_SET = 0x80,   /* not a protocol: the slot names a port set */
};
#define NM_PROTO_PORTED NM_PROTO_ANY /* the classes with ports */
#define NM_PROTO_PORTLESS (NM_PROTO_SCTP | NM_PROTO_ICMP | NM_PROTO_RAW | NM_PROTO_OTHER)

/* Every program netmonctl loads; also the index of its counters. */
enum nm_hook {
	NM_HOOK_CONNECT4 = 0,
	NM_HOOK_CONNECT6,
	NM_HOOK_SENDMSG4,
	NM_HOOK_SENDMSG6,
	NM_HOOK_LSM_CONNECT,
	NM_HOOK_LSM_BIND,
	NM_HOOK_LSM_LISTEN,
	NM_HOOK_LSM_ACCEPT,
	NM_HOOK_LSM_SENDMSG,
	NM_HOOK_LSM_RECVMSG,
	NM_HOOK_BIND4, /* cgroup layer; after the LSM hooks so no number moved */
	NM_HOOK_BIND6,
	NM_HOOK_SOCK_CREATE, /* cgroup layer, layout 6 */
	NM_HOOK_MAX,
};
#define NM_HOOK_FIRST_LSM NM_HOOK_LSM_CONNECT

enum nm_mode {
	NM_MODE_ENFORCE = 0,
	NM_MODE_AUDIT = 1,
};

enum nm_verdict {
	NM_VERDICT_ALLOW = 0,
	NM_VERDICT_DENY = 1,
	NM_VERDICT_AUDIT = 2,
};

/*
 * Rule store key. Host rules (/32, /128) live in a hash map (`hosts`), every
 * shorter prefix in an LPM trie (`nets`); both use this key. In a rule,
 * prefixlen counts bits of everything after it:
 *   `any`       -> 8          (dir only: both families)
 *   IPv4 a/L    -> 32 + L     (dir, family, pad, addr[0..3])
 *   IPv6 a/L    -> 32 + L
 * In a map, nm_map_key() decides: a host rule's key carries
 * NM_MAX_PREFIXLEN instead, the length of every query a hook makes, so the
 * hook looks up `hosts` and the trie with one and the same key (the value
 * repeats the rule's own length). IPv4 lives in its own family so a v6
 * rule never covers v4 traffic; a v6 socket talking to ::ffff:a.b.c.d is
 * looked up as IPv4 a.b.c.d.
 */
#define NM_KEY_HDR_BITS 32
#define NM_KEY_ANY_BITS 8
#define NM_MAX_PREFIXLEN (NM_KEY_HDR_BITS + 128) /* every hook query; every hosts key */
struct nm_rule_key {
	__u32 prefixlen;
	__u8 dir;    /* enum nm_dir */
	__u8 family; /* enum nm_family */
	__u16 list;  /* nm_list_id(): whose list the rule is in; 0 the global
			deny list, which layouts 2-6 had alone (this was zero
			padding), so their keys are global deny keys as they are */
	__u8 addr[16];
};

/*
 * Scopes and lists (layout 7). A scope is a cgroup subtree with its own
 * rules: scope 0 is the global one, scopes 1..NM_MAX_SCOPES belong to
 * cgroups (`cgroup PATH`). Each scope has a deny list and an allow list,
 * and the key's list field says which, so every list is looked up with
 * the same key and the same walk, only the list differs. The trie matches
 * the list like the family: a rule of one list never covers another's
 * queries. `any` (prefixlen 8) stops before the list, so it exists in the
 * global deny list only; user space writes `any` for any other list as
 * 0.0.0.0/0 and ::/0, and the walk of a list other than 0 stops at `any`
 * (nm_list_sees_any).
 */
#define NM_MAX_SCOPES 255
#define NM_LISTS (2 * (NM_MAX_SCOPES + 1))
static inline __u16 nm_list_id(__u32 scope, int allow)
{
	return (__u16)((scope & 0xff) * 2 + (allow ? 1 : 0));
}

static inline __u32 nm_list_scope(__u16 list)
{
	return list / 2;
}

static inline int nm_list_allows(__u16 list)
{
	return list & 1;
}

static inline int nm_list_sees_any(__u16 list)
{
	return list == 0;
}

/* A host rule: /32 for IPv4, /128 for IPv6 (`any` has no family). */
static inline int nm_key_is_host(const struct nm_rule_key *k)
{
	return k->family != NM_FAM_ANY &&
	       k->prefixlen == NM_KEY_HDR_BITS + (k->family == NM_FAM_V4 ? 32 : 128);
}

/*
 * The key of a rule in its map, the one definition for both sides: a host
 * rule's hosts key has the query length (what nm_query_init() sets), a
 * prefix's trie key its own. Returns 1 for `hosts`, 0 for `nets`.
 */
static inline int nm_map_key_of(const struct nm_rule_key *rule, struct nm_rule_key *map_key)
{
	int host = nm_key_is_host(rule);

	*map_key = *rule;
	if (host)
		map_key->prefixlen = NM_MAX_PREFIXLEN;
	return host;
}

/*
 * `buckets` (array of __u32) says where the kernel must look at all:
 * slot nm_bucket_slot() counts the entries of `hosts` and `nets` that lie
 * inside one bucket of the address space (IPv4: the top 16 bits, 65536
 * buckets; IPv6: the top 32 bits folded to 20, 2^20 buckets; a trie
 * prefix counts in every bucket it overlaps), and the WIDE slot of each
 * (dir, family) counts prefixes wider than a bucket (IPv6 shorter than
 * /16, and `any`). When both are zero no rule can match and neither map
 * is searched: traffic far from every rule costs two array reads, no hash
 * probe, however many rules exist (layout 5; until 4 hosts were not
 * counted and every lookup probed `hosts`). IPv6 gets the larger fold
 * because a rule set spreads its prefixes over many /32s (the benchmark's
 * 1M set: ~100k): at 2^16 buckets nearly every slot was taken and ::1
 * walked the trie.
 */
#define NM_V4_BUCKET_BITS 16
#define NM_V6_BUCKET_BITS 32
#define NM_V4_BUCKETS (1u << 16)
#define NM_V6_BUCKETS (1u << 20)
#define NM_V4_SLOTS (NM_V4_BUCKETS + 1) /* + the WIDE slot */
#define NM_V6_SLOTS (NM_V6_BUCKETS + 1)
#define NM_DIR_SLOTS (NM_V4_SLOTS + NM_V6_SLOTS)
#define NM_BUCKET_SLOTS_ALL (NM_DIR_MAX * NM_DIR_SLOTS)

/*
 * The slots are stored 16 to an array element: the kernel rounds every
 * array value up to 8 bytes, so one u32 per element took 8 B a slot
 * (25.5 MiB for the 3.3M slots, most of an empty store); 16 per element
 * take 4 B (12.7 MiB), and a hook still reads one element. Slot s is
 * count[s % 16] of element s / 16 (layout 5).
 */
#define NM_BUCKET_GROUP 16
#define NM_BUCKET_GROUPS ((NM_BUCKET_SLOTS_ALL + NM_BUCKET_GROUP - 1) / NM_BUCKET_GROUP)
struct nm_bucket_group {
	__u32 count[NM_BUCKET_GROUP];
};

static inline __u32 nm_bucket_base(__u8 dir, __u8 family)
{
	return (__u32)dir * NM_DIR_SLOTS + (family == NM_FAM_V6 ? NM_V4_SLOTS : 0);
}

static inline __u32 nm_bucket_slot(__u8 dir, __u8 family, const __u8 *addr)
{
	__u32 b = ((__u32)addr[0] << 8) | addr[1];

	if (family == NM_FAM_V6) {
		b = (b << 16) | ((__u32)addr[2] << 8) | addr[3];
		b = (b ^ (b >> 12)) & (NM_V6_BUCKETS - 1);
	}
	return nm_bucket_base(dir, family) + b;
}

static inline __u32 nm_wide_slot(__u8 dir, __u8 family)
{
	return nm_bucket_base(dir, family) + (family == NM_FAM_V6 ? NM_V6_BUCKETS : NM_V4_BUCKETS);
}

/* One port/protocol condition of a rule; lo..hi inclusive, host order. */
struct nm_port_rule {
	__u16 lo;
	__u16 hi;
	__u8 protos; /* enum nm_proto_bit mask */
	__u8 flags;  /* NM_PR_HIDE(g): not a rule of generation g */
};

/*
 * Generations: the hooks see the rule set of generation config.active_gen
 * (0 or 1). A port rule is in both unless a hide flag takes it out of one.
 * An edit writes its rules hidden from the active generation (adds) or
 * hides rules from the other one (dels), switches active_gen in one write,
 * then clears the flags and drops what is hidden from the new active
 * generation. At rest no rule carries a flag. A generation whose meta
 * counts no rule is empty whatever the entries say, which spares an edit
 * the flags when the old or the new set is empty. Whatever instant an edit
 * is killed at, the active generation is exactly the old set or the new
 * one (src/store_txn.c). Bits 2-7 are zero: a rule's verdict is its list.
 */
#define NM_GENS 2
#define NM_PR_HIDE(gen) ((__u8)(1u << (gen)))
#define NM_PR_HIDE_ALL (NM_PR_HIDE(0) | NM_PR_HIDE(1))

static inline int nm_port_rule_in_gen(const struct nm_port_rule *r, __u32 gen)
{
	return !(r->flags & NM_PR_HIDE(gen & 1));
}

/* A rule with no port condition: what covers the port-less classes. */
static inline int nm_port_rule_portless(const struct nm_port_rule *r)
{
	return r->lo == 0 && r->hi == 0xffff;
}

/* The protocol classes rule r covers with no port: what a port set's id
 * carries (nm_set_id_classes) and what only some hooks see. */
static inline __u8 nm_port_rule_portless_classes(const struct nm_port_rule *r)
{
	if (!nm_port_rule_portless(r) || r->protos == NM_PROTO_SET)
		return 0;
	return r->protos == NM_PROTO_ANY ? NM_PROTO_PORTLESS : (r->protos & NM_PROTO_PORTLESS);
}

/*
 * What a socket of class pclass (one NM_PROTO_* bit) at port asks of a
 * port rule: its class (a rule of that class or of ANY holds: a slot
 * holds one class or ANY, never TCP|UDP as two), and the port range the
 * rule must include (the port itself, or every port for a class without
 * ports). The one definition of protocol matching, for the hooks and for
 * `deny test`. Two compares for the class and two for the range per
 * slot: a branch per case inside the hooks' 8-slot loop (ported or not,
 * ANY or not) took the verifier from 23.5k to 629k instructions per
 * program on 6.18 and the 5.10 load under TCG from ~40 s to 365 s; this
 * form verifies in 36k (a mask indexed by protos: 37k).
 */
struct nm_proto_ask {
	__u8 pclass;
	__u16 lo, hi; /* the rule's range must include lo..hi */
};

static inline struct nm_proto_ask nm_proto_ask(__u16 port, __u8 pclass)
{
	/* 0xffff for TCP or UDP (bit 0 or 1), else 0, with no branch */
	__u32 keep = 0u - ((pclass | pclass >> 1) & 1u);
	struct nm_proto_ask a = { pclass, (__u16)(port & keep), (__u16)(port | (~keep & 0xffff)) };

	return a;
}

/* Does port rule r hold for the ask? A set's slot (NM_PROTO_SET) never
 * does: the hooks and `deny test` look into the set instead. */
static inline int nm_port_rule_holds(const struct nm_port_rule *r, const struct nm_proto_ask *a)
{
	return (r->protos == a->pclass || r->protos == NM_PROTO_ANY) && r->lo <= a->lo && r->hi >= a->hi;
}

static inline int nm_port_rule_covers(const struct nm_port_rule *r, __u16 port, __u8 pclass)
{
	struct nm_proto_ask a = nm_proto_ask(port, pclass);

	return nm_port_rule_holds(r, &a);
}

/*
 * Does rule (k, r) need the LSM layer to hold for every socket it covers?
 * The cgroup layer's connect and sendmsg hooks see no raw socket and no
 * unconnected ping send (measured on 6.18); its sock_create hook refuses
 * a socket of a port-less class only where an egress rule covers every
 * address (`any`, 0.0.0.0/0, ::/0: key prefixlen <= NM_KEY_HDR_BITS), as
 * creation has no address yet. Counted per dir in nm_meta.lsm_only_rules.
 */
static inline int nm_rule_lsm_only(const struct nm_rule_key *k, const struct nm_port_rule *r)
{
	return nm_port_rule_portless_classes(r) &&
	       !(k->dir == NM_DIR_EGRESS && k->prefixlen <= NM_KEY_HDR_BITS);
}

/*
 * Which counts of nm_meta a rule's reporting goes to: the global deny
 * list's rules are enforced by whichever layers are attached (dir_rules,
 * lsm_only_rules); a scope's deny rules by the LSM layer, or without it by
 * the cgroup layer at the scope's cgroup alone, which netmonctl always
 * attaches (scoped_rules, scoped_lsm_only); allow rules only make
 * exceptions and are counted in list_rules alone (src/store_internal.h
 * nm_meta_add).
 */
static inline int nm_rule_counts_global(const struct nm_rule_key *k)
{
	return k->list == 0;
}

/*
 * All rules that share one prefix. The prefix length is repeated here
 * because an LPM lookup returns only the value, and the kernel side needs
 * it to continue the walk to the next shorter (covering) prefix.
 *
 * Up to NM_INLINE_RULES port rules sit in the value itself. A prefix with
 * more holds one slot naming a port set instead (nm_port_set_ref): the
 * kernel reads the set's bitmaps, user space its exact rules. A set is
 * written whole before any value names it and never changed after, so the
 * generations work on the naming slot like on any rule: an edit writes a
 * new set and swaps the slot (old one hidden from the other generation,
 * new one from the active), whatever the prefix held before. At rest a
 * value holds at most NM_INLINE_RULES rules or one set, so that any edit
 * fits its old and its new slots at once.
 */
#define NM_PORT_RULES 8
#define NM_INLINE_RULES (NM_PORT_RULES - 1)
struct nm_rule_val {
	__u16 prefixlen; /* == key.prefixlen */
	__u8 count;      /* used entries of r[] */
	__u8 pad;
	struct nm_port_rule r[NM_PORT_RULES];
};

/* A slot naming port set id: lo and hi carry the id, protos NM_PROTO_SET,
 * which no socket's protocol bit matches. Sets come first in a value, so
 * only the first NM_SET_SLOTS slots may name one (at rest r[0]; while an
 * edit runs, the old set and the new one): the kernel looks nowhere else. */
#define NM_SET_SLOTS 2
static inline int nm_port_rule_is_set(const struct nm_port_rule *r)
{
	return r->protos == NM_PROTO_SET;
}

static inline __u32 nm_port_set_id(const struct nm_port_rule *r)
{
	return (__u32)r->lo | (__u32)r->hi << 16;
}

/*
 * A set's bitmaps hold TCP and UDP ports. The port-less classes its rules
 * cover (nm_port_rule_portless_classes) ride in bits 26-29 of its id,
 * the same bits as in protos shifted by NM_SET_CLASS_SHIFT, so the hook
 * needs no second lookup and the classes change with the slot, in the
 * same write as the set (sets never change once named). The low bits
 * count ids. Sets made by layouts 4 and 5 have no classes: `load`
 * re-makes those whose rules have any (src/loader.c).
 */
#define NM_SET_CLASS_SHIFT 24
#define NM_SET_SEQ_MASK ((1u << NM_SET_CLASS_SHIFT) - 1)
static inline __u8 nm_set_id_classes(__u32 id)
{
	return (__u8)(id >> NM_SET_CLASS_SHIFT) & NM_PROTO_PORTLESS;
}

static inline struct nm_port_rule nm_port_set_ref(__u32 id)
{
	struct nm_port_rule r = { (__u16)id, (__u16)(id >> 16), NM_PROTO_SET, 0 };

	return r;
}

/*
 * `port_sets`: id -> one bit per port and protocol (TCP, UDP), what the
 * kernel reads. `set_rules`: (id, rule) -> 0, the exact rules of each set,
 * which only user space reads (listing, deleting one rule of many).
 * Sets exist only for prefixes with more than NM_INLINE_RULES port rules.
 */
#define NM_PORT_WORDS (65536 / 64)
struct nm_port_set {
	__u64 bits[2][NM_PORT_WORDS]; /* [0] TCP, [1] UDP; bit p of port p */
};

static inline __u32 nm_port_set_proto(__u8 pbit)
{
	return pbit == NM_PROTO_UDP;
}

struct nm_set_rule_key {
	__u32 id;
	__u16 lo;
	__u16 hi;
	__u8 protos;
	__u8 pad[3];
};
#define NM_MAX_SETS 2048        /* port_sets entries: sets in use, old and new during an edit */
#define NM_MAX_SET_RULES 131072 /* set_rules entries, likewise: 65,536 replaced by 65,536 */

/*
 * `rule_hits`: how many operations each rule decided (a deny rule that
 * denied or audited, an allow rule that let one through), keyed by the
 * rule as stored: its key with the rule's own prefixlen (the address is
 * the rule's, masked to it) and its port rule, flags zero. A rule of a
 * port set counts under the one port and class it matched, with
 * NM_PROTO_SET added to protos (lo == hi, or 0-65535 for a class without
 * ports): user space adds those up for each rule of the set. Entries are
 * made at a rule's first hit; user space drops those of rules an edit
 * removed. A hit that finds the map full is not counted
 * (`deny list` says the counts are partial then).
 */
struct nm_hit_key {
	struct nm_rule_key key;
	__u16 lo;
	__u16 hi;
	__u8 protos;
	__u8 pad[3];
};
#define NM_MAX_HIT_RULES 65536

/*
 * `rule_notes`: each rule's comment (`comment TEXT`), keyed like
 * `rule_hits` (protos the rule's own). No program reads it: user space
 * makes it at the first comment, so a store without comments has none.
 * The text is NUL-terminated printable ASCII without `"` or `\`, so it is
 * printed inside quotes and JSON strings as it is.
 */
#define NM_NOTE_MAX 64 /* bytes of a text, its NUL included */
struct nm_rule_note {
	char text[NM_NOTE_MAX];
};
#define NM_MAX_NOTES 65536

/*
 * The kernel walks from the most specific matching prefix to each shorter
 * covering one. A chain can be at most as long as the number of distinct
 * prefix lengths in use for one (dir, family) plus `any`; user space keeps
 * that number <= NM_MAX_DEPTH (IPv4 never reaches it: 33 lengths + any).
 */
#define NM_MAX_DEPTH 40

/*
 * nm_event.rule_prefixlen when no rule matched but the hook denied anyway
 * because it could not finish its check (fail closed), and why in
 * rule_port.lo (enum nm_fail_closed). Counted as a deny.
 */
#define NM_RULE_FAIL_CLOSED 0xffff
/* nm_event.rule_prefixlen when no rule matched and the scope's default
 * denied (`policy default deny`). */
#define NM_RULE_DEFAULT 0xfffe
enum nm_fail_closed {
	NM_FC_WALK_LIMIT = 1, /* more covering prefixes than NM_MAX_DEPTH */
	NM_FC_ANY_SOURCE = 2, /* any-address destination whose source comes from
				 ancillary data the LSM hook cannot read */
};

/* Single-entry array read by every hook. */
struct nm_config {
	__u32 layout_version;
	__u32 mode;         /* enum nm_mode */
	__u32 tool_version; /* NM_VERSION_CODE of the netmonctl that loaded it */
	__s32 lsm_errno;    /* 0: BPF-LSM loaded; else why not (-errno), probed at load */
	__u64 loaded_ns;    /* CLOCK_REALTIME of the first load */
	__u64 upgraded_ns;  /* CLOCK_REALTIME of the last in-place upgrade */
	__u32 ctx_helpers;  /* NM_HELPER_* the cgroup hooks were loaded with */
	__u32 lsm_enabled;  /* LSM hooks decide only while 1: see `detach lsm` */
	__u32 active_gen;   /* the generation the hooks see; its switch (0 <-> 1,
			       one byte) is the commit of every edit */
	__u8 default_deny;  /* the global scope's default: 1 << dir where an
			       operation no rule matches is denied (layout 7) */
	__u8 pad;
	__u16 scope_levels; /* 1 << L: some scope's cgroup is at level L (the
			       cgroup2 root is 0), where the LSM hooks look */
};

/*
 * What the cgroup programs read from their cgroup's storage (one value per
 * cgroup, shared by the programs: BPF_MAP_TYPE_CGROUP_STORAGE keyed by the
 * cgroup id alone, 5.9 and newer). A program attached where the cgroup
 * layer is attached finds it zero, scope 0: the global rules. At a scope's
 * cgroup, user space writes the scope's id and default right after the
 * attach; until then the program checks the global rules there, which is
 * stricter, never weaker.
 */
struct nm_scope_ctx {
	__u16 scope;        /* 0 global, else 1..NM_MAX_SCOPES */
	__u8 default_deny;  /* 1 << dir: what no rule of the scope matches */
	__u8 pad[5];
};

/*
 * `scope_ids`: cgroup id -> nm_scope_ctx, for the LSM hooks, which find
 * the scopes of the task's cgroup by its ancestors' ids at the levels
 * config.scope_levels names, walking up from the task's cgroup. Written from the record like the cgroup storage.
 */
#define NM_MAX_SCOPE_LEVEL 16 /* levels 1..15 */
#define NM_MAX_PATH_SCOPES 8  /* scopes on one cgroup path, the global one not counted */
#define NM_MAX_CGROUP_DEPTH 32 /* levels the LSM hooks walk up from a task's cgroup */

/*
 * `scopes`: scope id -> its record, user space only (the programs read
 * nm_scope_ctx). The record is the truth; the cgroup storage is written
 * from it, so a killed command leaves nothing the next one cannot redo.
 */
#define NM_SCOPE_PATH_MAX 240
struct nm_scope {
	__u64 cgroup_id;
	__u8 default_deny;
	__u8 pad[7];
	char path[NM_SCOPE_PATH_MAX]; /* as given when made, below the cgroup2 mount */
};
#define NM_DEFAULT_DIRS ((1u << NM_DIR_EGRESS) | (1u << NM_DIR_BIND)) /* `policy default deny` with no dir */

/*
 * Book-keeping owned by user space: counts that would otherwise need a walk
 * over a million-entry map. One entry per generation (NM_MAP_META has NM_GENS),
 * written before the switch, so the active one counts exactly what the
 * hooks see. The kernel reads only `rules`: 0 means the generation is empty.
 * len_count[dir][fam][L] counts prefixes of length L (fam 0 = v4, 1 = v6;
 * the `any` rule is counted in rules/prefixes only).
 */
struct nm_meta {
	__u64 rules;
	__u64 prefixes; /* entries in hosts + nets */
	__u64 hosts;    /* entries in hosts */
	__u32 len_count[NM_DIR_MAX][2][129];
	__u64 dir_rules[NM_DIR_MAX]; /* rules per enum nm_dir: what a layer cannot enforce */
	__u64 lsm_only_rules[NM_DIR_MAX]; /* of those, rules with port-less classes
					     the cgroup layer cannot see (nm_rule_lsm_only) */
	__u64 scoped_rules[NM_DIR_MAX];    /* the scopes' deny rules per dir (layout 7) */
	__u64 scoped_lsm_only[NM_DIR_MAX]; /* of those, nm_rule_lsm_only */
	__u32 list_rules[NM_LISTS]; /* rules per list: the hooks skip an empty list */
};

/* Per-CPU, per-hook counters. */
struct nm_counters {
	__u64 checked;
	__u64 denied;
	__u64 audited;
	__u64 rb_drops;
};

/* Ring buffer record, emitted on every deny and audit. Fully zeroed first. */
#define NM_COMM_LEN 16
struct nm_event {
	__u64 ts_ns;     /* bpf_ktime_get_ns(): CLOCK_MONOTONIC */
	__u64 cgroup_id; /* 0 where the kernel gives the hook no helper for it */
	__u32 pid;       /* tgid */
	__u32 tid;
	__u32 uid;
	__u8 hook;     /* enum nm_hook */
	__u8 family;   /* NM_FAM_V4 / NM_FAM_V6 of the checked address */
	__u8 protocol; /* IPPROTO_TCP / IPPROTO_UDP / other */
	__u8 verdict;  /* enum nm_verdict */
	char comm[NM_COMM_LEN];
	__u8 laddr[16]; /* local address, zero when unknown */
	__u8 raddr[16]; /* the checked address (remote, or local for bind) */
	__u16 lport;    /* host order, 0 when unknown */
	__u16 rport;    /* the checked port, host order */
	__u8 dir;       /* enum nm_dir of the matched rule */
	__u8 pad;
	__u16 scope;    /* the scope that decided: 0 global (layout 7) */
	struct nm_port_rule rule_port; /* the port rule that matched */
	__u16 rule_prefixlen;          /* key prefixlen of the matched prefix */
};

/* Pinned object names (below <pin-dir>/). */
#define NM_MAP_HOSTS "hosts"
#define NM_MAP_NETS "nets"
#define NM_MAP_BUCKETS "buckets"
#define NM_MAP_CONFIG "config"
/* Renamed with each layout that an older netmonctl must not edit (2:
 * "meta", 3: "gen_meta", 4: "rule_counts", 5: "rule_totals", 6: "rule_tally"): it finds no meta of its name
 * and refuses, rather than edit rules it cannot read (layout 3 would take
 * a port set's slot for a rule; layout 4 would add host rules without
 * counting them in the buckets, and layout 5's hooks would never see
 * them; layout 5 would make port sets without their classes; layout 6
 * would list and edit a scope's rules as global ones). `load`
 * moves the pin. */
#define NM_MAP_META "rule_lists"
#define NM_MAP_META_LAYOUT2 "meta"
#define NM_MAP_META_LAYOUT3 "gen_meta"
#define NM_MAP_META_LAYOUT4 "rule_counts"
#define NM_MAP_META_LAYOUT5 "rule_totals"
#define NM_MAP_META_LAYOUT6 "rule_tally"
#define NM_MAP_SCOPES "scopes"
#define NM_MAP_SCOPE_CTX "scope_ctx"
#define NM_MAP_SCOPE_IDS "scope_ids"
#define NM_MAP_RULE_HITS "rule_hits"
#define NM_MAP_RULE_NOTES "rule_notes"
#define NM_MAP_COUNTERS "counters"
#define NM_MAP_PORT_SETS "port_sets"
#define NM_MAP_SET_RULES "set_rules"
#define NM_MAP_EVENTS "events"

/* Bits of the rodata `nm_ctx_helpers`: helpers a cgroup hook may call. */
#define NM_HELPER_PID_TGID (1u << 0)
#define NM_HELPER_COMM (1u << 1)
#define NM_HELPER_CGROUP_ID (1u << 2)
#define NM_HELPER_LOOP (1u << 3) /* bpf_loop (5.17+): the LSM hooks check scopes */

#define NM_LAYOUT_CHECK(type, size) \
	_Static_assert(sizeof(type) == (size), #type " layout changed: bump NM_LAYOUT_VERSION")
NM_LAYOUT_CHECK(struct nm_rule_key, 24);
NM_LAYOUT_CHECK(struct nm_port_rule, 6);
NM_LAYOUT_CHECK(struct nm_rule_val, 52);
NM_LAYOUT_CHECK(struct nm_config, 48);
NM_LAYOUT_CHECK(struct nm_scope_ctx, 8);
NM_LAYOUT_CHECK(struct nm_scope, 256);
NM_LAYOUT_CHECK(struct nm_hit_key, 32);
NM_LAYOUT_CHECK(struct nm_rule_note, NM_NOTE_MAX);
NM_LAYOUT_CHECK(struct nm_port_set, 16384);
NM_LAYOUT_CHECK(struct nm_set_rule_key, 12);
NM_LAYOUT_CHECK(struct nm_meta, 24 + 4 * NM_DIR_MAX * 2 * 129 + 32 * NM_DIR_MAX + 4 * NM_LISTS);
NM_LAYOUT_CHECK(struct nm_counters, 32);
NM_LAYOUT_CHECK(struct nm_bucket_group, 64);
NM_LAYOUT_CHECK(struct nm_event, 96);

#endif
