#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""How many trie nodes one kernel LPM lookup visits, for the benchmark sets.

  triedepth.py [--cidr-only] RULES.txt ADDR...   (RULES.txt from genrules.py)

--cidr-only leaves out host rules (/32, /128): the trie of a store that
keeps exact hosts in a hash map and only CIDRs in the LPM trie.

Models the kernel's BPF_MAP_TYPE_LPM_TRIE (kernel/bpf/lpm_trie.c): a binary
trie where a node is either a stored prefix or an intermediate node at the
first bit where two subtrees differ; a lookup walks from the root while the
node's prefix matches the key and stops at the first node that does not.
Keys use netmonctl's layout (bpf/netmonctl.h): 32 header bits (dir, family,
pad) then the address, so prefixlen = 32 + L. Prints one JSON object:
{ADDR: {"nodes": N, "found_prefixlen": P or null}} per address, plus the
walk netmonctl does on top (one more full lookup per covering prefix whose
port rules do not match).
"""
import bisect
import json
import socket
import sys

BITS = 160  # key data: dir, family, pad[2], addr[16]


def key_of(addr_text):
    """(value, prefixlen) of a rule's prefix in the trie's bit order."""
    a, _, plen = addr_text.partition("/")
    fam = 6 if ":" in a else 4
    raw = socket.inet_pton(socket.AF_INET6 if fam == 6 else socket.AF_INET, a)
    plen = int(plen) if plen else 8 * len(raw)
    addr = int.from_bytes(raw.ljust(16, b"\0"), "big")  # v4 in the first 4 bytes
    hdr = (0 << 24) | (fam << 16)  # dir 0 (egress), family, pad 0
    return (hdr << 128) | addr, 32 + plen


def bit(v, i):
    return (v >> (BITS - 1 - i)) & 1


def common_len(a, b, limit):
    x = (a ^ b) >> (BITS - limit) if limit else 0
    return limit - x.bit_length() if x else limit


def lookup(vals, plens, q, qlen=BITS):
    """vals/plens: the keys sorted by (value, prefixlen). Returns (nodes
    visited, prefixlen found or None). A subtree is a contiguous range."""
    nodes, found, i, j = 0, None, 0, len(vals)
    while i < j:
        nodes += 1
        # This subtree's node: its shortest prefix if that covers all the
        # others, else an intermediate node at their common length.
        lcp = common_len(vals[i], vals[j - 1], min(plens[i:j]))
        if common_len(vals[i], q, min(lcp, qlen)) < lcp:
            break  # the node's prefix does not match the key: stop here
        while i < j and plens[i] == lcp:
            found = lcp  # a stored prefix, not an intermediate node
            i += 1
        if lcp == BITS or lcp >= qlen or i == j:
            break
        # Children by bit `lcp`: 0s sort before 1s inside the range.
        split = bisect.bisect_left(vals, (vals[i] >> (BITS - lcp) << (BITS - lcp)) | (1 << (BITS - 1 - lcp)), i, j)
        i, j = (i, split) if bit(q, lcp) == 0 else (split, j)
    return nodes, found


def main():
    args = sys.argv[1:]
    cidr_only = bool(args) and args[0] == "--cidr-only"
    if cidr_only:
        args = args[1:]
    rules = args[0]
    keys = set()
    with open(rules) as f:
        for line in f:
            if line.strip():
                k = key_of(line.split()[0])
                if cidr_only and k[1] == 32 + (128 if ":" in line.split()[0] else 32):
                    continue
                keys.add(k)
    keys = sorted(keys)
    vals = [v for v, _ in keys]
    plens = [p for _, p in keys]
    out = {}
    for a in args[1:]:
        q, _ = key_of(a)
        n, found = lookup(vals, plens, q)
        out[a] = {"nodes": n, "found_prefixlen": found}
        # netmonctl's walk when no port rule matches: look up again with
        # prefixlen = found - 1 until nothing covers the address.
        lookups, total = 1, n
        while found is not None and found > 8:
            n, found = lookup(vals, plens, q, found - 1)
            lookups, total = lookups + 1, total + n
        out[a].update({"walk_lookups": lookups, "walk_nodes": total})
    json.dump(out, sys.stdout)
    print()


if __name__ == "__main__":
    main()
