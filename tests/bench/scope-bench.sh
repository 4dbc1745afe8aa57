#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# What scopes cost on the cgroup layer: a connect from a cgroup with 0, 1,
# 2 and 4 levels of scopes above it (each scope a cgroup of its own with a
# rule far from the target), under the benchmark's global rule set, from
# the kernel's own statistics (bpf_stats). Every attachment of connect4 is
# the same program, so its run_time_ns over the connects made is the whole
# cost of one connect, every level included. The depths are interleaved
# round by round. As root:
#
#   tests/bench/scope-bench.sh [--rounds N] [--count N] [--size N] [--out FILE]
#
# Targets (UDP connects the rules allow, so every check runs in full):
#   far 127.0.0.1:9 (no rule near it)   in 10.123.45.67:9 (inside the dense
#   area of the global set: 5 covering prefixes whose port rules do not match)
# Prints ns per connect (median of rounds) per depth, the ratio to depth 0,
# and the extra ns per scope level.
# Touches: /sys/fs/bpf/nmsb-<pid>, scratch cgroups <cgroup2>/nmsb-<pid>/...,
# a network namespace nmsb-<pid>, kernel.bpf_stats_enabled (restored), a
# mktemp dir.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
ROUNDS=7
COUNT=20000
SIZE=1000000
OUT=$SRC/build/scope-bench.json
while [ $# -gt 0 ]; do
	case $1 in
	--rounds) ROUNDS=$2; shift ;;
	--count) COUNT=$2; shift ;;
	--size) SIZE=$2; shift ;;
	--out) OUT=$2; shift ;;
	*) sed -n '3,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 2 ;;
	esac
	shift
done

NM=${NETMONCTL:-$SRC/build/netmonctl}
PROBE=${NMPROBE:-$SRC/build/nmprobe}
CGROOT=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
PIN=/sys/fs/bpf/nmsb-$$
TOP=$CGROOT/nmsb-$$
NS=nmsb-$$
WORK=$(mktemp -d)
STATS_WAS=$(sysctl -n kernel.bpf_stats_enabled)
DEPTHS=(0 1 2 4)
declare -A ADDR=([far]=127.0.0.1 [in]=10.123.45.67)
# the cgroup at each depth: TOP, then a chain of scopes below it
declare -A CG=([0]=$TOP [1]=$TOP/s1 [2]=$TOP/s1/s2 [3]=$TOP/s1/s2/s3 [4]=$TOP/s1/s2/s3/s4)

nm() { "$NM" --pin-dir "$PIN" "$@"; }

cleanup() {
	local d
	sysctl -qw kernel.bpf_stats_enabled="$STATS_WAS"
	"$NM" --pin-dir "$PIN" unload >/dev/null 2>&1 || true
	for d in 4 3 2 1 0; do
		rmdir "${CG[$d]}" 2>/dev/null || true
	done
	ip netns del "$NS" 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

ip netns add "$NS"
ip -n "$NS" link set lo up
ip -n "$NS" addr add "${ADDR[in]}/32" dev lo
python3 "$HERE/genrules.py" --sizes "$SIZE" --outdir "$WORK" --map-path /unused \
	--nft-table unused --hash-map-path /unused >/dev/null
cat "$WORK/walk.txt" "$WORK/rules-$SIZE.txt" >"$WORK/rules"
mkdir -p "${CG[4]}"
nm load entries $((2 * SIZE)) >/dev/null
nm attach cgroup "$TOP" >/dev/null
nm deny add file "$WORK/rules" >/dev/null
for d in 1 2 3 4; do
	nm deny add "10.200.$d.0/24" port 80 cgroup "${CG[$d]}" >/dev/null
done

# ns per connect from the cgroup at depth $1 to target $2, over COUNT connects
one() {
	local id before after
	id=$(bpftool -j prog show pinned "$PIN/progs/connect4" | jq .id)
	before=$(bpftool -j prog show id "$id" | jq -r '[.run_time_ns, .run_cnt] | @tsv')
	nsenter --net="/run/netns/$NS" "$PROBE" --cgroup "${CG[$1]}" --count "$COUNT" \
		connect udp "${ADDR[$2]}" 9 >"$WORK/probe" ||
		{ echo "scope-bench: depth $1 $2: $(cat "$WORK/probe")" >&2; exit 1; }
	after=$(bpftool -j prog show id "$id" | jq -r '[.run_time_ns, .run_cnt] | @tsv')
	awk -v b="$before" -v a="$after" -v n="$COUNT" -v d="$1" 'BEGIN { split(b, x, "\t"); split(a, y, "\t");
		if (y[2] - x[2] != n * (d + 1)) { print "runs " y[2] - x[2] " != " n * (d + 1) > "/dev/stderr"; exit 1 }
		printf "%.1f\n", (y[1] - x[1]) / n }'
}

sysctl -qw kernel.bpf_stats_enabled=1
: >"$WORK/samples"
for ((r = 1; r <= ROUNDS; r++)); do
	for dv in $(for d in "${DEPTHS[@]}"; do echo "$d:far"; echo "$d:in"; done | shuf --random-source=<(yes "$r")); do
		ns=$(one "${dv%%:*}" "${dv#*:}")
		echo "${dv%%:*} ${dv#*:} $ns" >>"$WORK/samples"
	done
done
python3 - "$WORK/samples" "$OUT" "$ROUNDS" "$COUNT" "$SIZE" <<'PY'
import json, statistics, sys
ns = {}
for line in open(sys.argv[1]):
    d, t, x = line.split()
    ns.setdefault(t, {}).setdefault(d, []).append(float(x))
med = {t: {d: statistics.median(x) for d, x in v.items()} for t, v in ns.items()}
print("%-6s %6s %12s %8s %16s" % ("target", "depth", "ns/connect", "/depth0", "extra ns/level"))
for t in ("far", "in"):
    base = med[t]["0"]
    for d in ("0", "1", "2", "4"):
        extra = (med[t][d] - base) / int(d) if d != "0" else 0.0
        print("%-6s %6s %12.1f %8.2f %16.1f" % (t, d, med[t][d], med[t][d] / base, extra))
json.dump({"rounds": int(sys.argv[3]), "count": int(sys.argv[4]), "rules": int(sys.argv[5]),
           "ns_per_connect": med, "samples": ns}, open(sys.argv[2], "w"), indent=1)
PY
