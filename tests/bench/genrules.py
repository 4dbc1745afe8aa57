#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Deterministic rule sets for the netmonctl benchmarks.

One seed gives one ordered list of rules; a set of size N is the first N
rules of that list, so the 1k set is part of the 100k set, which is part of
the 1M set. Every address comes from private, shared, benchmarking or
documentation ranges; the benchmark targets (IN_SET_V4/IN_SET_V6, and
loopback) are never covered by any rule of the mix.

For every size it writes, under OUTDIR:
  rules-N.txt    netmonctl `deny add file` input, one rule per line
  batch-N.txt    `bpftool batch file` input: one `map update` per prefix,
                 same key/value bytes netmonctl writes (bpf/netmonctl.h)
  nft-N.nft      an inet table with the same entries as two concatenated
                 interval sets (addr . l4proto . dport) in an output chain
hash-batch.txt fills the reference hash map (tests/bench/ref.bpf.c) with the
keys of the first 1024 prefixes, and walk.txt: prefixes nesting around the in-set targets whose port rules
never match the probe port, so a lookup there walks the whole chain.

Equivalence with nftables: a concatenated interval set refuses an element
whose first or last point lies inside an element already present, so the
nft elements are written most specific first, and the mix leaves out the
few rules nft cannot hold next to another (same prefix with overlapping
ports, or nested prefixes sharing their first or last address with
overlapping ports). netmonctl and bpftool get exactly the same rules.
"""
import argparse
import bisect
import ipaddress
import random
import struct
import sys

# The probe targets: inside the densest part of the set, but not denied.
IN_SET_V4 = "10.123.45.67"
IN_SET_V6 = "2001:db8:1234:5678::9"

NM_KEY_HDR_BITS = 32
NM_FAM = {4: 4, 6: 6}
NM_PORT_RULES = 8
PROTO_BITS = {"tcp": 1, "udp": 2, "any": 3}

# (network, weight) pools; weights roughly follow their size.
V4_POOLS = [
    ("10.0.0.0/8", 16.0),  # RFC 1918
    ("100.64.0.0/10", 4.0),  # RFC 6598 shared
    ("172.16.0.0/12", 1.0),  # RFC 1918
    ("198.18.0.0/15", 0.2),  # RFC 2544 benchmarking
    ("192.168.0.0/16", 0.1),  # RFC 1918
    ("192.0.2.0/24", 0.01),  # RFC 5737 documentation
    ("198.51.100.0/24", 0.01),
    ("203.0.113.0/24", 0.01),
]
V6_POOLS = [
    ("2001:db8::/32", 4.0),  # RFC 3849 documentation
    ("fd00::/8", 2.0),  # RFC 4193 unique local
    ("3fff::/20", 1.0),  # RFC 9637 documentation
]
# Prefix lengths of CIDR rules, with weights: mostly small blocks, a few big.
V4_LENS = {12: 0.02, 16: 0.1, 18: 0.3, 20: 0.6, 21: 0.6, 22: 1.2, 23: 1.2, 24: 6,
           25: 2, 26: 3, 27: 4, 28: 6, 29: 8, 30: 8, 31: 2}
V6_LENS = {32: 0.05, 36: 0.1, 40: 0.3, 44: 0.5, 48: 4, 52: 1, 56: 4, 60: 1, 64: 8,
           72: 0.5, 80: 1, 96: 1, 112: 2, 120: 1, 124: 1, 127: 0.5}
KINDS = [("v4host", 0.50), ("v4cidr", 0.18), ("v6host", 0.22), ("v6cidr", 0.10)]
COMMON_PORTS = [22, 23, 25, 53, 80, 110, 123, 143, 389, 443, 445, 465, 587, 993,
                995, 1433, 1521, 2049, 3306, 3389, 5432, 5900, 6379, 8080, 8443,
                9200, 11211, 27017]


class Table:
    """Weighted choice; cumulative weights so one pick is a bisect."""

    def __init__(self, items):
        items = list(items.items()) if isinstance(items, dict) else list(items)
        self.keys = [k for k, _ in items]
        self.cum, t = [], 0.0
        for _, w in items:
            t += w
            self.cum.append(t)
        self.total = t

    def pick(self, rng):
        return self.keys[min(bisect.bisect_right(self.cum, rng.random() * self.total), len(self.keys) - 1)]


class Rule:
    __slots__ = ("fam", "net", "plen", "lo", "hi", "proto", "_text")

    def __init__(self, fam, net, plen, lo, hi, proto):
        self.fam, self.net, self.plen = fam, net, plen  # net: int address
        self.lo, self.hi, self.proto = lo, hi, proto
        self._text = None

    @property
    def bits(self):
        return 32 if self.fam == 4 else 128

    @property
    def first(self):
        return self.net

    @property
    def last(self):
        return self.net | ((1 << (self.bits - self.plen)) - 1)

    def covers(self, fam, addr):
        return fam == self.fam and self.first <= addr <= self.last

    def addr_text(self):
        a = str(ipaddress.IPv4Address(self.net) if self.fam == 4 else ipaddress.IPv6Address(self.net))
        return a if self.plen == self.bits else "%s/%d" % (a, self.plen)

    def text(self):
        if self._text:
            return self._text
        a = str(ipaddress.ip_address(self.net) if self.fam == 4 else ipaddress.IPv6Address(self.net))
        s = a if self.plen == self.bits else "%s/%d" % (a, self.plen)
        if (self.lo, self.hi) != (0, 65535):
            s += " port %d" % self.lo if self.lo == self.hi else " port %d-%d" % (self.lo, self.hi)
        if self.proto != "any":
            s += " proto " + self.proto
        self._text = s
        return s


def gen_ports(rng):
    x = rng.random()
    if x < 0.40:
        lo, hi = 0, 65535
    elif x < 0.75:
        lo = hi = rng.choice(COMMON_PORTS) if rng.random() < 0.7 else rng.randrange(1, 65536)
    else:
        lo = rng.randrange(1024, 60000)
        hi = lo + rng.choice([1, 9, 99, 255, 999, 4095])
    x = rng.random()
    proto = "tcp" if x < 0.40 else "udp" if x < 0.65 else "any"
    return lo, hi, proto


T_KINDS, T_V4_LENS, T_V6_LENS = Table(KINDS), Table(V4_LENS), Table(V6_LENS)


def gen_candidate(rng, pools4, pools6):
    kind = T_KINDS.pick(rng)
    if kind.startswith("v4"):
        fam, pools, bits = 4, pools4, 32
        plen = 32 if kind == "v4host" else T_V4_LENS.pick(rng)
    else:
        fam, pools, bits = 6, pools6, 128
        plen = 128 if kind == "v6host" else T_V6_LENS.pick(rng)
    while True:
        pool = pools.pick(rng)
        if pool.prefixlen <= plen:
            break
    span = plen - pool.prefixlen
    net = int(pool.network_address) | (rng.getrandbits(span) << (bits - plen) if span else 0)
    lo, hi, proto = gen_ports(rng)
    return Rule(fam, net, plen, lo, hi, proto)


def protos_of(p):
    return ("tcp", "udp") if p == "any" else (p,)


def overlap(a, b):
    return a.lo <= b.hi and b.lo <= a.hi and set(protos_of(a.proto)) & set(protos_of(b.proto))


class Mix:
    """The ordered rule list, with the bookkeeping that keeps it nft-safe."""

    def __init__(self, seed, count):
        rng = random.Random(seed)
        pools4 = Table([(ipaddress.ip_network(n), w) for n, w in V4_POOLS])
        pools6 = Table([(ipaddress.ip_network(n), w) for n, w in V6_POOLS])
        targets = [(4, int(ipaddress.ip_address(IN_SET_V4))),
                   (6, int(ipaddress.ip_address(IN_SET_V6)))]
        self.rules = []
        by_key = {}  # (fam, net, plen) -> [rules]
        ends = {}  # (fam, 'first'|'last', addr) -> [rules]
        self.dropped = 0
        while len(self.rules) < count:
            r = gen_candidate(rng, pools4, pools6)
            if any(r.covers(f, a) for f, a in targets):
                self.dropped += 1
                continue
            key = (r.fam, r.net, r.plen)
            same = by_key.get(key, [])
            if len(same) >= NM_PORT_RULES or any(overlap(r, o) for o in same):
                self.dropped += 1
                continue
            clash = False
            for tag, point in (("first", r.first), ("last", r.last)):
                for o in ends.get((r.fam, tag, point), ()):
                    if o.plen != r.plen and overlap(r, o):
                        clash = True
            if clash:
                self.dropped += 1
                continue
            by_key.setdefault(key, []).append(r)
            for tag, point in (("first", r.first), ("last", r.last)):
                ends.setdefault((r.fam, tag, point), []).append(r)
            self.rules.append(r)


def walk_rules():
    """Nested prefixes around the in-set targets; their ports never match."""
    out = []
    for addr, lens in ((IN_SET_V4, (8, 12, 16, 20, 24, 28, 30)),
                       (IN_SET_V6, (32, 48, 56, 64, 96, 112, 120))):
        for plen in lens:
            net = ipaddress.ip_network("%s/%d" % (addr, plen), strict=False)
            out.append("%s port 1-2" % net)
    return out


def key_bytes(fam, net, plen):
    addr = net.to_bytes(4 if fam == 4 else 16, "big").ljust(16, b"\0")
    return struct.pack("<IBBxx", NM_KEY_HDR_BITS + plen, 0, NM_FAM[fam]) + addr


def val_bytes(plen, rules):
    body = b"".join(struct.pack("<HHBx", r.lo, r.hi, PROTO_BITS[r.proto]) for r in rules)
    body = body.ljust(6 * NM_PORT_RULES, b"\0")
    return struct.pack("<HBx", NM_KEY_HDR_BITS + plen, len(rules)) + body


def hexs(b):
    return b.hex(" ")


def write_sizes(mix, sizes, outdir, map_path, nft_table):
    for n in sizes:
        rules = mix.rules[:n]
        with open("%s/rules-%d.txt" % (outdir, n), "w") as f:
            f.writelines(r.text() + "\n" for r in rules)
        groups = {}
        for r in rules:
            groups.setdefault((r.fam, r.net, r.plen), []).append(r)
        with open("%s/batch-%d.txt" % (outdir, n), "w") as f:
            for (fam, net, plen), rs in groups.items():
                f.write("map update pinned %s key hex %s value hex %s\n"
                        % (map_path, hexs(key_bytes(fam, net, plen)), hexs(val_bytes(plen, rs))))
        elems = {4: [], 6: []}
        for r in sorted(rules, key=lambda r: (-r.plen, r.hi - r.lo)):
            a = r.addr_text()
            port = "%d" % r.lo if r.lo == r.hi else "%d-%d" % (r.lo, r.hi)
            for p in protos_of(r.proto):
                elems[r.fam].append("%s . %s . %s" % (a, p, port))
        # One `add element` per set: nft sizes its netlink receive buffer by
        # command count, and many smaller commands overflow it (ENOBUFS).
        with open("%s/nft-%d.nft" % (outdir, n), "w") as f:
            f.write("table inet %s {\n" % nft_table)
            f.write("  set d4 { type ipv4_addr . inet_proto . inet_service; flags interval; }\n")
            f.write("  set d6 { type ipv6_addr . inet_proto . inet_service; flags interval; }\n")
            f.write("  chain out {\n    type filter hook output priority 0; policy accept;\n")
            f.write("    ip daddr . meta l4proto . th dport @d4 drop\n")
            f.write("    ip6 daddr . meta l4proto . th dport @d6 drop\n  }\n}\n")
            for fam in (4, 6):
                if elems[fam]:
                    f.write("add element inet %s d%d { %s }\n" % (nft_table, fam, ", ".join(elems[fam])))
        st = stats(rules)
        st["prefixes"] = len(groups)
        st["nft_elements"] = len(elems[4]) + len(elems[6])
        print("size=%d %s" % (n, " ".join("%s=%s" % kv for kv in st.items())))


def stats(rules):
    """Shape of a set: kinds, and how many host rules sit under a CIDR."""
    v4 = sum(r.fam == 4 for r in rules)
    cidr = sum(r.plen != r.bits for r in rules)
    return {"v4": v4, "v6": len(rules) - v4, "cidr": cidr,
            "port_any": sum((r.lo, r.hi) == (0, 65535) for r in rules),
            "ranges": sum(r.lo != r.hi and (r.lo, r.hi) != (0, 65535) for r in rules),
            "lens_v4": len({r.plen for r in rules if r.fam == 4}),
            "lens_v6": len({r.plen for r in rules if r.fam == 6})}


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--sizes", default="1000,100000,1000000")
    ap.add_argument("--outdir", required=True)
    ap.add_argument("--map-path", required=True, help="pinned LPM map for the batch files")
    ap.add_argument("--nft-table", required=True)
    ap.add_argument("--hash-map-path", required=True, help="pinned reference hash map")
    a = ap.parse_args()
    sizes = [int(s) for s in a.sizes.split(",") if s and int(s) > 0]
    mix = Mix(a.seed, max(sizes))
    write_sizes(mix, sizes, a.outdir, a.map_path, a.nft_table)
    with open("%s/hash-batch.txt" % a.outdir, "w") as f:
        seen = set()
        for r in mix.rules:
            k = key_bytes(r.fam, r.net, r.plen)[4:]
            if k not in seen:
                seen.add(k)
                f.write("map update pinned %s key hex %s value hex 01 00 00 00\n" % (a.hash_map_path, hexs(k)))
            if len(seen) == 1024:
                break
    with open("%s/walk.txt" % a.outdir, "w") as f:
        f.writelines(l + "\n" for l in walk_rules())
    print("dropped=%d (nft-unsafe or covering a target)" % mix.dropped)
    return 0


if __name__ == "__main__":
    sys.exit(main())
