#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Hook cost of port rules: inline in a prefix's entry against a port set
# (layout 4), from the kernel's own statistics (bpf_stats: run_time_ns /
# run_cnt of cgroup/connect4), variants interleaved round by round in one
# run. As root:
#
#   tests/bench/portset-bench.sh [--rounds N] [--count N] [--out FILE]
#
# One store, one address per variant, UDP connects that every rule allows
# (nothing is sent; the hook does the whole lookup and finds no match):
#   nothing   127.0.9.1: no rule on the address (one hash miss)
#   inline7   127.0.9.2: 7 port rules in the entry, none matching
#   set8      127.0.9.3: 8 port rules, so a port set; the port is not in it
#   set10k    127.0.9.4: 10,000 ranges in a set; the port is in a gap
#   set64k    127.0.9.5: 65,535 single ports in a set (UDP); port 65535 left out
# Prints ns per call (median of rounds) and the ratio to `nothing`.
# Touches: /sys/fs/bpf/nmpsb-<pid>, a scratch cgroup under the cgroup2
# mount, kernel.bpf_stats_enabled (restored), a mktemp dir.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SRC=$(cd "$HERE/../.." && pwd)
ROUNDS=7
COUNT=20000
OUT=$SRC/build/portset-bench.json
while [ $# -gt 0 ]; do
	case $1 in
	--rounds) ROUNDS=$2; shift ;;
	--count) COUNT=$2; shift ;;
	--out) OUT=$2; shift ;;
	*) sed -n '3,20p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit 2 ;;
	esac
	shift
done

NM=${NETMONCTL:-$SRC/build/netmonctl}
PROBE=${NMPROBE:-$SRC/build/nmprobe}
PIN=/sys/fs/bpf/nmpsb-$$
CG=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)/nmpsb-$$
WORK=$(mktemp -d)
STATS_WAS=$(sysctl -n kernel.bpf_stats_enabled)

cleanup() {
	sysctl -qw kernel.bpf_stats_enabled="$STATS_WAS"
	"$NM" --pin-dir "$PIN" unload >/dev/null 2>&1 || true
	rmdir "$CG" 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

nm() { "$NM" --pin-dir "$PIN" "$@"; }

mkdir "$CG"
nm load >/dev/null
nm attach cgroup "$CG" >/dev/null
{
	echo "10.255.0.1 port 1" # the store is not empty: the hook looks up
	printf '127.0.9.2 port %d proto udp\n' 1 2 3 4 5 6 7
	printf '127.0.9.3 port %d proto udp\n' 1 2 3 4 5 6 7 8
	for ((i = 0; i < 10000; i++)); do echo "127.0.9.4 port $((5 * i + 1))-$((5 * i + 3))"; done
	seq 0 65534 | sed 's/^/127.0.9.5 port /; s/$/ proto udp/'
} >"$WORK/rules"
nm deny add file "$WORK/rules" >/dev/null
declare -A ADDR=([nothing]=127.0.9.1 [inline7]=127.0.9.2 [set8]=127.0.9.3 [set10k]=127.0.9.4 [set64k]=127.0.9.5)
declare -A PORT=([nothing]=9 [inline7]=9 [set8]=9 [set10k]=9 [set64k]=65535)
VARIANTS=(nothing inline7 set8 set10k set64k)
prog_id=$(bpftool -j prog show pinned "$PIN/progs/connect4" | jq .id)

# ns per call of connect4 over COUNT connects to variant $1
one() {
	local before after
	before=$(bpftool -j prog show id "$prog_id" | jq '[.run_time_ns, .run_cnt] | @tsv' -r)
	"$PROBE" --cgroup "$CG" --count "$COUNT" connect udp "${ADDR[$1]}" "${PORT[$1]}" >"$WORK/probe" ||
		{ echo "portset-bench: $1: $(cat "$WORK/probe")" >&2; exit 1; }
	after=$(bpftool -j prog show id "$prog_id" | jq '[.run_time_ns, .run_cnt] | @tsv' -r)
	awk -v b="$before" -v a="$after" 'BEGIN { split(b, x, "\t"); split(a, y, "\t");
		printf "%.1f\n", (y[1] - x[1]) / (y[2] - x[2]) }'
}

sysctl -qw kernel.bpf_stats_enabled=1
: >"$WORK/samples"
for ((r = 1; r <= ROUNDS; r++)); do
	for v in $(printf '%s\n' "${VARIANTS[@]}" | shuf --random-source=<(yes "$r")); do
		ns=$(one "$v") # set -e: a failed probe ends the run
		echo "$v $ns" >>"$WORK/samples"
	done
done
python3 - "$WORK/samples" "$OUT" "$ROUNDS" "$COUNT" <<'EOF'
import json, statistics, sys
med = {}
for line in open(sys.argv[1]):
    v, ns = line.split()
    med.setdefault(v, []).append(float(ns))
med = {v: statistics.median(x) for v, x in med.items()}
base = med["nothing"]
print("%-8s %9s %7s" % ("variant", "ns/call", "ratio"))
for v in ("nothing", "inline7", "set8", "set10k", "set64k"):
    print("%-8s %9.1f %7.2f" % (v, med[v], med[v] / base))
json.dump({"rounds": int(sys.argv[3]), "count": int(sys.argv[4]), "ns_per_call": med},
          open(sys.argv[2], "w"), indent=1)
EOF
