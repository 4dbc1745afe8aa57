#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Rule sets for the store tests and benchmarks, of one shape: IPv4 hosts
with a port (70%), IPv4 /24s (15%) and IPv6 /64s (15%), ports 1-999 and
1-5; distinct rules, reproducible from a seed.

  ruleset.py bulk N SEED            N rules, sorted, on stdout
  ruleset.py sets N SEED DIR        DIR/A: N rules; DIR/B: N rules, half of
                                    A's and half new; DIR/more: N/2 rules in
                                    neither; probe samples "ADDR PORT" of
                                    IPv4 host rules: DIR/a_only (50),
                                    DIR/b_only (50), DIR/both (10), and
                                    DIR/s0: the rules of DIR/both
"""
import random
import sys


def gen(rng, k, avoid):
    out = set()
    while len(out) < k:
        r = rng.random()
        if r < 0.7:
            s = "10.%d.%d.%d port %d" % (rng.randrange(256), rng.randrange(256), rng.randrange(256),
                                         rng.randrange(1, 1000))
        elif r < 0.85:
            s = "172.%d.%d.0/24 port %d" % (rng.randrange(16, 32), rng.randrange(256), rng.randrange(1, 6))
        else:
            s = "2001:db8:%x:%x::/64 port %d" % (rng.randrange(65536), rng.randrange(65536),
                                                 rng.randrange(1, 6))
        if s not in avoid:
            out.add(s)
    return out


def write(path, lines):
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")


def probe(rule):
    addr, _, port = rule.split()
    return "%s %s" % (addr, port)


def sets(rng, n, d):
    a = gen(rng, n, set())
    shared = set(rng.sample(sorted(a), n // 2))
    b = shared | gen(rng, n - n // 2, a)
    more = gen(rng, n // 2, a | b)
    hosts = lambda s: sorted(r for r in s if r.startswith("10."))
    both = rng.sample(hosts(shared), 10)
    write(d + "/A", sorted(a))
    write(d + "/B", sorted(b))
    write(d + "/more", sorted(more))
    write(d + "/s0", both)
    write(d + "/both", [probe(r) for r in both])
    write(d + "/a_only", [probe(r) for r in rng.sample(hosts(a - b), 50)])
    write(d + "/b_only", [probe(r) for r in rng.sample(hosts(b - a), 50)])


def main():
    if len(sys.argv) < 4 or sys.argv[1] not in ("bulk", "sets"):
        sys.stderr.write(__doc__)
        return 2
    rng = random.Random(int(sys.argv[3]))
    if sys.argv[1] == "bulk":
        sys.stdout.write("\n".join(sorted(gen(rng, int(sys.argv[2]), set()))) + "\n")
    else:
        sets(rng, int(sys.argv[2]), sys.argv[4])
    return 0


if __name__ == "__main__":
    sys.exit(main())
